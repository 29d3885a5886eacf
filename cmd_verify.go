package main

import (
	"errors"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ui"

	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"

	"github.com/keyceremony/keyceremony/transparency"
)

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	key := fs.String("key", "", "the log's verifier key (vkey text, or a file holding it); default: the folder's log.vkey")
	origin := fs.String("origin", "", "the expected origin line; default: the key's name")
	raw := fs.Bool("raw", false, "check only the Merkle and checkpoint layer (any tlog-tiles log)")
	witnessPolicy := fs.String("witness-policy", "", "a C2SP tlog-policy file whose quorum of witnesses must have cosigned the latest checkpoint")
	rekorKey := fs.String("rekor-key", "", "Rekor's public key (PEM): check every anchor in anchors/ offline")
	requireCosigners := fs.Int("require-cosigners", 0, "fail unless the final checkpoint carries at least N crypto officers' valid cosignatures")
	var cps stringList
	fs.Var(&cps, "checkpoint", "a signed checkpoint seen elsewhere, which must be consistent with the log (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keyceremony verify DIR [--json] [--key VKEY] [--origin O] [--checkpoint FILE]... [--require-cosigners N] [--witness-policy FILE] [--rekor-key FILE] [--raw]")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErr("verify: give exactly one log folder")
	}
	dir := pos[0]
	if strings.HasPrefix(dir, "http://") || strings.HasPrefix(dir, "https://") {
		return usageErr("verify: verifying a URL is not built yet; copy the folder and verify the copy")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErr("verify: %s is not a log folder; give the folder that holds checkpoint and tile/", dir)
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
	rep, err := transparency.Verify(os.DirFS(dir), opts)
	if err != nil {
		return operational(fmt.Errorf("verify %s: %w", dir, err))
	}
	if !opts.Raw && rep.OK {
		checkScript(dir, rep, *requireCosigners)
	}
	if !opts.Raw && !rep.OK {
		rewrittenAfterCosigned(dir, rep, opts.Checkpoints)
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
		fmt.Fprintf(w, "Fingerprint  %s  (compare with the one announced)\n", ui.GroupHex(rep.KeyFingerprint))
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
		fmt.Fprintf(w, "VERIFIED: %d entries, root %s\n", rep.Size, ui.GroupHex(fmt.Sprintf("%x", rep.Root)))
	} else {
		fmt.Fprintln(w, "NOT VERIFIED")
	}
}

// CheckScript is the id of the check that replays the ceremony engine over
// the log.
const CheckScript = "ceremony.script"

// checkScript replays the ceremony engine over a verified log, with the
// script that its opening entry cites, and adds the result to the report: a
// log can be whole and signed and still not follow its script.
func checkScript(dir string, rep *transparency.Report, requireCosigners int) {
	add := func(ok bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckScript, OK: ok, Detail: fmt.Sprintf(format, args...)})
		rep.OK = rep.OK && ok
	}
	if len(rep.RawEntries) == 0 {
		return
	}
	script, entries, err := scriptOfLog(dir, rep)
	if errors.Is(err, errNoScript) {
		add(true, "the log cites no ceremony script; nothing to replay")
		return
	}
	if err != nil {
		add(false, "%v", err)
		return
	}
	st, err := ceremony.Replay(script, entries)
	if err != nil {
		add(false, "%v", err)
		return
	}
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
	add(true, "the log follows %s (SHA-256 %s): %d of %d steps done%s, %d exceptions, %d resumes, ceremony %s",
		script.Name, script.Digest, done, len(script.Steps()), skipped, len(st.Exceptions), st.Resumes, state)
	cps, err := archivedCheckpoints(dir)
	if err != nil {
		rep.Checks = append(rep.Checks, transparency.Check{ID: audit.CheckCosignatures, Detail: err.Error()})
		rep.OK = false
		return
	}
	for _, f := range audit.VerifyCosignatures(st, entries, cps, requireCosigners) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: audit.CheckCosignatures, OK: f.OK, Warn: f.Warn, Detail: f.Detail})
		rep.OK = rep.OK && f.OK
	}
	// The published checkpoint's officer lines are held to the same.
	if rep.Checkpoint != nil {
		bodies := map[uint64][]byte{}
		for size, cp := range cps {
			bodies[size] = audit.NoteBody(cp)
		}
		for _, r := range audit.ReadCosignatures(script.Quorum, rep.Checkpoint.Note, rep.Checkpoint.Size, bodies).Rejected {
			rep.Checks = append(rep.Checks, transparency.Check{ID: audit.CheckCosignatures, Detail: "the published checkpoint: " + r.String()})
			rep.OK = false
		}
	}
}

// archivedCheckpoints reads checkpoints/<size>, which the log verifier has
// checked are the log's, by size.
func archivedCheckpoints(dir string) (map[uint64][]byte, error) {
	out := map[uint64][]byte{}
	ents, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if errors.Is(err, os.ErrNotExist) {
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
		b, err := readInput(filepath.Join(dir, "checkpoints", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("checkpoints/%s: %v", e.Name(), err)
		}
		out[size] = b
	}
	return out, nil
}

// rewrittenAfterCosigned names, when a log fails against a checkpoint given
// with --checkpoint, the officers who cosigned that checkpoint: the log a
// laptop key can re-sign, their cosignatures it cannot, so a history
// rewritten after they signed is caught by what they signed.
func rewrittenAfterCosigned(dir string, rep *transparency.Report, given []transparency.NamedCheckpoint) {
	f := rep.FirstFailure()
	if f == nil || f.ID != transparency.CheckConsistency || len(given) == 0 {
		return
	}
	script, _, err := scriptOfLog(dir, rep)
	if err != nil {
		return
	}
	for _, g := range given {
		if !strings.HasPrefix(f.Detail, g.Name+":") {
			continue
		}
		_, size, _, err := transparency.ParseCheckpointBody(string(audit.NoteBody(g.Data)))
		if err != nil {
			continue
		}
		cc := audit.ReadCosignatures(script.Quorum, g.Data, size, nil)
		if len(cc.Valid) == 0 {
			continue
		}
		rep.Checks = append(rep.Checks, transparency.Check{ID: audit.CheckCosignatures, Detail: fmt.Sprintf(
			"%s: checkpoint %d is cosigned by the officers %s, and this log is not consistent with it: its history was rewritten after they signed",
			g.Name, size, strings.Join(cc.Valid, ", "))})
	}
}

var errNoScript = ceremony.ErrNoScript

// scriptOfLog loads the script that a verified log's opening entry cites
// (only as an artefact the verifier checked), and parses the entries.
func scriptOfLog(dir string, rep *transparency.Report) (*ceremony.Script, []*event.Entry, error) {
	var entries []*event.Entry
	for _, b := range rep.RawEntries {
		e, err := event.Parse(b)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, nil, errNoScript
	}
	script, err := ceremony.ScriptOfLog(entries[0], func(sha string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, "artefacts", "sha256", sha))
	})
	if err != nil {
		return nil, nil, err
	}
	return script, entries, nil
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
