package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/anchor"
)

// runAnchorRekor anchors a verified log's checkpoints in Rekor: the
// opening, each act boundary and the final one, each an anchors/<size>.json.
func runAnchorRekor(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("anchor rekor", "usage: keyceremony anchor rekor DIR --url URL --key FILE", stderr)
	url := fs.String("url", "", "the Rekor v1 server (required)")
	keyPath := fs.String("key", "", "the ECDSA P-256 anchoring key (PEM); made there when it does not exist (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("anchor rekor", pos, "log folder", req{"--url", *url}, req{"--key", *keyPath}); err != nil {
		return err
	}
	dir := pos[0]
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil {
		return operational(fmt.Errorf("anchor rekor: %w", err))
	}
	if f := rep.FirstFailure(); f != nil {
		return badInput(fmt.Errorf("anchor rekor: %s does not verify (%s: %s); nothing was anchored", dir, f.ID, f.Detail))
	}
	sizes, err := anchorSizes(dir, rep)
	if err != nil {
		return badInput(fmt.Errorf("anchor rekor: %w", err))
	}
	key, created, err := anchor.LoadOrCreateKey(*keyPath, os.ReadFile, func(p string, b []byte) error {
		return durable.WriteFile(p, b, 0o600, durable.New)
	})
	if err != nil {
		return usageErr("anchor rekor: --key %s: %v", *keyPath, err)
	}
	if created {
		fmt.Fprintf(stdout, "new anchoring key %s (keep it; its public key is in every anchor)\n", *keyPath)
	}
	if announced := announcedAnchorKey(rep); announced != "" {
		if have, _ := anchor.KeySHA256(&key.PublicKey); have != announced {
			return usageErr("anchor rekor: --key %s is key %s, but the log's opening entry announces the anchoring key %s: anchor with that key", *keyPath, have, announced)
		}
	}
	for _, size := range sizes {
		out := filepath.Join(dir, "anchors", fmt.Sprintf("%d.json", size))
		if _, err := os.Stat(out); err == nil {
			fmt.Fprintf(stdout, "checkpoint %d: anchored already (%s)\n", size, out)
			continue
		}
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoints", strconv.FormatUint(size, 10)))
		if err != nil {
			return operational(err)
		}
		// What the log signed, not the file that gains cosignatures.
		signed, err := transparency.LogSigned(cp, rep.VKey)
		if err != nil {
			return badInput(fmt.Errorf("anchor rekor: checkpoints/%d: %v", size, err))
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		a, err := anchor.Submit(actx, *url, size, signed, key)
		cancel()
		if err != nil {
			return operational(fmt.Errorf("anchor rekor: checkpoint %d: %w; the anchors written so far stay, run again to go on", size, err))
		}
		b, _ := json.MarshalIndent(a, "", "  ")
		if err := durable.WriteFile(out, append(b, '\n'), 0o644, durable.New); err != nil {
			return operational(err)
		}
		fmt.Fprintf(stdout, "checkpoint %d anchored: Rekor entry %s → %s\n", size, a.UUID, out)
	}
	return nil
}

// anchorSizes are the archived checkpoints to anchor: the first that covers
// the opening entry, the first that covers the last entry of each act, and
// the latest.
func anchorSizes(dir string, rep *transparency.Report) ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
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
		return nil, fmt.Errorf("%s holds no archived checkpoint", dir)
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
	if c, err := audit.ReadCeremony(os.DirFS(dir), rep); c != nil && (err == nil || errors.Is(err, ceremony.ErrOutOfScript)) {
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
// entry its checkpoint covers (with AnchorSkew for the laptop's clock),
// and within AnchorWindow of the log's last entry: a log is anchored from
// the publishing host in the days after its ceremony, and a history
// rewritten and anchored later falls outside.
const (
	AnchorSkew   = 5 * time.Minute
	AnchorWindow = 7 * 24 * time.Hour
)

// announcedAnchorKey is the anchoring key the log's opening entry
// announces, empty if none.
func announcedAnchorKey(rep *transparency.Report) string {
	if len(rep.Events) > 0 {
		if open, ok := rep.Events[0].Event.(event.Open); ok {
			return open.AnchorKey
		}
	}
	return ""
}

// anchorKeyArg reads an anchoring key (PEM: a public key, or the ECDSA
// private key itself) and names it by the SHA-256 of its public key.
func anchorKeyArg(path string) (string, error) {
	b, err := readInput(path)
	if err != nil {
		return "", err
	}
	if pub, err := anchor.ParsePublicKey(b); err == nil {
		return anchor.KeySHA256(pub)
	}
	k, _, err := anchor.LoadOrCreateKey(path, readInput, func(string, []byte) error { return errors.New("no key") })
	if err != nil {
		return "", fmt.Errorf("neither a PEM public key nor an ECDSA P-256 private key: %v", err)
	}
	return anchor.KeySHA256(&k.PublicKey)
}

// checkAnchors checks every anchor in the folder against Rekor's key: that
// it anchors the checkpoint as the log signed it, by the anchoring key the
// opening entry announces (or pinnedKey, the SHA-256 of the key given), and
// that Rekor integrated it within the bounds above. Each result is a check
// of the report (id "anchor"), and what the verdict rests on. The error is
// the first failure.
func checkAnchors(ctx context.Context, dir string, rep *transparency.Report, rekorKeyPath, pinnedKey string) error {
	add := func(ok, warn bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: "anchor", OK: ok, Warn: warn, Detail: fmt.Sprintf(format, args...)})
		rep.OK = rep.OK && ok
	}
	fail := func(format string, args ...any) error {
		add(false, false, format, args...)
		return fmt.Errorf("anchors: "+format, args...)
	}
	want := announcedAnchorKey(rep)
	if pinnedKey != "" {
		if want != "" && want != pinnedKey {
			return fail("the log's opening entry announces anchoring key %s, but the key given is %s", want, pinnedKey)
		}
		want = pinnedKey
	}
	if len(rep.Anchors) == 0 {
		switch {
		case rekorKeyPath != "":
			return fail("--rekor-key given, but %s holds no anchor", dir)
		case want != "":
			add(true, true, "the log's anchoring key is %s, but anchors/ holds no anchor: anchor it (anchor rekor), or ask where its anchors went", want)
		}
		return nil
	}
	if rekorKeyPath == "" {
		add(true, true, "%d checkpoints anchored in Rekor, not checked: give --rekor-key (Rekor's public key)", len(rep.Anchors))
		return nil
	}
	b, err := readInput(rekorKeyPath)
	if err != nil {
		return fail("--rekor-key %s: %v", rekorKeyPath, err)
	}
	rk, err := anchor.ParsePublicKey(b)
	if err != nil {
		return fail("--rekor-key %s: %v", rekorKeyPath, err)
	}
	if len(rep.Entries) == 0 {
		return fail("the log has no entries to anchor")
	}
	last := rep.Entries[len(rep.Entries)-1].Time
	var latest time.Time
	for _, p := range rep.Anchors {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return fail("%s: %v", p, err)
		}
		var a anchor.Anchor
		if err := json.Unmarshal(raw, &a); err != nil {
			return fail("%s: %v", p, err)
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".json"); strconv.FormatUint(a.Size, 10) != want {
			return fail("%s: names checkpoint %d", p, a.Size)
		}
		if a.Size == 0 || a.Size > uint64(len(rep.Entries)) {
			return fail("%s: checkpoint %d is not one of this log's (%d entries)", p, a.Size, len(rep.Entries))
		}
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoints", strconv.FormatUint(a.Size, 10)))
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
		case c.Integrated.Before(covered.Add(-AnchorSkew)):
			return fail("%s: Rekor integrated checkpoint %d at %s, before entry %d it covers was written (%s)", p, a.Size,
				c.Integrated.Format(time.RFC3339), a.Size-1, covered.UTC().Format(time.RFC3339))
		case c.Integrated.After(last.Add(AnchorWindow)):
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

func runAnchorExport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("anchor export", "usage: keyceremony anchor export --profile FILE [--out DIR]", stderr)
	profilePath := fs.String("profile", "", "the profile whose KSK inventory to export (required)")
	outDir := fs.String("out", "", "write root-anchors.xml and ds.txt into this folder instead of printing them")
	id := fs.String("id", "", "the TrustAnchor id attribute (default: derived from the inventory)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("anchor export", pos, "", req{"--profile", *profilePath}); err != nil {
		return err
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, false)
	if err != nil {
		return err
	}
	defer closeTok()
	var labels []string
	for _, k := range p.KSKs {
		labels = append(labels, k.Label)
	}
	ksks, err := session.InventoryKSKs(ctx, p, tok, labels)
	if err != nil {
		if errors.Is(err, session.ErrInventory) {
			return badInput(err)
		}
		return operational(err)
	}
	var keys []dnssec.AnchorKey
	var ds strings.Builder
	for _, rec := range p.KSKs {
		k := ksks[rec.Label]
		keys = append(keys, dnssec.AnchorKey{ID: rec.Label, DNSKEY: k.DNSKEY, ValidFrom: rec.ValidFrom, ValidUntil: rec.ValidUntil})
		ds.WriteString(dnssec.DS(k.DNSKEY).String() + "\n")
	}
	if *id == "" {
		sum := dnssec.DigestOf([]byte(ds.String()))
		h := strings.ToUpper(hex.EncodeToString(sum[:16]))
		*id = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	xmlData, err := dnssec.ExportAnchors(*id, p.Zone, keys)
	if err != nil {
		return operational(err)
	}
	if *outDir == "" {
		stdout.Write(xmlData)
		fmt.Fprint(stdout, "\n"+ds.String())
		return nil
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "root-anchors.xml"), xmlData, 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "ds.txt"), []byte(ds.String()), 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*outDir, "root-anchors.xml"), filepath.Join(*outDir, "ds.txt"))
	return nil
}
