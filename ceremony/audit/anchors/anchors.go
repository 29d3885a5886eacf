// Package anchors checks, and chooses, a ceremony log's anchors in
// Sigstore's Rekor: the auditor's side of anchoring (package
// transparency/anchor makes and checks one anchor). It is apart from
// ceremony/audit so that the verifier's default path links no Rekor.
package anchors

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/anchor"
)

// Sizes are the archived checkpoints to anchor: the first that covers
// the opening entry, the first that covers the last entry of each act, and
// the latest.
func Sizes(fsys fs.FS, rep *transparency.Report) ([]uint64, error) {
	ents, err := fs.ReadDir(fsys, "checkpoints")
	if err != nil {
		return nil, err
	}
	var archived []uint64
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			archived = append(archived, n)
		}
	}
	sort.Slice(archived, func(i, j int) bool { return archived[i] < archived[j] })
	if len(archived) == 0 {
		return nil, ErrNoCheckpoint
	}
	covering := func(n uint64) uint64 {
		for _, a := range archived {
			if a >= n {
				return a
			}
		}
		return archived[len(archived)-1]
	}
	want := map[uint64]bool{covering(1): true, archived[len(archived)-1]: true}
	if c, err := audit.ReadCeremony(fsys, rep); c != nil && (err == nil || errors.Is(err, ceremony.ErrOutOfScript)) {
		script, entries := c.Script, c.Entries
		actOf := map[string]int{}
		steps := script.Steps()
		for _, st := range steps {
			actOf[st.ID] = st.Act
		}
		for i, e := range entries {
			if e.Kind() != event.KindStepDone {
				continue
			}
			id := event.StepOf(e.Event)
			for j, st := range steps {
				if st.ID == id && (j == len(steps)-1 || steps[j+1].Act != actOf[id]) {
					want[covering(uint64(i)+1)] = true // the act ends with this entry
				}
			}
		}
	}
	var out []uint64
	for n := range want {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Bounds on when Rekor may have integrated an anchor: not before the last
// entry its checkpoint covers (with Skew for the laptop's clock),
// and within Window of the log's last entry: a log is anchored from
// the publishing host in the days after its ceremony, and a history
// rewritten and anchored later falls outside.
const (
	Skew   = 5 * time.Minute
	Window = 7 * 24 * time.Hour
)

// Announced is the anchoring key the log's opening entry
// announces, empty if none.
func Announced(rep *transparency.Report) string {
	if len(rep.Events) > 0 {
		if open, ok := rep.Events[0].Event.(event.Open); ok {
			return open.AnchorKey
		}
	}
	return ""
}

// Check checks every anchor in the log's folder (fsys) against Rekor's
// public key (PEM; nil when none is given): that
// it anchors the checkpoint as the log signed it, by the anchoring key the
// opening entry announces (or pinnedKey, the SHA-256 of the key given), and
// that Rekor integrated it within the bounds above. Each result is a check
// of the report (id "anchor"), and what the verdict rests on. The error is
// the first failure.
func Check(ctx context.Context, fsys fs.FS, rep *transparency.Report, rekorKey []byte, pinnedKey string) error {
	add := func(ok, warn bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: "anchor", OK: ok, Warn: warn, Detail: fmt.Sprintf(format, args...)})
		rep.OK = rep.OK && ok
	}
	fail := func(format string, args ...any) error {
		add(false, false, format, args...)
		return fmt.Errorf("anchors: "+format, args...)
	}
	want := Announced(rep)
	if pinnedKey != "" {
		if want != "" && want != pinnedKey {
			return fail("the log's opening entry announces anchoring key %s, but the key given is %s", want, pinnedKey)
		}
		want = pinnedKey
	}
	if len(rep.Anchors) == 0 {
		switch {
		case rekorKey != nil:
			return fail("Rekor's key given, but the log holds no anchor")
		case want != "":
			add(true, true, "the log's anchoring key is %s, but anchors/ holds no anchor: anchor it (anchor rekor), or ask where its anchors went", want)
		}
		return nil
	}
	if rekorKey == nil {
		add(true, true, "%d checkpoints anchored in Rekor, not checked: give --rekor-key (Rekor's public key)", len(rep.Anchors))
		return nil
	}
	rk, err := anchor.ParsePublicKey(rekorKey)
	if err != nil {
		return fail("Rekor's key: %v", err)
	}
	if len(rep.Entries) == 0 {
		return fail("the log has no entries to anchor")
	}
	last := rep.Entries[len(rep.Entries)-1].Time
	var latest time.Time
	for _, p := range rep.Anchors {
		raw, err := readBounded(fsys, p)
		if err != nil {
			return fail("%s: %v", p, err)
		}
		var a anchor.Anchor
		if err := json.Unmarshal(raw, &a); err != nil {
			return fail("%s: %v", p, err)
		}
		if want := strings.TrimSuffix(path.Base(p), ".json"); strconv.FormatUint(a.Size, 10) != want {
			return fail("%s: names checkpoint %d", p, a.Size)
		}
		if a.Size == 0 || a.Size > uint64(len(rep.Entries)) {
			return fail("%s: checkpoint %d is not one of this log's (%d entries)", p, a.Size, len(rep.Entries))
		}
		cp, err := readBounded(fsys, "checkpoints/"+strconv.FormatUint(a.Size, 10))
		if err != nil {
			return fail("%s: checkpoint %d is not archived", p, a.Size)
		}
		signed, err := transparency.LogSigned(cp, rep.VKey)
		if err != nil {
			return fail("%s: checkpoint %d: %v", p, a.Size, err)
		}
		c, err := anchor.Check(ctx, &a, signed, rk)
		if err != nil {
			return fail("%s: %v", p, err)
		}
		if want != "" && c.KeySHA256 != want {
			return fail("%s: anchored by key %s, not the anchoring key %s that the log announces or was given: anyone can anchor a log", p, c.KeySHA256, want)
		}
		covered := rep.Entries[a.Size-1].Time
		switch {
		case c.Integrated.Before(covered.Add(-Skew)):
			return fail("%s: Rekor integrated checkpoint %d at %s, before entry %d it covers was written (%s)", p, a.Size,
				c.Integrated.Format(time.RFC3339), a.Size-1, covered.UTC().Format(time.RFC3339))
		case c.Integrated.After(last.Add(Window)):
			return fail("%s: Rekor integrated checkpoint %d at %s, more than %s after the log's last entry (%s): a log is anchored in the days after its ceremony, and this anchor is not evidence of it",
				p, a.Size, c.Integrated.Format(time.RFC3339), "7 days", last.UTC().Format(time.RFC3339))
		}
		if c.Integrated.After(latest) {
			latest = c.Integrated
		}
		add(true, false, "checkpoint %d is in Rekor (log index %d, entry %.16s…), integrated %s: signed entry timestamp and inclusion proof verified", a.Size, c.LogIndex, a.UUID, c.Integrated.Format(time.RFC3339))
	}
	key := "by a key the log does not announce (anyone can anchor a log)"
	if want != "" {
		key = "by the announced anchoring key"
	}
	rep.SetBasis(transparency.Basis{Part: audit.BasisAnchors, Outside: true,
		Detail: fmt.Sprintf("%d checkpoints anchored in Rekor %s, checked with Rekor's key; the last integrated %s, %s after the log's last entry",
			len(rep.Anchors), key, latest.Format(time.RFC3339), latest.Sub(last).Round(time.Minute))})
	return nil
}

