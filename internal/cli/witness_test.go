package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/internal/witnesstest"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestRunWithWitnesses runs the administrative ceremony with a witness policy:
// a real witness (litewitness on loopback) cosigns each checkpoint as the
// ceremony goes; verify and watch with the policy accept the log, and
// verify with a policy the cosignatures do not meet refuses it (exit 1).
func TestRunWithWitnesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, err := transparency.GenerateKey("keyceremony.invalid/witnessed-admin/rehearsal")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "log.key")
	if err := transparency.WriteKeyFile(keyFile, skey); err != nil {
		t.Fatal(err)
	}
	wurl, wvkey, _ := witnesstest.Start(t, "witness.keyceremony.invalid/w1", "keyceremony.invalid/witnessed-admin/rehearsal", vkey)
	policy := filepath.Join(dir, "policy.txt")
	os.WriteFile(policy, []byte("witness w1 "+wvkey+" "+wurl+"\nquorum w1\n"), 0o644)
	logDir := filepath.Join(dir, "log")
	var out bytes.Buffer
	args := []string{"run", "--script", "admin", "--log", logDir, "--log-key", keyFile, "--witness-policy", policy, "--plain"}
	if err := run(ctx, args, &plainDriver{out: &out, answer: atTable}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	cp, _ := os.ReadFile(filepath.Join(logDir, "checkpoint"))
	if !strings.Contains(string(cp), "\u2014 witness.keyceremony.invalid/w1 ") {
		t.Fatalf("the final checkpoint is not cosigned:\n%s", cp)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--witness-policy", policy, logDir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "[ OK ] witnesses") {
		t.Fatalf("verify with the policy: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"watch", "--plain", "--key", vkey, "--witness-policy", policy, logDir}, nil, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "The ceremony is closed") {
		t.Fatalf("watch with the policy: %v\n%s", err, out.String())
	}
	strict := filepath.Join(dir, "strict.txt")
	os.WriteFile(strict, []byte("witness w1 "+wvkey+" "+wurl+"\nwitness w2 "+witnesstest.CosignatureKey(t, "witness.keyceremony.invalid/w2")+
		" http://127.0.0.1:1\ngroup both all w1 w2\nquorum both\n"), 0o644)
	out.Reset()
	err = run(ctx, []string{"verify", "--witness-policy", strict, logDir}, nil, &out, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "witnesses: ") {
		t.Fatalf("verify with a quorum not met: %v\n%s", err, out.String())
	}
}
