package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/transparency"
)

// smallDisk mounts a tmpfs of the given size: a real file system that runs
// out of space. It needs root; without it the test is skipped, except under
// CI where it fails.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs: %v %s (the tests run as root)", err, out)
		}
		t.Skipf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestStorageFaults runs the signing rehearsal on a real file system that
// runs out of space, and on one made read-only mid-ceremony: the command
// stops with one clear line and the operational exit code, the log keeps
// every step logged before and verifies as an interrupted log, and once
// space is back (or the folder writable) the same command resumes the
// ceremony to a closed log that verifies, with no temporary file left.
func TestStorageFaults(t *testing.T) {
	ctx := context.Background()
	demo := func(dir string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, []string{"demo", "--script", "signing", "--auto", "--plain", "--log", filepath.Join(dir, "log")}, strings.NewReader(""), &out, io.Discard)
		return out.String(), err
	}
	check := func(dir string, closed bool) {
		t.Helper()
		rep, err := transparency.Verify(os.DirFS(filepath.Join(dir, "log")), transparency.VerifyOptions{AllowInterrupted: !closed})
		if err != nil || !rep.OK || rep.Closed != closed {
			t.Fatalf("the log (closed %v): %+v", closed, rep.FirstFailure())
		}
		for _, c := range rep.Checks {
			if closed && c.Warn {
				t.Fatalf("a warning on the resumed log: %s: %s", c.ID, c.Detail)
			}
		}
	}
	t.Run("disk full", func(t *testing.T) {
		dir := smallDisk(t, "1m")
		out, err := demo(dir)
		if exitCode(err) != exitOperational || !strings.Contains(err.Error(), "the disk holding the log is full: free space there, then run the same command to resume") {
			t.Fatalf("a full disk: %v\n%s", err, out)
		}
		check(dir, false)
		if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
		if out, err := demo(dir); err != nil || !strings.Contains(out, "resuming the ceremony") {
			t.Fatalf("resume once space is back: %v\n%s", err, out)
		}
		check(dir, true)
	})
	t.Run("read-only", func(t *testing.T) {
		dir := smallDisk(t, "16m")
		cmd := exec.Command(os.Args[0], "demo", "--script", "signing", "--auto", "--plain", "--log", filepath.Join(dir, "log"))
		cmd.Env = append(os.Environ(), mainEnv+"=1", fmt.Sprintf("%s=%d", transparency.CrashAfterEnv, 30))
		cmd.Stdin = strings.NewReader("")
		cmd.Run() // killed after entry 30
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v %s", err, out)
		}
		out, err := demo(dir)
		if exitCode(err) == 0 || strings.Contains(out, "The ceremony is closed") {
			t.Fatalf("a read-only folder: %v\n%s", err, out)
		}
		if out, err := exec.Command("mount", "-o", "remount,rw", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
		if out, err := demo(dir); err != nil || !strings.Contains(out, "resuming the ceremony") {
			t.Fatalf("resume once writable: %v\n%s", err, out)
		}
		check(dir, true)
	})
}
