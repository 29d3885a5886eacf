package cli

import (
	"errors"
	iofs "io/fs"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/audit/anchors"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/internal/words"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/camera"
)

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "usage: keyceremony verify DIR|URL [--json] [--key VKEY] [--roster FILE] [--origin O] [--checkpoint FILE]... [--checkpoints-from DIR]... [--require-cosigners N] [--witness-policy FILE] [--rekor-key FILE] [--anchor-key FILE] [--open] [--raw]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	key := fs.String("key", "", "the log's verifier key (vkey text, or a file holding it); default: the folder's log.vkey")
	origin := fs.String("origin", "", "the expected origin line; default: the key's name")
	raw := fs.Bool("raw", false, "check only the Merkle and checkpoint layer (any tlog-tiles log)")
	witnessPolicy := fs.String("witness-policy", "", "a C2SP tlog-policy file whose quorum of witnesses must have cosigned the latest checkpoint")
	rekorKey := fs.String("rekor-key", "", "Rekor's public key (PEM): check every anchor in anchors/ offline")
	anchorKey := fs.String("anchor-key", "", "the anchoring key (PEM, public or private) the log's anchors must be made with; default: the one the opening entry announces")
	requireCosigners := fs.Int("require-cosigners", 0, "fail unless the final checkpoint carries at least N cosignatures that count: valid, by officers the close names present, cards not revoked")
	rosterPath := fs.String("roster", "", "the officers' roster pinned from outside the log: a roster file (quorum: block) or a script holding one, published before the ceremony; the log's roster must be the same")
	history := fs.Bool("history", false, "the folders given are one KSK's ceremonies, oldest first: each verified, each citing the one before it (its final checkpoint and SKR), the officers' roster pinned by the first (or --roster) and changed only by a ceremony that reshares")
	open := fs.Bool("open", false, "accept a log whose ceremony is not closed (in progress, or stopped); without it such a log is not verified")
	var cps stringList
	fs.Var(&cps, "checkpoint", "a signed checkpoint seen elsewhere, which must be consistent with the log (repeatable)")
	var filmed stringList
	fs.Var(&filmed, "checkpoints-from", "a folder of checkpoints read from a recording of the stream (checkpoints from-video): the log must be consistent with each; the report names each by its time in the recording (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *history {
		if len(pos) == 0 {
			return usageErr("verify --history: give the ceremonies' log folders, oldest first")
		}
		return verifyHistory(pos, *rosterPath, *asJSON, stdout)
	}
	if err := requireArgs("verify", pos, "log folder"); err != nil {
		return err
	}
	dir := pos[0]
	label := dir
	isURL := strings.HasPrefix(dir, "http://") || strings.HasPrefix(dir, "https://")
	if !isURL {
		if err := logFolderArg("verify", dir); err != nil {
			return err
		}
	}
	if *requireCosigners < 0 {
		return usageErr("verify: --require-cosigners %d: give a number of officers from 1", *requireCosigners)
	}
	if *raw && (*requireCosigners > 0 || *rosterPath != "") {
		return usageErr("verify: --raw checks only the Merkle layer; the officers' cosignatures and roster need the ceremony's script (drop --raw)")
	}
	aopts := audit.Options{RequireCosigners: *requireCosigners, Open: *open}
	if *rosterPath != "" {
		r, err := rosterArg(*rosterPath)
		if err != nil {
			return usageErr("verify: --roster %s: %v", *rosterPath, err)
		}
		aopts.Roster, aopts.RosterName = r, *rosterPath
	}
	opts := transparency.VerifyOptions{Origin: *origin, Raw: *raw}
	if opts.VKey, err = vkeyArg("verify", *key); err != nil {
		return err
	}
	if opts.Witnesses, err = witnessPolicyArg("verify", *witnessPolicy); err != nil {
		return err
	}
	for _, f := range cps {
		b, err := readInput(f)
		if err != nil {
			return usageErr("verify: --checkpoint %s: %v", f, err)
		}
		opts.Checkpoints = append(opts.Checkpoints, transparency.NamedCheckpoint{Name: f, Data: b})
	}
	for _, d := range filmed {
		recording, notes, err := camera.ReadDir(d)
		if err != nil {
			return usageErr("verify: --checkpoints-from %s: %v", safetext.Printable(d), err)
		}
		if recording == "" {
			recording = d
		}
		for _, n := range notes {
			aopts.Filmed = append(aopts.Filmed, audit.FilmedNote{Where: recording + " at " + camera.Clock(n.At), Note: n.Note})
		}
	}
	aopts.VerifyOptions = opts
	if isURL {
		// The published log is fetched, within the viewer's bounds, into
		// a private folder of its own, and that folder checked as any.
		tmp, err := os.MkdirTemp("", "keyceremony-verify-")
		if err != nil {
			return operational(err)
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "log")
		if err := audit.Mirror(ctx, label, opts.VKey, opts.Origin, dir); err != nil {
			var alarm *transparency.Alarm
			if errors.As(err, &alarm) {
				return badInput(fmt.Errorf("verify %s: %v", label, err))
			}
			return operational(fmt.Errorf("verify %s: %v", label, err))
		}
	}
	pinnedAnchor := ""
	if *anchorKey != "" {
		if pinnedAnchor, err = anchorKeyArg(*anchorKey); err != nil {
			return usageErr("verify: --anchor-key %s: %v", *anchorKey, err)
		}
	}
	rep, err := audit.Verify(os.DirFS(dir), aopts)
	if err != nil {
		return operational(fmt.Errorf("verify %s: %w", label, err))
	}
	// The anchors are checked once the log verified; their checks join
	// the report's, and the verdict is printed after them all.
	var failed error
	if f := rep.FirstFailure(); f != nil {
		failed = fmt.Errorf("%s: %s", f.ID, safetext.Printable(f.Detail))
	} else if err := checkAnchorsArg(ctx, dir, rep, *rekorKey, pinnedAnchor); err != nil {
		failed = err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return operational(err)
		}
	} else {
		printReport(stdout, label, rep)
	}
	if failed != nil {
		return badInput(fmt.Errorf("verify %s: %v", safetext.Printable(label), failed))
	}
	return nil
}

