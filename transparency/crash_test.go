package transparency

import (
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/logtest"

	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "KEYCEREMONY_CRASH_CHILD"

// crashChild is the process that the crash test kills: it opens (or creates)
// the log named in the environment and appends until it is killed, printing
// "ack <index> <digest>" after each append returns.
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	key, err := ParseKey(os.Getenv(crashChildEnv + "_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	_, statErr := os.Stat(filepath.Join(dir, vkeyFile))
	opts := Options{Key: key, New: statErr != nil}
	if crash := logtest.CrashAfterFromEnv(); crash != nil {
		opts.AfterDurable = func(a Appended) { crash(a.Index, a.Leaf) }
	}
	l, err := Open(ctx, dir, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	fmt.Println("ready", l.Size())
	for i := 0; ; i++ {
		a, err := l.Append(ctx, event.Exception{Step: fmt.Sprint(i), Text: strings.Repeat("x", i%300)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(4)
		}
		fmt.Printf("ack %d %s\n", a.Index, hex.EncodeToString(a.Leaf[:]))
		if i%7 == 0 {
			if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
				fmt.Fprintln(os.Stderr, "checkpoint:", err)
				os.Exit(5)
			}
		}
	}
}

// TestCrashKill9 kills a process appending in a loop with SIGKILL at random
// moments; each time the folder verifies as it was left, reopens, and holds
// every entry whose append had returned.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	skey, _, err := GenerateKey("test.keyceremony.invalid/crash/rehearsal")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ParseKey(skey)
	dir := filepath.Join(t.TempDir(), "log")
	acked := map[uint64]string{}
	fromJournal := 0
	const kills = 24
	var size uint64 // the log's size after the last reopen
	hooked := regexp.MustCompile(`crashed after entry (\d+), leaf ([0-9a-f]{64})`)
	for k := 0; k < kills; k++ {
		// The last child kills itself the moment an entry is in the
		// journal, before Tessera has it (the crash hook): so the replay
		// path is always tried, whatever the random kills hit.
		last := k == kills-1
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildEnv+"_KEY="+skey)
		if last {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", logtest.CrashAfterEnv, size+5))
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l, ok := <-lines; !ok || !strings.HasPrefix(l, "ready") {
			cmd.Wait()
			t.Fatalf("kill %d: child did not start: %q %s", k, l, stderr.String())
		}
		// Kill at a random moment: sometimes at once, mostly mid-stream.
		deadline := time.After(time.Duration(rng.IntN(300)) * time.Millisecond)
		if last {
			deadline = time.After(time.Minute) // the hook kills it first
		}
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				var idx uint64
				var digest string
				if _, err := fmt.Sscanf(l, "ack %d %s", &idx, &digest); err != nil {
					t.Fatalf("child said %q", l)
				}
				acked[idx] = digest
			case <-deadline:
				cmd.Process.Signal(syscall.SIGKILL)
				deadline = nil
			}
		}
		cmd.Wait()
		if last {
			m := hooked.FindStringSubmatch(stderr.String())
			if m == nil {
				t.Fatalf("the crash hook did not fire: %s", stderr.String())
			}
			idx, _ := strconv.ParseUint(m[1], 10, 64)
			acked[idx] = m[2] // durable before the kill, though never acknowledged
		} else if deadline != nil {
			t.Fatalf("kill %d: child exited by itself: %s", k, stderr.String())
		}

		// As left by the crash: it verifies, with an unsigned tail allowed.
		rep := mustVerify(t, dir, VerifyOptions{VKey: key.VKey, AllowInterrupted: true})
		for idx := range acked {
			if idx >= rep.Stored {
				fromJournal++ // only the journal held it: reopening must replay it
			}
		}
		// Reopened: every acknowledged entry is there, unchanged, and signed.
		l, err := Open(context.Background(), dir, Options{Key: key})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", k, err)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep = mustVerify(t, dir, VerifyOptions{VKey: key.VKey})
		size = rep.Size
		for idx, digest := range acked {
			if idx >= rep.Size {
				t.Fatalf("kill %d: acknowledged entry %d lost (log size %d)", k, idx, rep.Size)
			}
			if got := PrevHash(rep.RawEntries[idx]); got != digest {
				t.Fatalf("kill %d: entry %d changed: %s, acknowledged %s", k, idx, got, digest)
			}
		}
	}
	t.Logf("%d kills, %d acknowledged entries, none lost; %d were only in the journal when killed", kills, len(acked), fromJournal)
	if fromJournal == 0 {
		t.Error("no kill left an entry only in the journal: the replay path went untested")
	}
}
