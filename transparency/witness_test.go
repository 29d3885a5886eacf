package transparency

import (
	"fmt"

	"github.com/keyceremony/keyceremony/ceremony/event"

	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/witnesstest"
)

// TestWitnessedLog: a log configured with a witness policy has each
// checkpoint cosigned by a real witness (litewitness on loopback, over the
// C2SP tlog-witness protocol, consistency proofs included) before it is
// published; verify and a follower with the policy accept it. A policy whose
// quorum the cosignatures do not meet fails in verify and raises an alarm in
// the follower; and with the witness gone the log goes on, unwitnessed,
// which verify with the policy reports.
func TestWitnessedLog(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "test.keyceremony.invalid/witnessed/rehearsal")
	wurl, wvkey, stopWitness := witnesstest.Start(t, "witness.keyceremony.invalid/w1", k.Signer.Name(), k.VKey)
	policy := []byte("witness w1 " + wvkey + " " + wurl + "\nquorum w1\n")
	dir := filepath.Join(t.TempDir(), "log")
	l, err := Open(ctx, dir, Options{Key: k, New: true, Open: event.Open{ScriptSHA256: strings.Repeat("ab", 32)},
		WitnessPolicy: policy, WitnessTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	grow := func(n int) {
		t.Helper()
		var a Appended
		for i := 0; i < n; i++ {
			if a, err = l.Append(ctx, event.Exception{Step: fmt.Sprint(i), Text: "step"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ParseWitnessPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := NewFollower(ctx, DirSource(dir), k.VKey, "")
	f.Witnesses = p
	for _, n := range []int{3, 5} { // the second needs a consistency proof
		grow(n)
		cp, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if !strings.Contains(string(cp), "\n\u2014 witness.keyceremony.invalid/w1 ") {
			t.Fatalf("the checkpoint is not cosigned:\n%s", cp)
		}
		rep := mustVerify(t, dir, VerifyOptions{VKey: k.VKey, Witnesses: p, AllowInterrupted: true})
		if c := findCheck(rep, CheckWitnesses); c == nil || !c.OK || !strings.Contains(c.Detail, "witness.keyceremony.invalid/w1") {
			t.Fatalf("witness check: %+v", c)
		}
		if _, err := f.Poll(ctx); err != nil {
			t.Fatalf("the follower with the policy: %v", err)
		}
	}
	// A quorum of two witnesses, one of which never cosigned.
	strict, err := ParseWitnessPolicy([]byte("witness w1 " + wvkey + " " + wurl + "\nwitness w2 " + witnesstest.CosignatureKey(t, "witness.keyceremony.invalid/w2") + " http://127.0.0.1:1\ngroup both all w1 w2\nquorum both\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(os.DirFS(dir), VerifyOptions{VKey: k.VKey, Witnesses: strict, AllowInterrupted: true})
	if c := findCheck(rep, CheckWitnesses); rep.OK || c == nil || c.OK || !strings.Contains(c.Detail, "does not satisfy") {
		t.Fatalf("a quorum not met: %+v", c)
	}
	g, _ := NewFollower(ctx, DirSource(dir), k.VKey, "")
	g.Witnesses = strict
	if _, err := g.Poll(ctx); !errors.Is(err, ErrAlarm) || !strings.Contains(err.Error(), CheckWitnesses) {
		t.Fatalf("the follower, a quorum not met: %v", err)
	}
	// The witness gone: the log goes on, and says it is unwitnessed.
	stopWitness()
	grow(2)
	rep, _ = Verify(os.DirFS(dir), VerifyOptions{VKey: k.VKey, Witnesses: p, AllowInterrupted: true})
	if c := findCheck(rep, CheckWitnesses); rep.OK || c == nil || c.OK {
		t.Fatalf("an unwitnessed checkpoint: %+v", c)
	}
}

func findCheck(r *Report, id string) *Check {
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	return nil
}

// FuzzWitnessPolicy: any policy file parses or is refused; a parsed one
// checks any note without a panic.
func FuzzWitnessPolicy(f *testing.F) {
	f.Add([]byte("witness w1 w1.example+b79e2593+BPkf5YD7u+ljqztmEk6wQ3s153sf1VvewxIscsNaqfP5 http://127.0.0.1:1\nquorum w1\n"), []byte("o\n1\nAAAA\n\n— o AAAA\n"))
	f.Add([]byte("quorum none\n"), []byte(""))
	f.Fuzz(func(t *testing.T, policy, note []byte) {
		p, err := ParseWitnessPolicy(policy)
		if err == nil {
			p.Check(note)
		}
	})
}
