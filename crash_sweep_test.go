package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

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
			cmd.Env = append(os.Environ(), mainEnv+"=1", fmt.Sprintf("%s=%d", transparency.CrashAfterEnv, n))
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
				if e, _ := transparency.ParseEntry(raw); e != nil && e.Kind == "ceremony.resumed" {
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
