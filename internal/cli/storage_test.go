package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/internal/logtest"
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
		cmd.Env = append(os.Environ(), mainEnv+"=1", fmt.Sprintf("%s=%d", logtest.CrashAfterEnv, 30))
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

// TestFileFaults injects a failing disk under the signing rehearsal through
// the fault-injecting file layer (internal/durable): an fsync of the log's
// write-ahead journal, an fsync of an archived checkpoint, and the rename
// that puts the SKR in place each fail once with EIO. Each time the command
// stops with one line naming the failure and the operational exit code,
// nothing half-written is left (no temporary file, no partial SKR), the log
// verifies as an interrupted log holding every step logged before, and the
// same command then resumes the ceremony to a closed log that verifies.
func TestFileFaults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, op, file string
		nth            int
		want           string
	}{
		{"journal fsync", durable.OpFsync, "log/.state/", 25, "the disk holding the log failed (I/O error)"},
		{"checkpoint fsync", durable.OpFsync, "log/checkpoints/", 12, "the disk holding the log failed (I/O error)"},
		{"SKR rename", durable.OpRename, "log-skr.xml", 1, "input/output error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			logDir := filepath.Join(dir, "log")
			args := []string{"demo", "--script", "signing", "--auto", "--plain", "--log", logDir}
			faults := &durable.Faults{}
			faults.Inject(c.op, filepath.Join(dir, c.file), c.nth)
			var out bytes.Buffer
			err := runWith(ctx, hooks{disk: durable.Disk{Faults: faults}}, args, strings.NewReader(""), &out, io.Discard)
			t.Logf("%s: %v", c.name, err)
			if exitCode(err) != exitOperational || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("a failed %s: exit %d, %v\n%s", c.op, exitCode(err), err, out.String())
			}
			var left []string
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), ".tmp-") {
					left = append(left, p)
				}
				return nil
			})
			if len(left) > 0 {
				t.Fatalf("half-written files left: %v", left)
			}
			if _, err := os.Stat(logDir + "-skr.xml"); err == nil && c.op == durable.OpRename {
				t.Fatal("an SKR was written although its rename failed")
			}
			rep, err := transparency.Verify(os.DirFS(logDir), transparency.VerifyOptions{AllowInterrupted: true})
			if err != nil || !rep.OK || rep.Closed {
				t.Fatalf("the interrupted log: %+v", rep.FirstFailure())
			}
			logged := rep.Size
			out.Reset()
			if err := run(ctx, args, strings.NewReader(""), &out, io.Discard); err != nil || !strings.Contains(out.String(), "resuming the ceremony") {
				t.Fatalf("resume: %v\n%s", err, out.String())
			}
			var vout bytes.Buffer
			if err := run(ctx, []string{"verify", logDir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "ceremony closed") {
				t.Fatalf("verify after the resume: %v\n%s", err, vout.String())
			}
			t.Logf("%s: stopped with %d entries logged, resumed to a closed log", c.name, logged)
		})
	}
}
