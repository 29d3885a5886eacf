package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
)

// CheckScript is the id of the check that replays the ceremony engine over
// the log.
const CheckScript = "ceremony.script"

// Options say what a ceremony log is held to.
type Options struct {
	transparency.VerifyOptions
	// RequireCosigners, when above 0, fails a log whose final checkpoint
	// does not carry that many cosignatures that count: valid, by officers
	// the close names present, whose cards are not revoked.
	RequireCosigners int
	// Roster, when set, is the officers' roster pinned from outside the log
	// (published before the ceremony, or carried from the previous one),
	// named RosterName in messages. The roster the log's script holds must
	// be the same, card by card, and the officers' cosignatures are checked
	// against it. Without it, the roster is the log's own, which whoever
	// holds the log key could have replaced.
	Roster     *quorum.Roster
	RosterName string
	// Open accepts a log whose ceremony is not closed (a log in progress,
	// or one stopped before its close). Without it such a log fails.
	Open bool
	// Now is the verification time, which no cosignature may postdate;
	// zero means time.Now().
	Now time.Time
	// Filmed are checkpoints seen on a recording of the ceremony's screen
	// (package camera reads them): the log must be consistent with each,
	// and the report names each by where it was seen, with the officers
	// whose cosignatures it carries.
	Filmed []FilmedNote
}

// Ids of the checks this package adds to the log verifier's.
const (
	// CheckRoster compares the log's roster with the pinned one.
	CheckRoster = "roster"
)

// Verify checks a published ceremony log, read from fsys (the log's
// folder or a copy of it). First the log itself, as transparency.Verify
// does: the checkpoint's signature, the tiles, the root, the hash chain,
// the artefacts, and the consistency with every checkpoint given. Then,
// unless opts.Raw, that the log follows the script its opening entry
// cites, replayed through the ceremony engine, and that the officers'
// cosignatures of its checkpoints verify against the roster. When the log
// is not consistent with a checkpoint the officers cosigned, the report
// names them: the log key can re-sign a rewritten history, their
// signatures it cannot.
//
// Every check is in the report, and Report.OK is the verdict. The error is
// for a folder that cannot be read at all.
func Verify(fsys fs.FS, opts Options) (*transparency.Report, error) {
	rep, err := transparency.Verify(fsys, withFilmed(opts))
	if err != nil {
		return nil, err
	}
	var outcome *CosignOutcome
	switch {
	case opts.Raw:
	case rep.OK:
		outcome = checkScript(fsys, rep, opts)
		checkPrevious(fsys, rep)
		checkBackup(fsys, rep)
		if !rep.Closed && !opts.Open {
			for i := range rep.Checks {
				if c := &rep.Checks[i]; c.ID == transparency.CheckClosed {
					c.OK, c.Warn = false, false
					c.Detail += "; a log that is not closed is not verified (give --open to check a log in progress)"
					rep.OK = false
				}
			}
		}
	default:
		rewrittenAfterCosigned(fsys, rep, opts)
	}
	checkFilmed(fsys, rep, opts)
	restsOn(rep, opts, outcome)
	return rep, nil
}

// Ceremony is what a verified log says of its ceremony: the script its
// opening entry cites, its entries, and their replay through the engine.
type Ceremony struct {
	Script  *ceremony.Script
	Entries []*event.Entry
	State   ceremony.State
}

