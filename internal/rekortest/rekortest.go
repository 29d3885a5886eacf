// Package rekortest runs a real Rekor v1 on loopback for tests, with
// transparency/anchor/testdata/rekor-local.sh (PostgreSQL, Trillian and
// rekor-server, built once into ~/.cache/keyceremony-tools/bin).
package rekortest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Start starts a local Rekor and returns its URL; it is stopped when the
// test ends. It needs root (PostgreSQL runs as its own user) and the tools
// the script builds; without them the test is skipped, except under CI
// where the script builds them (several minutes, once per machine).
func Start(t testing.TB) string {
	t.Helper()
	tools := os.Getenv("KEYCEREMONY_TOOLS")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "keyceremony-tools", "bin")
	}
	_, err := os.Stat(filepath.Join(tools, "rekor-server"))
	if (err != nil || os.Geteuid() != 0) && os.Getenv("CI") == "" {
		t.Skip("a local Rekor needs root and the tools that transparency/anchor/testdata/rekor-local.sh builds")
	}
	script := ""
	dir, _ := os.Getwd()
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			script = filepath.Join(dir, "transparency", "anchor", "testdata", "rekor-local.sh")
			break
		}
	}
	// One local Rekor at a time on this machine: its ports are fixed, and
	// go test runs packages in parallel.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "keyceremony-rekor.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // runs last: after the stop below
	run := filepath.Join(os.TempDir(), "keyceremony-rekor-"+filepath.Base(t.TempDir()))
	out, err := exec.Command(script, "start", run).CombinedOutput()
	t.Cleanup(func() {
		exec.Command(script, "stop", run).Run()
		os.RemoveAll(run)
	})
	if err != nil {
		t.Fatalf("local Rekor: %v\n%s", err, out)
	}
	return "http://127.0.0.1:3000"
}