// readBounded reads a small file of the log folder: an anchor or an
// archived checkpoint.
func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err == nil && len(b) > 1<<20 {
		err = errors.New("larger than 1 MiB")
	}
	return b, err
}

// Anchored is one checkpoint Anchor has dealt with.
type Anchored struct {
	Size    uint64
	Already bool   // anchored before: its file was there
	UUID    string // Rekor's entry, when anchored now
	File    string // anchors/<size>.json in the log's folder
}

// ErrNoCheckpoint: the log's folder holds no archived checkpoint to
// anchor.
var ErrNoCheckpoint = errors.New("the log holds no archived checkpoint")

// ErrBadCheckpoint: an archived checkpoint is not one the log signed once.
var ErrBadCheckpoint = errors.New("not a checkpoint as the log signed it")

// KeyAnnounced checks that key is the anchoring key the log's opening
// entry announces, if it announces one.
func KeyAnnounced(rep *transparency.Report, key *ecdsa.PrivateKey) error {
	announced := Announced(rep)
	if announced == "" {
		return nil
	}
	have, err := anchor.KeySHA256(&key.PublicKey)
	if err != nil {
		return err
	}
	if have != announced {
		return fmt.Errorf("the key given is key %s, but the log's opening entry announces the anchoring key %s: anchor with that key", have, announced)
	}
	return nil
}

// Anchor anchors in the Rekor v1 server at url, with key, every checkpoint
// Sizes chooses of the verified log in dir (rep is its report): each as
// the log signed it (the archived file gains cosignatures), written as
// anchors/<size>.json as soon as Rekor answers. A checkpoint anchored
// before is left as it is. A failure leaves the anchors written so far:
// running again goes on. done is told of each checkpoint.
func Anchor(ctx context.Context, dir string, rep *transparency.Report, url string, key *ecdsa.PrivateKey, done func(Anchored)) error {
	sizes, err := Sizes(os.DirFS(dir), rep)
	if err != nil {
		return err
	}
	for _, size := range sizes {
		out := filepath.Join(dir, "anchors", fmt.Sprintf("%d.json", size))
		if _, err := os.Stat(out); err == nil {
			done(Anchored{Size: size, Already: true, File: out})
			continue
		}
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoints", strconv.FormatUint(size, 10)))
		if err != nil {
			return err
		}
		signed, err := transparency.LogSigned(cp, rep.VKey)
		if err != nil {
			return fmt.Errorf("checkpoints/%d: %w: %v", size, ErrBadCheckpoint, err)
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		a, err := anchor.Submit(actx, url, size, signed, key)
		cancel()
		if err != nil {
			return fmt.Errorf("checkpoint %d: %w; the anchors written so far stay, run again to go on", size, err)
		}
		b, _ := json.MarshalIndent(a, "", "  ")
		if err := durable.WriteFile(out, append(b, '\n'), 0o644, durable.New); err != nil {
			return err
		}
		done(Anchored{Size: size, UUID: a.UUID, File: out})
	}
	return nil
}
