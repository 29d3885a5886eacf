package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPrivateFiles: the files that hold secrets are their owner's only. An
// officer replacement rehearsal writes the log key 0600, the new card files
// 0600 in a 0700 folder; the published log and roster stay readable.
func TestPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	if err := run(context.Background(), []string{"demo", "--script", "officers", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir + ".key"); m != 0o600 {
		t.Errorf("the log key is %o", m)
	}
	if m := mode(dir + "-cards-2"); m != 0o700 {
		t.Errorf("the card folder is %o", m)
	}
	cards, _ := filepath.Glob(filepath.Join(dir+"-cards-2", "*"))
	if len(cards) == 0 {
		t.Fatal("no card file")
	}
	for _, c := range cards {
		if m := mode(c); m != 0o600 {
			t.Errorf("%s is %o", c, m)
		}
	}
	if m := mode(dir + "-roster-2.yaml"); m&0o044 == 0 {
		t.Errorf("the roster (public) is %o", m)
	}
}

// TestNoCoreDumps: a ceremony's process may write no core file (soft and
// hard limits 0, whatever it inherited).
func TestNoCoreDumps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(os.Args[0], "demo", "--auto", "--log", dir)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "[LOG ] entry") {
	}
	limits, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/limits")
	if err != nil {
		t.Skip("no /proc here")
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); f[4] != "0" || f[5] != "0" {
				t.Fatalf("core files allowed: %q", line)
			}
			return
		}
	}
	t.Fatal("no core file limit listed")
}
