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