// ReadCeremony reads the ceremony of a log that verified (rep is its
// report): the script entry 0 cites, read only as an artefact the
// verifier checked, and every entry, replayed. ErrNoScript: the log cites
// no script. A log that does not follow its script is an error wrapping
// ceremony.ErrOutOfScript; Ceremony.State is then the state up to it.
func ReadCeremony(fsys fs.FS, rep *transparency.Report) (*Ceremony, error) {
	entries := rep.Events
	if len(entries) != len(rep.RawEntries) {
		entries = nil
		for _, b := range rep.RawEntries {
			e, err := event.ParseCanonical(b)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, ErrNoScript
	}
	script, err := ceremony.ScriptOfLog(entries[0], func(sha string) ([]byte, error) {
		return readBounded(fsys, "artefacts/sha256/"+sha, maxArtefact)
	})
	if err != nil {
		return nil, err
	}
	c := &Ceremony{Script: script, Entries: entries}
	c.State, err = ceremony.Replay(script, entries)
	return c, err
}

// ErrNoScript: the log's opening entry cites no ceremony script; a log of
// another kind, checked as a log only.
var ErrNoScript = ceremony.ErrNoScript

// Bounds on what is read from a folder besides the tiles, which the log
// verifier bounds: a script or roster, an archived checkpoint.
const (
	maxArtefact   = 1 << 20
	maxCheckpoint = 64 << 10
)

// readBounded reads a file of at most max bytes from fsys.
func readBounded(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// checkScript replays the ceremony engine over a verified log, with the
// script that its opening entry cites, and adds the result to the report: a
// log can be whole and signed and still not follow its script.
func checkScript(fsys fs.FS, rep *transparency.Report, opts Options) *CosignOutcome {
	add := func(ok bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckScript, OK: ok, Detail: fmt.Sprintf(format, args...)})
		rep.OK = rep.OK && ok
	}
	if len(rep.RawEntries) == 0 {
		return nil
	}
	c, err := ReadCeremony(fsys, rep)
	switch {
	case errors.Is(err, ErrNoScript):
		add(true, "the log cites no ceremony script; nothing to replay")
		if opts.Roster != nil {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckRoster, Detail: fmt.Sprintf("a roster is pinned (%s), but the log cites no ceremony script holding one", opts.RosterName)})
			rep.OK = false
		}
		return nil
	case err != nil:
		add(false, "%v", err)
		return nil
	}
	script, st := c.Script, c.State
	state := "in progress"
	if st.Closed {
		state = "closed"
	}
	if st.Aborted != nil {
		state = fmt.Sprintf("aborted at step %s (%s), %s", st.Aborted.Step, st.Aborted.Reason, state)
	}
	done := len(st.DoneAt) - len(st.Skipped)
	skipped := ""
	if len(st.Skipped) > 0 {
		skipped = fmt.Sprintf(" (%d more passed over)", len(st.Skipped))
	}
	add(true, "the log follows %s (SHA-256 %s): %d of %d steps done%s, %s, %s, %s, ceremony %s",
		script.Name, script.Digest, done, len(script.Steps()), skipped, words.Count(len(st.Exceptions), "exception", "exceptions"),
		words.Count(st.Stops, "stop", "stops"), words.Count(st.Resumes, "resume", "resumes"), state)
	roster := script.Quorum
	if opts.Roster != nil {
		if diffs := RosterDiff(opts.Roster, script.Quorum); len(diffs) > 0 {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckRoster, Detail: fmt.Sprintf(
				"the log's roster is not the pinned one (%s): %s", opts.RosterName, strings.Join(diffs, "; "))})
			rep.OK = false
		} else {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckRoster, OK: true, Detail: fmt.Sprintf(
				"the log's roster is the pinned one (%s): %s, threshold %d", opts.RosterName, words.Count(len(roster.Cards), "card", "cards"), roster.Threshold)})
		}
		roster = opts.Roster
	}
	cps, err := archivedCheckpoints(fsys)
	if err != nil {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckCosignatures, Detail: err.Error()})
		rep.OK = false
		return nil
	}
	policy := CosignPolicy{Require: opts.RequireCosigners, Roster: opts.Roster, Now: opts.Now}
	if rep.Checkpoint != nil {
		policy.Published = rep.Checkpoint.Note
	}
	findings, outcome := VerifyCosignatures(st, c.Entries, cps, policy)
	for _, f := range findings {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckCosignatures, OK: f.OK, Warn: f.Warn, Detail: f.Detail})
		rep.OK = rep.OK && f.OK
	}
	// The published checkpoint's officer lines are held to the same.
	if rep.Checkpoint != nil {
		bodies := map[uint64][]byte{}
		for size, cp := range cps {
			bodies[size] = NoteBody(cp)
		}
		for _, r := range ReadCosignatures(roster, rep.Checkpoint.Note, rep.Checkpoint.Size, bodies).Rejected {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckCosignatures, Detail: "the published checkpoint: " + r.String()})
			rep.OK = false
		}
	}
	return &outcome
}

