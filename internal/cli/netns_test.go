package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/transparency"

	"github.com/keyceremony/keyceremony/scripts"
)

// TestNoNetwork runs every built-in script's rehearsal to its close inside
// an empty network namespace (unshare -n: not even loopback is up), under
// strace: the ceremony needs no network, and opens no socket at all.
func TestNoNetwork(t *testing.T) {
	for _, tool := range []string{"unshare", "strace"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; make test installs it", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("unshare -n: %v (the tests run as root)", err)
		}
		t.Skipf("unshare -n: %v", err)
	}
	t.Run("the full-screen console", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		trace := filepath.Join(dir, "strace")
		// script(1) gives the console a terminal of its own, 160×45.
		inner := fmt.Sprintf("stty cols 160 rows 45; exec %q demo --auto --log %q", os.Args[0], filepath.Join(dir, "log"))
		cmd := exec.Command("unshare", "-n", "strace", "-f", "-qq", "-e", "trace=socket,connect", "-e", "signal=none", "-o", trace,
			"script", "-qec", inner, "/dev/null")
		cmd.Env = append(os.Environ(), mainEnv+"=1", "TERM=xterm-256color")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the console without a network: %v\n%s", err, out)
		}
		rep, err := transparency.Verify(os.DirFS(filepath.Join(dir, "log")), transparency.VerifyOptions{})
		if err != nil || !rep.OK || !rep.Closed {
			t.Fatalf("the console's log: %v %+v", err, rep.FirstFailure())
		}
		calls, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		if s := socketCalls(calls); s != "" {
			t.Fatalf("the console opened sockets:\n%s", s)
		}
	})
	for _, name := range scripts.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			trace := filepath.Join(dir, "strace")
			cmd := exec.Command("unshare", append([]string{"-n", "strace", "-f", "-qq", "-e", "trace=socket,connect", "-e", "signal=none", "-o", trace,
				os.Args[0], "demo", "--script", name, "--auto", "--plain", "--log", filepath.Join(dir, "log")}, rehearsalBefore(t, name)...)...)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "The ceremony is closed") {
				t.Fatalf("%s without a network: %v\n%s", name, err, out)
			}
			calls, err := os.ReadFile(trace)
			if err != nil {
				t.Fatal(err)
			}
			if s := socketCalls(calls); s != "" {
				t.Fatalf("%s opened sockets:\n%s", name, s)
			}
		})
	}
}

// socketCalls are the socket and connect calls in an strace log. Other lines
// strace may write, such as a thread it detached from mid-call
// ("??? ( <detached ...>"), are not calls.
func socketCalls(trace []byte) string {
	var out []string
	for _, l := range strings.Split(string(trace), "\n") {
		if strings.Contains(l, "socket(") || strings.Contains(l, "connect(") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestSocketCalls(t *testing.T) {
	trace := "28277 ???( <detached ...>\n28280 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3\n28280 connect(3, {sa_family=AF_INET}, 16) = -1 ENETUNREACH\n"
	if got := socketCalls([]byte(trace)); strings.Count(got, "\n") != 1 || !strings.Contains(got, "socket(") || !strings.Contains(got, "connect(") || strings.Contains(got, "detached") {
		t.Fatalf("socketCalls: %q", got)
	}
}