// rosterArg reads a pinned roster: a roster file, or a ceremony script
// that holds one (inline, or naming a roster file beside it).
func rosterArg(path string) (*quorum.Roster, error) {
	b, err := readInput(path)
	if err != nil {
		// A built-in script's name: its roster.
		if s, serr := loadScript(path); serr == nil && s.Quorum != nil {
			return s.Quorum, nil
		}
		return nil, err
	}
	if len(b) > ceremony.MaxScriptSize {
		return nil, fmt.Errorf("%d bytes, more than %d; a roster is a few KB", len(b), ceremony.MaxScriptSize)
	}
	r, rerr := quorum.ParseRosterFile(b)
	if rerr != nil {
		s, serr := loadScript(path)
		if serr != nil || s.Quorum == nil {
			return nil, fmt.Errorf("neither a roster file nor a script with a roster: %v", rerr)
		}
		r = s.Quorum
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("not a valid roster: %v", err)
	}
	return r, nil
}

// printReport prints a report: every check, what the verdict rests on,
// and the verdict last. Everything read from the folder is shown escaped.
func printReport(w io.Writer, dir string, rep *transparency.Report) {
	fmt.Fprintf(w, "Log folder   %s\n", safetext.Printable(dir))
	if rep.VKey != "" {
		fmt.Fprintf(w, "Log key      %s\n", safetext.Printable(rep.VKey))
		fmt.Fprintf(w, "Fingerprint  %s  (compare with the one announced)\n", dnssec.GroupHex(rep.KeyFingerprint))
	}
	if rep.Origin != "" {
		fmt.Fprintf(w, "Origin       %s\n", safetext.Printable(rep.Origin))
	}
	if rep.Rehearsal {
		fmt.Fprintln(w, "             REHEARSAL log: not a record of a real ceremony")
	}
	fmt.Fprintln(w)
	for _, c := range rep.Checks {
		mark := "[ OK ]"
		switch {
		case !c.OK:
			mark = "[FAIL]"
		case c.Warn:
			mark = "[WARN]"
		}
		fmt.Fprintf(w, "%s %-21s %s\n", mark, c.ID, safetext.Printable(c.Detail))
	}
	if len(rep.RestsOn) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "The verdict rests on")
		for _, b := range rep.RestsOn {
			mark := "       "
			if b.Outside {
				mark = "[OUTSIDE]"
			}
			fmt.Fprintf(w, "  %-9s %-15s %s\n", mark, b.Part, safetext.Printable(b.Detail))
		}
	}
	fmt.Fprintln(w)
	switch {
	case !rep.OK:
		fmt.Fprintln(w, "NOT VERIFIED")
	case rep.KeyAlone():
		fmt.Fprintf(w, "VERIFIED on the log key alone: %s, root %s\n", words.Counts(rep.Size, "entry", "entries"), dnssec.GroupHex(fmt.Sprintf("%x", rep.Root)))
		fmt.Fprintln(w, "Nothing outside the log vouches for it: anyone holding the log key could have written this log.")
	default:
		fmt.Fprintf(w, "VERIFIED: %s, root %s\n", words.Counts(rep.Size, "entry", "entries"), dnssec.GroupHex(fmt.Sprintf("%x", rep.Root)))
	}
}

// vkeyArg is a --key flag: a note verifier key, or a file that holds one.
func vkeyArg(cmd, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	if b, err := readInput(key); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !strings.Contains(key, "+") {
		return "", usageErr("%s: --key %s: neither a vkey nor a readable file", cmd, key)
	}
	return key, nil
}