// archivedCheckpoints reads checkpoints/<size>, which the log verifier has
// checked are the log's, by size.
func archivedCheckpoints(fsys fs.FS) (map[uint64][]byte, error) {
	out := map[uint64][]byte{}
	ents, err := fs.ReadDir(fsys, "checkpoints")
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		size, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		b, err := readBounded(fsys, "checkpoints/"+e.Name(), maxCheckpoint)
		if err != nil {
			return nil, fmt.Errorf("checkpoints/%s: %v", e.Name(), err)
		}
		out[size] = b
	}
	return out, nil
}

// rewrittenAfterCosigned names, when a log fails against a checkpoint given
// with the options, the officers who cosigned that checkpoint: the log a
// laptop key can re-sign, their cosignatures it cannot, so a history
// rewritten after they signed is caught by what they signed.
func rewrittenAfterCosigned(fsys fs.FS, rep *transparency.Report, opts Options) {
	given := opts.Checkpoints
	f := rep.FirstFailure()
	if f == nil || f.ID != transparency.CheckConsistency || len(given) == 0 {
		return
	}
	c, err := ReadCeremony(fsys, rep)
	if c == nil || (err != nil && !errors.Is(err, ceremony.ErrOutOfScript)) {
		return
	}
	for _, g := range given {
		if !strings.HasPrefix(f.Detail, g.Name+":") {
			continue
		}
		_, size, _, err := transparency.ParseCheckpointBody(string(NoteBody(g.Data)))
		if err != nil {
			continue
		}
		roster := c.Script.Quorum
		if opts.Roster != nil {
			roster = opts.Roster
		}
		cc := ReadCosignatures(roster, g.Data, size, nil)
		if len(cc.Valid) == 0 {
			continue
		}
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckCosignatures, Detail: fmt.Sprintf(
			"%s: checkpoint %d is cosigned by the officers %s, and this log is not consistent with it: its history was rewritten after they signed",
			g.Name, size, strings.Join(cc.Valid, ", "))})
	}
}

// Mirror fetches a ceremony log published at url into dir, within a
// viewer's bounds, for Verify to check as any folder: the latest
// checkpoint and the entries, verified as watch verifies them (vkey
// pinned, or the log's own), the files for its size, the artefacts its
// entries cite, and the archived checkpoints (with their anchors) that its
// entries name: each one the officers cosigned, and the final one. A check
// that fails is a *transparency.Alarm.
func Mirror(ctx context.Context, url, vkey, origin, dir string) error {
	src, err := transparency.NewHTTPSource(url)
	if err != nil {
		return err
	}
	f, err := transparency.NewFollower(ctx, src, vkey, origin)
	if err != nil {
		return err
	}
	if _, err := f.Poll(ctx); err != nil {
		return err
	}
	if f.Checkpoint() == nil {
		return errors.New("the log serves no checkpoint")
	}
	sizes := map[uint64]bool{f.Checkpoint().Size: true}
	for _, raw := range f.Entries() {
		e, err := event.Parse(raw)
		if err != nil {
			continue // the verifier names it
		}
		switch ev := e.Event.(type) {
		case event.Cosigned:
			sizes[ev.Size] = true
		case event.Close:
			sizes[e.Seq+1] = true
		}
	}
	var more []string
	for size := range sizes {
		n := strconv.FormatUint(size, 10)
		more = append(more, "checkpoints/"+n, "anchors/"+n+".json")
	}
	sort.Strings(more)
	return transparency.Mirror(ctx, f, dir, more)
}
