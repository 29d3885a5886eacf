package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/logtest"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestCrashSweep plays the quarterly signing script unattended
// (demo --script signing --auto) and kills the process with SIGKILL the
// moment log entry N is durable, before the console is told, for N across
// the whole ceremony (every third entry in make test; every entry with
// KEYCEREMONY_SWEEP=all). After each kill the folder verifies as an
// interrupted log; the same command resumes the ceremony to its close; the
// final log verifies, holds entry N unchanged (its leaf hash is the one
// announced before the kill), and records the resume. Entries lost must be 0.
func TestCrashSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and resumes whole ceremonies")
	}
	ctx := context.Background()
	// The number of entries of an uninterrupted run.
	full := filepath.Join(t.TempDir(), "log")
	if err := run(ctx, []string{"demo", "--script", "signing", "--auto", "--plain", "--log", full}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	rep, err := transparency.Verify(os.DirFS(full), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal("the uninterrupted run does not verify")
	}
	total := int(rep.Size)
	stride := 3
	if os.Getenv("KEYCEREMONY_SWEEP") == "all" {
		stride = 1
	}
	var kills, resumes, lost atomic.Int64
	announced := regexp.MustCompile(`crashed after entry (\d+), leaf ([0-9a-f]{64})`)
	for n := 1; n < total-1; n += stride {
		t.Run(fmt.Sprintf("entry %d", n), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "log")
			cmd := exec.Command(os.Args[0], "demo", "--script", "signing", "--auto", "--plain", "--log", dir)
			cmd.Env = append(os.Environ(), mainEnv+"=1", fmt.Sprintf("%s=%d", logtest.CrashAfterEnv, n))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdin = strings.NewReader("")
			err := cmd.Run()
			m := announced.FindStringSubmatch(stderr.String())
			if err == nil || m == nil || m[1] != strconv.Itoa(n) {
				t.Fatalf("the run was not killed at entry %d: %v\n%s", n, err, stderr.String())
			}
			kills.Add(1)
			// Killed: the folder verifies as a log a crash interrupted.
			rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{AllowInterrupted: true})
			if err != nil || !rep.OK {
				t.Fatalf("after the kill: %+v", rep.FirstFailure())
			}
			var out bytes.Buffer
			if err := run(ctx, []string{"demo", "--script", "signing", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &out, io.Discard); err != nil {
				t.Fatalf("resume: %v\n%s", err, out.String())
			}
			resumes.Add(1)
			rep, err = transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
			if err != nil || !rep.OK || !rep.Closed {
				t.Fatalf("after the resume: %+v", rep.FirstFailure())
			}
			if n >= len(rep.RawEntries) || leafHex(rep.RawEntries[n]) != m[2] {
				lost.Add(1)
				t.Fatalf("entry %d, durable before the kill, is not in the final log as it was", n)
			}
			resumed := false
			for _, raw := range rep.RawEntries[n+1:] {
				if e, _ := event.Parse(raw); e != nil && e.Kind() == event.KindResumed {
					resumed = true
				}
			}
			if !resumed {
				t.Fatal("the resume is not in the log")
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("crash sweep over %d entries: %d kills, %d resumes to a closed, verifying log, %d entries lost", total, kills.Load(), resumes.Load(), lost.Load())
	})
}

func leafHex(entry []byte) string {
	h := transparency.LeafHash(entry)
	return hex.EncodeToString(h[:])
}

// TestCrashRandomMoments kills the unattended signing rehearsal with SIGKILL
// at random moments (not at entry boundaries: mid-append, mid-signature,
// mid-checkpoint), six times. After each kill the folder verifies as an
// interrupted log; the same command resumes it to a closed log that
// verifies, holding every entry the console had reported durable and every
// entry integrated before the kill, unchanged. The
// seed is logged, so that a failure can be replayed.
func TestCrashRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and resumes whole ceremonies")
	}
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("KEYCEREMONY_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (KEYCEREMONY_CRASH_SEED replays it)", seed)
	rnd := mrand.New(mrand.NewPCG(seed, seed))
	durable := regexp.MustCompile(`\[LOG \] entry (\d+) durable`)
	for i := 0; i < 6; i++ {
		delay := time.Duration(100+rnd.IntN(3900)) * time.Millisecond
		dir := filepath.Join(t.TempDir(), "log")
		cmd := exec.Command(os.Args[0], "demo", "--script", "signing", "--auto", "--plain", "--log", dir)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stdin = out, strings.NewReader("")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		acked := -1
		for _, m := range durable.FindAllStringSubmatch(out.String(), -1) {
			if n, _ := strconv.Atoi(m[1]); n > acked {
				acked = n
			}
		}
		if _, err := os.Stat(dir); err != nil {
			t.Logf("kill %d after %v: before the log was made", i+1, delay)
			continue
		}
		rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{AllowInterrupted: true})
		if err != nil || !rep.OK {
			t.Fatalf("kill %d after %v: the folder: %v %+v", i+1, delay, err, rep.FirstFailure())
		}
		var rout bytes.Buffer
		if err := run(ctx, []string{"demo", "--script", "signing", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &rout, io.Discard); err != nil {
			if strings.Contains(err.Error(), "holds a closed ceremony") {
				t.Logf("kill %d after %v: the ceremony had closed", i+1, delay)
				continue
			}
			t.Fatalf("kill %d after %v: resume: %v\n%s", i+1, delay, err, rout.String())
		}
		final, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
		if err != nil || !final.OK || !final.Closed {
			t.Fatalf("kill %d after %v: after the resume: %+v", i+1, delay, final.FirstFailure())
		}
		// Entries integrated before the kill are unchanged; those only in
		// the write-ahead journal were integrated by the resume: every
		// entry reported durable is there.
		for j := range rep.RawEntries {
			if !bytes.Equal(rep.RawEntries[j], final.RawEntries[j]) {
				t.Fatalf("kill %d: entry %d changed across the resume", i+1, j)
			}
		}
		if int(final.Size) <= acked {
			t.Fatalf("kill %d after %v: entry %d was reported durable, the resumed log holds %d", i+1, delay, acked, final.Size)
		}
		t.Logf("kill %d after %v: %d entries reported durable, %d in the log; resumed to %d entries, closed", i+1, delay, acked+1, rep.Size, final.Size)
	}
}
