package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/scripts"
)

// TestDemoEveryScript rehearses every built-in script unattended through
// the command a person types (demo --script NAME --auto --plain) on the
// demo's software token and simulated cards, and verifies each log: the
// signing scripts write their SKRs, the key generation provisions a new
// card set, the officer replacement deals new cards.
func TestDemoEveryScript(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown", func(t *testing.T) {
		err := run(ctx, []string{"demo", "--script", "quarterly", "--auto", "--plain", "--log", filepath.Join(t.TempDir(), "log")}, nil, io.Discard, io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), `--script "quarterly": built in are demo, signing`) {
			t.Fatalf("an unknown script: %v", err)
		}
	})
	for _, name := range scripts.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each mostly waits for its log's checkpoints
			dir := filepath.Join(t.TempDir(), "log")
			var out bytes.Buffer
			if err := run(ctx, append([]string{"demo", "--script", name, "--auto", "--plain", "--log", dir}, rehearsalBefore(t, name)...), strings.NewReader(""), &out, io.Discard); err != nil {
				t.Fatalf("demo --script %s: %v\n%s", name, err, out.String())
			}
			if !strings.Contains(out.String(), "The ceremony is closed: ") {
				t.Fatalf("demo --script %s did not close the ceremony:\n%s", name, out.String())
			}
			var vout bytes.Buffer
			if err := run(ctx, []string{"verify", dir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "VERIFIED") {
				t.Fatalf("verify: %v\n%s", err, vout.String())
			}
			want := map[string][]string{
				"signing":     {dir + "-skr.xml"},
				"signing-two": {dir + "-skr.xml", dir + "-skr-2.xml"},
				"keygen":      {dir + "-roster-2.yaml", filepath.Join(dir+"-cards-2", "CO10.card")},
				"officers":    {dir + "-roster-2.yaml", filepath.Join(dir+"-cards-2", "CO8.card")},
				"recovery":    {dir + "-skr.xml", filepath.Join(dir+"-softhsm", "softhsm2.conf")},
			}[name]
			for _, f := range want {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// rehearsalBefore rehearses what a built-in script follows, when it needs
// a predecessor: a recovery restores the backup a key generation made
// (on a SoftHSM2 token: skipped without it, failed in CI). It returns the
// demo's arguments that name it.
func rehearsalBefore(t *testing.T, name string) []string {
	t.Helper()
	if name != "recovery" {
		return nil
	}
	if _, err := os.Stat(softHSMModule); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("SoftHSM2 is missing in CI: make test installs softhsm2")
		}
		t.Skip("SoftHSM2 is not installed (make test installs it)")
	}
	keygen := filepath.Join(t.TempDir(), "keygen")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"demo", "--script", "keygen", "--auto", "--plain", "--log", keygen}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("the key generation a recovery follows: %v\n%s", err, out.String())
	}
	return []string{"--previous-log", keygen}
}
