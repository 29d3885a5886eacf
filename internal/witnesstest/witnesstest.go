// Package witnesstest runs a real C2SP tlog witness for tests: litewitness
// from filippo.io/torchwood v0.6.1 (make test installs it in .tools/bin),
// its key in its own ssh-agent, on loopback.
package witnesstest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Tool finds a program the witness tests run: on PATH, or in the module's
// .tools/bin, where make test installs litewitness and witnessctl. Without
// it the test is skipped, except under CI where it fails.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir, _ := os.Getwd()
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			break
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; make test installs it", name)
	}
	t.Skipf("%s is not installed (make test installs it)", name)
	return ""
}

// Start runs litewitness (filippo.io/torchwood v0.6.1) on loopback,
// its key held by its own ssh-agent, knowing the log of the given origin
// and key. It returns its URL and its cosignature verifier key; stop kills
// it (the log's later checkpoints then go unwitnessed).
func Start(t testing.TB, name, origin, logVKey string) (url, vkey string, stop func()) {
	t.Helper()
	lw, wctl := Tool(t, "litewitness"), Tool(t, "witnessctl")
	for _, p := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		Tool(t, p)
	}
	dir := t.TempDir()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	key, sock, db := filepath.Join(dir, "witness"), filepath.Join(dir, "agent.sock"), filepath.Join(dir, "witness.db")
	run(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key)
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	run([]string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", key)
	fp := strings.Fields(run(nil, "ssh-keygen", "-lf", key+".pub"))[1]
	run(nil, wctl, "add-log", "-db", db, "-origin", origin)
	run(nil, wctl, "add-key", "-db", db, "-origin", origin, "-key", logVKey)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	w := exec.Command(lw, "-db", db, "-key", fp, "-name", name, "-ssh-agent", sock, "-listen", addr)
	stderr, _ := w.StderrPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() { w.Process.Kill(); w.Wait() }
	t.Cleanup(stop)
	sc := bufio.NewScanner(stderr)
	vkeyRE := regexp.MustCompile(`vkey=(\S+)`)
	for sc.Scan() {
		if m := vkeyRE.FindStringSubmatch(sc.Text()); m != nil {
			vkey = m[1]
		}
		if strings.Contains(sc.Text(), "listening") {
			break
		}
	}
	if vkey == "" {
		t.Fatal("litewitness did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return "http://" + addr, vkey, stop
}

// CosignatureKey is a new witness's cosignature/v1 verifier key (type 0x04).
func CosignatureKey(t testing.TB, name string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	return name + "+" + hex.EncodeToString(h[:4]) + "+" + base64.StdEncoding.EncodeToString(key)
}
