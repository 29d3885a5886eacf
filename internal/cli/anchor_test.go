package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/rekortest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/anchor"
	"golang.org/x/mod/sumdb/note"
)

// TestAnchorRekor anchors a rehearsal's log in a real Rekor v1 on loopback:
// the opening, every act boundary and the final checkpoint, each stored as
// anchors/<size>.json; a second run anchors nothing twice; verify with
// Rekor's public key checks every anchor offline, and refuses an anchor
// moved onto another checkpoint.
func TestAnchorRekor(t *testing.T) {
	url := rekortest.Start(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "anchoring.pem")
	var out bytes.Buffer
	if err := run(ctx, []string{"anchor", "rekor", dir, "--url", url, "--key", key}, nil, &out, io.Discard); err != nil {
		t.Fatalf("anchor rekor: %v\n%s", err, out.String())
	}
	anchors, _ := filepath.Glob(filepath.Join(dir, "anchors", "*.json"))
	// The demo has 5 acts: the opening, five boundaries (the last is the
	// final checkpoint's, or close to it) and the final one.
	if len(anchors) < 5 || !strings.Contains(out.String(), "new anchoring key") {
		t.Fatalf("%d anchors:\n%s", len(anchors), out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"anchor", "rekor", dir, "--url", url, "--key", key}, nil, &out, io.Discard); err != nil || strings.Contains(out.String(), "anchored: Rekor entry") {
		t.Fatalf("a second run anchored again: %v\n%s", err, out.String())
	}
	resp, err := http.Get(url + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rekorKey := filepath.Join(t.TempDir(), "rekor.pub")
	os.WriteFile(rekorKey, pub, 0o644)
	out.Reset()
	if err := run(ctx, []string{"verify", dir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "anchored in Rekor, not checked") {
		t.Fatalf("verify without the Rekor key: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--rekor-key", rekorKey, dir}, nil, &out, io.Discard); err != nil || strings.Count(out.String(), "[ OK ] anchor ") != len(anchors) {
		t.Fatalf("verify with the Rekor key: %v\n%s", err, out.String())
	}
	// The verdict rests on the anchors, and says when Rekor took them.
	if !regexp.MustCompile(`\[OUTSIDE\] anchors +\d+ checkpoints anchored in Rekor by a key the log does not announce \(anyone can anchor a log\), checked with Rekor's key; the last integrated \S+, `).MatchString(out.String()) ||
		!strings.HasPrefix(lastLine(out.String()), "VERIFIED: ") {
		t.Fatalf("the verdict:\n%s", out.String())
	}

	// A cosignature added to a checkpoint after it was anchored (a late
	// witness) leaves the anchor whole: Rekor holds the note as the log
	// signed it.
	witness := testNoteSigner(t, "witness.example/w1")
	for _, p := range []string{filepath.Join(dir, "checkpoints", strings.TrimSuffix(filepath.Base(anchors[len(anchors)-1]), ".json")), filepath.Join(dir, "checkpoint")} {
		cp, _ := os.ReadFile(p)
		os.WriteFile(p, addSignatureLine(t, cp, witness), 0o644)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--rekor-key", rekorKey, dir}, nil, &out, io.Discard); err != nil || strings.Count(out.String(), "[ OK ] anchor ") != len(anchors) {
		t.Fatalf("verify after a witness cosigned an anchored checkpoint: %v\n%s", err, out.String())
	}

	// An anchoring key pinned by the auditor: anchors by another fail.
	otherKey := filepath.Join(t.TempDir(), "other.pem")
	if _, _, err := anchor.LoadOrCreateKey(otherKey, os.ReadFile, func(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(ctx, []string{"verify", "--rekor-key", rekorKey, "--anchor-key", otherKey, dir}, nil, &out, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(out.String(), "not the anchoring key") || lastLine(out.String()) != "NOT VERIFIED" {
		t.Fatalf("anchors by another key than the one pinned: %v\n%s", err, out.String())
	}

	t.Run("the key the opening entry announces", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "log")
		if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir, "--anchor-key", key}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		// Before it is anchored, the verdict says the anchors are due.
		var out bytes.Buffer
		if err := run(ctx, []string{"verify", dir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "but anchors/ holds no anchor") {
			t.Fatalf("an announced key, no anchor: %v\n%s", err, out.String())
		}
		err := run(ctx, []string{"anchor", "rekor", dir, "--url", url, "--key", otherKey}, nil, io.Discard, io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "announces the anchoring key") {
			t.Fatalf("anchored with another key than the announced one: %v", err)
		}
		if err := run(ctx, []string{"anchor", "rekor", dir, "--url", url, "--key", key}, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := run(ctx, []string{"verify", "--rekor-key", rekorKey, dir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "anchored in Rekor by the announced anchoring key") {
			t.Fatalf("%v\n%s", err, out.String())
		}
		out.Reset()
		if err := run(ctx, []string{"verify", "--rekor-key", rekorKey, "--anchor-key", otherKey, dir}, nil, &out, io.Discard); exitCode(err) != exitBadInput || !strings.Contains(out.String(), "the log's opening entry announces anchoring key") {
			t.Fatalf("a pinned key that is not the announced one: %v\n%s", err, out.String())
		}
	})

	t.Run("a log written weeks before it was anchored", func(t *testing.T) {
		// Whoever holds the log key writes the ceremony again, dated a
		// month ago, and anchors it today: Rekor's time gives it away.
		src := filepath.Join(t.TempDir(), "log")
		if err := run(ctx, []string{"demo", "--auto", "--plain", "--script", "admin", "--log", src}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		old := filepath.Join(t.TempDir(), "log")
		clock := time.Now().Add(-30 * 24 * time.Hour)
		rewriteLog(t, src, old, math.MaxInt, func() time.Time { clock = clock.Add(time.Second); return clock })
		if err := run(ctx, []string{"anchor", "rekor", old, "--url", url, "--key", key}, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(ctx, []string{"verify", "--rekor-key", rekorKey, old}, nil, &out, io.Discard)
		if exitCode(err) != exitBadInput || !strings.Contains(out.String(), "more than 7 days after the log's last entry") {
			t.Fatalf("%v\n%s", err, out.String())
		}
	})

	// An anchor renamed onto another checkpoint is refused.
	first, last := anchors[0], anchors[len(anchors)-1]
	b, _ := os.ReadFile(first)
	os.WriteFile(last, b, 0o644)
	err = run(ctx, []string{"verify", "--rekor-key", rekorKey, dir}, nil, io.Discard, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "anchors: ") {
		t.Fatalf("a moved anchor: %v", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// testNoteSigner is a note signer of a new key.
func testNoteSigner(t *testing.T, name string) note.Signer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addSignatureLine adds signer's line to a signed note.
func addSignatureLine(t *testing.T, cp []byte, signer note.Signer) []byte {
	t.Helper()
	i := bytes.Index(cp, []byte("\n\n"))
	signed, err := note.Sign(&note.Note{Text: string(cp[:i+1])}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return append(bytes.Clone(cp), signed[bytes.Index(signed, []byte("\n\n"))+2:]...)
}

// rewriteLog writes the first n entries of the ceremony logged in dir
// again into other, with the same log key (what whoever holds it can do),
// each dated by now (nil: the clock).
func rewriteLog(t *testing.T, dir, other string, n int, now func() time.Time) {
	t.Helper()
	ctx := context.Background()
	key, err := transparency.LoadKey(dir + ".key")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal(err)
	}
	read := func(a event.Artefact) []byte {
		data, err := os.ReadFile(filepath.Join(dir, "artefacts", "sha256", a.SHA256))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var arts []transparency.Artefact
	for _, a := range rep.Events[0].Artefacts {
		arts = append(arts, transparency.Artefact{Name: a.Name, Data: read(a)})
	}
	l, err := transparency.Open(ctx, other, transparency.Options{Key: key, New: true, Open: rep.Events[0].Event.(event.Open), OpenArtefacts: arts, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Events[1:min(n, len(rep.Events))] {
		for _, a := range e.Artefacts {
			if _, err := l.StoreArtefact(a.Name, read(a)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Append(ctx, e.Event, e.Artefacts...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