// witnessPolicyArg is a --witness-policy flag: a tlog-policy file, or none.
func witnessPolicyArg(cmd, path string) (*transparency.WitnessPolicy, error) {
	if path == "" {
		return nil, nil
	}
	b, err := readInput(path)
	if err != nil {
		return nil, usageErr("%s: --witness-policy: %v", cmd, err)
	}
	p, err := transparency.ParseWitnessPolicy(b)
	if err != nil {
		return nil, usageErr("%s: --witness-policy %s: %v", cmd, path, err)
	}
	return p, nil
}

// verifyHistory verifies several ceremonies' log folders, oldest first, as
// one KSK's chain (audit.VerifyHistory) and prints each ceremony's verdict,
// the links between them, and the chain's.
func verifyHistory(dirs []string, rosterPath string, asJSON bool, stdout io.Writer) error {
	var opts audit.Options
	if rosterPath != "" {
		r, err := rosterArg(rosterPath)
		if err != nil {
			return usageErr("verify: --roster %s: %v", rosterPath, err)
		}
		opts.Roster, opts.RosterName = r, rosterPath
	}
	var logs []iofs.FS
	for _, d := range dirs {
		if err := logFolderArg("verify", d); err != nil {
			return err
		}
		logs = append(logs, os.DirFS(d))
	}
	h, err := audit.VerifyHistory(logs, dirs, opts)
	if err != nil {
		return operational(fmt.Errorf("verify --history: %w", err))
	}
	if asJSON {
		type one struct {
			Folder string `json:"folder"`
			OK     bool   `json:"ok"`
			Origin string `json:"origin"`
			Size   uint64 `json:"size"`
		}
		var out struct {
			OK         bool                 `json:"ok"`
			Ceremonies []one                `json:"ceremonies"`
			Links      []transparency.Check `json:"links"`
			Bags       []audit.BagChain     `json:"bags,omitempty"`
		}
		out.OK, out.Links, out.Bags = h.OK, h.Links, h.Bags
		for i, r := range h.Reports {
			out.Ceremonies = append(out.Ceremonies, one{Folder: dirs[i], OK: r.OK, Origin: r.Origin, Size: r.Size})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		w := safetext.Lines(stdout) // origins and details come from the logs
		for i, r := range h.Reports {
			if r.OK {
				fmt.Fprintf(w, "[ OK ] %s: verified, %d entries, origin %s\n", dirs[i], r.Size, r.Origin)
			} else {
				f := r.FirstFailure()
				fmt.Fprintf(w, "[FAIL] %s: %s: %s\n", dirs[i], f.ID, f.Detail)
			}
		}
		for _, c := range h.Links {
			mark := "[ OK ]"
			if !c.OK {
				mark = "[FAIL]"
			}
			fmt.Fprintf(w, "%s %-17s %s\n", mark, c.ID, c.Detail)
		}
		if len(h.Bags) > 0 {
			fmt.Fprintf(w, "\nCustody, item by item:\n")
			for _, ch := range h.Bags {
				var links []string
				for _, l := range ch.Links {
					links = append(links, fmt.Sprintf("%s %s (%s step %s)", l.What, l.Bag, l.Log, l.Step))
				}
				fmt.Fprintf(w, "  %s: %s\n", ch.Item, strings.Join(links, " → "))
			}
		}
		if h.OK {
			fmt.Fprintf(w, "\nHISTORY VERIFIED: %d ceremonies, each following the one before it\n", len(dirs))
		} else {
			fmt.Fprintf(w, "\nHISTORY NOT VERIFIED\n")
		}
	}
	if !h.OK {
		for i, r := range h.Reports {
			if !r.OK {
				f := r.FirstFailure()
				return badInput(fmt.Errorf("verify --history: %s: %s: %s", dirs[i], f.ID, f.Detail))
			}
		}
		for _, c := range h.Links {
			if !c.OK {
				return badInput(fmt.Errorf("verify --history: %s: %s", c.ID, c.Detail))
			}
		}
	}
	return nil
}

// checkAnchorsArg checks the log's Rekor anchors (anchors.Check), with
// Rekor's key read from --rekor-key when given.
func checkAnchorsArg(ctx context.Context, dir string, rep *transparency.Report, rekorKeyPath, pinned string) error {
	var key []byte
	if rekorKeyPath != "" {
		var err error
		if key, err = readInput(rekorKeyPath); err != nil {
			rep.Checks = append(rep.Checks, transparency.Check{ID: "anchor", Detail: fmt.Sprintf("--rekor-key %s: %v", rekorKeyPath, err)})
			rep.OK = false
			return fmt.Errorf("anchors: --rekor-key %s: %v", rekorKeyPath, err)
		}
	}
	return anchors.Check(ctx, os.DirFS(dir), rep, key, pinned)
}
