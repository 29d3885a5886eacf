package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/scripts"
)

// TestCeremoniesChained: a rehearsal opened on the previous one's log
// (--previous-log) cites that log's final checkpoint, cosigned, and
// continues its SKR chain: having answered 2010 Q1, it signs Q2 against
// that SKR. verify checks the citation from the new log alone, and
// verify --history checks the chain: each link, the SKR it continues, the
// officers' roster pinned by the first. A ceremony that does not cite its
// predecessor, or cites another, fails by name; a previous log that does
// not verify is refused before anything is written.
func TestCeremoniesChained(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	demo := func(name string, extra ...string) string {
		t.Helper()
		log := filepath.Join(dir, name)
		var out bytes.Buffer
		if err := run(ctx, append([]string{"demo", "--auto", "--plain", "--log", log}, extra...), strings.NewReader(""), &out, io.Discard); err != nil {
			t.Fatalf("demo %s: %v\n%s", name, err, out.String())
		}
		return log
	}
	a := demo("a")
	b := demo("b", "--previous-log", a)
	var out bytes.Buffer
	if err := run(ctx, []string{"verify", b, "--roster", a + "-roster.yaml"}, nil, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "[ OK ] ceremony.previous") || !strings.Contains(out.String(), "its final checkpoint (size 64") {
		t.Fatalf("verify the chained log: %v\n%s", err, out.String())
	}
	q2, _ := dnssec.ParseAny(scripts.DemoKSR2(), nil)
	if _, skr, err := readSKR(b+"-skr.xml", ""); err != nil || skr.ID != q2.ID {
		t.Fatalf("the second rehearsal did not answer the next quarter's KSR %s: %v", q2.ID, err)
	}
	history := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"verify", "--history"}, args...), nil, &out, io.Discard)
		return out.String(), err
	}
	got, err := history(a, b, "--roster", a+"-roster.yaml")
	if err != nil || !strings.Contains(got, "[ OK ] history.link") || !strings.Contains(got, "[ OK ] history.skr") ||
		!strings.Contains(got, "HISTORY VERIFIED: 2 ceremonies") {
		t.Fatalf("verify --history a b: %v\n%s", err, got)
	}
	// Out of order: a cites nothing.
	if got, err := history(b, a); exitCode(err) != exitBadInput || !strings.Contains(got, "does not cite the ceremony before it") {
		t.Fatalf("verify --history b a: %v\n%s", err, got)
	}
	// Another rehearsal that also follows a: it does not follow b.
	c := demo("c", "--previous-log", a)
	if got, err := history(a, b, c); exitCode(err) != exitBadInput || !strings.Contains(got, "cites the ceremony logged as") {
		t.Fatalf("verify --history a b c: %v\n%s", err, got)
	}
	// A previous log that does not verify: refused, nothing written.
	bad := filepath.Join(dir, "bad")
	os.CopyFS(bad, os.DirFS(a))
	cp, _ := os.ReadFile(filepath.Join(bad, "checkpoint"))
	os.WriteFile(filepath.Join(bad, "checkpoint"), bytes.Replace(cp, []byte("\n64\n"), []byte("\n63\n"), 1), 0o644)
	err = run(ctx, []string{"demo", "--auto", "--plain", "--log", filepath.Join(dir, "d"), "--previous-log", bad}, strings.NewReader(""), io.Discard, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(errString(err), "the previous ceremony's log does not verify") {
		t.Fatalf("--previous-log of a log that does not verify: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); err == nil {
		t.Fatal("the refused rehearsal left a log folder")
	}
}

// TestCustodyChained: the quarterly script's equipment, first recorded by
// one rehearsal and sealed in new bags, is opened by the next from exactly
// those bags (--previous-log carries the register over), and verify
// --history lists each item's chain of bags across both and checks the
// register at the link. A script that records another bag for an item the
// previous ceremony sealed is refused in one line, before anything is
// logged.
func TestCustodyChained(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	demo := func(name string, extra ...string) (string, string, error) {
		t.Helper()
		log := filepath.Join(dir, name)
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"demo", "--script", "signing", "--auto", "--plain", "--log", log}, extra...), strings.NewReader(""), &out, &errOut)
		return log, out.String() + errOut.String(), err
	}
	a, out, err := demo("a")
	if err != nil {
		t.Fatalf("demo a: %v\n%s", err, out)
	}
	b, out, err := demo("b", "--previous-log", a)
	if err != nil || !strings.Contains(out, "hsm1: bag RH-") || !strings.Contains(out, "opened, the serial on record") {
		t.Fatalf("demo b: %v\n%s", err, out)
	}
	var hist bytes.Buffer
	if err := run(ctx, []string{"verify", "--history", a, b}, nil, &hist, io.Discard); err != nil ||
		!strings.Contains(hist.String(), "[ OK ] history.custody   "+b+" opens with the custody register "+a+" ended with: 3 sealed items") {
		t.Fatalf("verify --history: %v\n%s", err, hist.String())
	}
	// Each item: opened (first recorded), sealed, opened from that bag, sealed.
	for _, item := range []string{"hsm1", "laptop1", "osmedia1"} {
		var line string
		for _, l := range strings.Split(hist.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), item+": ") {
				line = l
			}
		}
		parts := strings.Split(line, " → ")
		if len(parts) != 4 || !strings.Contains(parts[0], "opened RH-") || !strings.Contains(parts[1], "sealed RH-") {
			t.Fatalf("%s's chain: %q", item, line)
		}
		sealed := strings.Fields(parts[1])[1]
		if !strings.HasPrefix(parts[2], "opened "+sealed+" ("+b) {
			t.Fatalf("%s: sealed in %s by a, but b opened %q", item, sealed, parts[2])
		}
	}
	// b's transcript lists each item's bags: as a left it, opened, sealed anew.
	var tr bytes.Buffer
	if err := run(ctx, []string{"transcript", b}, nil, &tr, io.Discard); err != nil || !strings.Contains(tr.String(), "## Custody") {
		t.Fatalf("transcript: %v\n%s", err, tr.String())
	}
	for _, l := range strings.Split(tr.String(), "\n") {
		if strings.HasPrefix(l, "- hsm1 (the HSM): in bag RH-") && !strings.Contains(l, "→ opened from bag") || strings.HasPrefix(l, "- hsm1") && !strings.Contains(l, "→ sealed in bag RH-") {
			t.Fatalf("the HSM's custody in the transcript: %q", l)
		}
	}
	// A script that records another bag for the HSM than a sealed it in.
	raw, _ := scripts.Get("signing")
	own := filepath.Join(dir, "signing.yaml")
	os.WriteFile(own, bytes.Replace(raw, []byte("{id: hsm1, kind: hsm, what: the HSM}"), []byte("{id: hsm1, kind: hsm, what: the HSM, bag: TEB-999}"), 1), 0o644)
	os.WriteFile(filepath.Join(dir, "roster.yaml"), scripts.DemoRoster(), 0o644)
	os.WriteFile(filepath.Join(dir, "profile.yaml"), scripts.DemoProfile(), 0o644)
	c := filepath.Join(dir, "c")
	var errOut bytes.Buffer
	os.WriteFile(filepath.Join(dir, "ksr.xml"), scripts.DemoKSR2(), 0o644)
	err = run(ctx, []string{"run", "--script", own, "--rehearsal", "--plain", "--profile", filepath.Join(dir, "profile.yaml"), "--log", c, "--previous-log", b,
		"--ksr", filepath.Join(dir, "ksr.xml"), "--cards", t.TempDir()}, strings.NewReader(""), io.Discard, &errOut)
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "custody item hsm1: the script records bag TEB-999, but the previous ceremony sealed it in bag RH-") {
		t.Fatalf("a script at odds with the register: %v", err)
	}
	if _, err := os.Stat(c); !os.IsNotExist(err) {
		t.Fatalf("the refused ceremony left a log folder: %v", err)
	}
}
