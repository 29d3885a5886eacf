package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/internal/rekortest"
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
	// An anchor renamed onto another checkpoint is refused.
	first, last := anchors[0], anchors[len(anchors)-1]
	b, _ := os.ReadFile(first)
	os.WriteFile(last, b, 0o644)
	err = run(ctx, []string{"verify", "--rekor-key", rekorKey, dir}, nil, io.Discard, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "anchors: ") {
		t.Fatalf("a moved anchor: %v", err)
	}
}
