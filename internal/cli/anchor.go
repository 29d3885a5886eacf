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
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		a, err := anchor.Submit(actx, *url, size, cp, key)
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

// checkAnchors checks every anchor in the folder against Rekor's key, and
// adds each result to the report as a check of its own (id "anchor"), and
// what the verdict rests on. The error is the first failure.
func checkAnchors(ctx context.Context, dir string, rep *transparency.Report, rekorKeyPath string) error {
	add := func(ok, warn bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: "anchor", OK: ok, Warn: warn, Detail: fmt.Sprintf(format, args...)})
		rep.OK = rep.OK && ok
	}
	fail := func(format string, args ...any) error {
		add(false, false, format, args...)
		return fmt.Errorf("anchors: "+format, args...)
	}
	if len(rep.Anchors) == 0 {
		if rekorKeyPath != "" {
			return fail("--rekor-key given, but %s holds no anchor", dir)
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
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoints", strconv.FormatUint(a.Size, 10)))
		if err != nil {
			return fail("%s: checkpoint %d is not archived", p, a.Size)
		}
		_, index, err := anchor.Check(ctx, &a, cp, rk)
		if err != nil {
			return fail("%s: %v", p, err)
		}
		add(true, false, "checkpoint %d is in Rekor (log index %d, entry %.16s…): signed entry timestamp and inclusion proof verified", a.Size, index, a.UUID)
	}
	rep.SetBasis(transparency.Basis{Part: audit.BasisAnchors, Outside: true,
		Detail: fmt.Sprintf("%d checkpoints anchored in Rekor, checked with the key given (--rekor-key)", len(rep.Anchors))})
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
