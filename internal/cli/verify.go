package cli

import (
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/words"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keyceremony/keyceremony/transparency"
)

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "usage: keyceremony verify DIR [--json] [--key VKEY] [--origin O] [--checkpoint FILE]... [--require-cosigners N] [--witness-policy FILE] [--rekor-key FILE] [--raw]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	key := fs.String("key", "", "the log's verifier key (vkey text, or a file holding it); default: the folder's log.vkey")
	origin := fs.String("origin", "", "the expected origin line; default: the key's name")
	raw := fs.Bool("raw", false, "check only the Merkle and checkpoint layer (any tlog-tiles log)")
	witnessPolicy := fs.String("witness-policy", "", "a C2SP tlog-policy file whose quorum of witnesses must have cosigned the latest checkpoint")
	rekorKey := fs.String("rekor-key", "", "Rekor's public key (PEM): check every anchor in anchors/ offline")
	requireCosigners := fs.Int("require-cosigners", 0, "fail unless the final checkpoint carries at least N crypto officers' valid cosignatures")
	var cps stringList
	fs.Var(&cps, "checkpoint", "a signed checkpoint seen elsewhere, which must be consistent with the log (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("verify", pos, "log folder"); err != nil {
		return err
	}
	dir := pos[0]
	if strings.HasPrefix(dir, "http://") || strings.HasPrefix(dir, "https://") {
		return usageErr("verify: verifying a URL is not built yet; copy the folder and verify the copy")
	}
	if err := logFolderArg("verify", dir); err != nil {
		return err
	}
	if *requireCosigners < 0 {
		return usageErr("verify: --require-cosigners %d: give a number of officers from 1", *requireCosigners)
	}
	if *raw && *requireCosigners > 0 {
		return usageErr("verify: --raw checks only the Merkle layer; the officers' cosignatures need the ceremony's roster (drop --raw)")
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
	rep, err := audit.Verify(os.DirFS(dir), audit.Options{VerifyOptions: opts, RequireCosigners: *requireCosigners})
	if err != nil {
		return operational(fmt.Errorf("verify %s: %w", dir, err))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return operational(err)
		}
	} else {
		printReport(stdout, dir, rep)
	}
	if f := rep.FirstFailure(); f != nil {
		return badInput(fmt.Errorf("verify %s: %s: %s", dir, f.ID, f.Detail))
	}
	lines, err := checkAnchors(ctx, dir, rep, *rekorKey)
	if !*asJSON {
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	}
	if err != nil {
		return badInput(fmt.Errorf("verify %s: %v", dir, err))
	}
	return nil
}

func printReport(w io.Writer, dir string, rep *transparency.Report) {
	fmt.Fprintf(w, "Log folder   %s\n", dir)
	if rep.VKey != "" {
		fmt.Fprintf(w, "Log key      %s\n", rep.VKey)
		fmt.Fprintf(w, "Fingerprint  %s  (compare with the one announced)\n", dnssec.GroupHex(rep.KeyFingerprint))
	}
	if rep.Origin != "" {
		fmt.Fprintf(w, "Origin       %s\n", rep.Origin)
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
		fmt.Fprintf(w, "%s %-21s %s\n", mark, c.ID, c.Detail)
	}
	fmt.Fprintln(w)
	if rep.OK {
		fmt.Fprintf(w, "VERIFIED: %s, root %s\n", words.Counts(rep.Size, "entry", "entries"), dnssec.GroupHex(fmt.Sprintf("%x", rep.Root)))
	} else {
		fmt.Fprintln(w, "NOT VERIFIED")
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
