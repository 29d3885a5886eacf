package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keyceremony/keyceremony/internal/logtest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/rogpeppe/go-internal/testscript"
	"k8s.io/klog/v2"
)

// mainEnv makes the test binary behave as the keyceremony command, for tests
// that kill it.
const mainEnv = "KEYCEREMONY_TEST_MAIN"

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if os.Getenv(mainEnv) != "" {
		// The command, and the crash a test asks of it.
		var h hooks
		if crash := logtest.CrashAfterFromEnv(); crash != nil {
			h.afterDurable = func(a transparency.Appended) { crash(a.Index, a.Leaf) }
		}
		err := runWith(context.Background(), h, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			os.Stderr.WriteString("keyceremony: " + err.Error() + "\n")
		}
		os.Exit(exitCode(err))
	}
	testscript.Main(m, map[string]func(){
		"keyceremony": func() {
			err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			if err != nil {
				os.Stderr.WriteString("keyceremony: " + err.Error() + "\n")
			}
			os.Exit(exitCode(err))
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each is a
// txtar file of commands and expected output (see testscript).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// flipbyte FILE OFFSET: change one byte of a file, as a tamperer would.
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: flipbyte FILE OFFSET")
				}
				p := ts.MkAbs(args[0])
				b, err := os.ReadFile(p)
				ts.Check(err)
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				b[off] ^= 0x20
				ts.Check(os.WriteFile(p, b, 0o644))
			},
			// film LOG OUT [forge SIZE | text TEXT]: a recording of a
			// screen showing each of the log's archived checkpoints in
			// turn, as the console draws its codes (1280×720, H.264 CRF
			// 28); forge puts in place of checkpoint SIZE the checkpoint
			// of a rewritten log, signed with the log's key (LOG.key);
			// text shows only a code holding TEXT.
			"film": filmCmd,
		},
		Setup: func(env *testscript.Env) error {
			if err := copyTree(filepath.Join("..", "..", "dnssec", "testdata"), filepath.Join(env.WorkDir, "iana")); err != nil {
				return err
			}
			if err := copyTree(filepath.Join("testdata", "profile"), filepath.Join(env.WorkDir, "profile")); err != nil {
				return err
			}
			return copyTree(filepath.Join("..", "..", "transparency", "testdata", "tessera-log"), filepath.Join(env.WorkDir, "tessera-log"))
		},
	})
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// TestExitCodes checks the contract's exit codes for each kind of failure.
func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "tessera-log")
	if err := copyTree(filepath.Join("..", "..", "transparency", "testdata", "tessera-log"), log); err != nil {
		t.Fatal(err)
	}
	key := "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
	tampered := filepath.Join(t.TempDir(), "tampered")
	if err := copyTree(filepath.Join("..", "..", "transparency", "testdata", "tessera-log"), tampered); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(tampered, "tile/entries/000.p/15"))
	b[3] ^= 1
	os.WriteFile(filepath.Join(tampered, "tile/entries/000.p/15"), b, 0o644)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"a changed entry", []string{"verify", tampered, "--raw", "--key", key}, exitBadInput},
		{"verified", []string{"verify", log, "--raw", "--key", key}, exitOK},
		{"help", []string{"verify", "-h"}, exitOK},
		{"wrong origin", []string{"verify", log, "--raw", "--key", key, "--origin", "x"}, exitBadInput},
		{"not a ceremony log", []string{"verify", log, "--key", key}, exitBadInput},
		{"no folder", []string{"verify"}, exitUsage},
		{"a KSR that fails its checks", []string{"ksr", "check", "../../dnssec/testdata/ksr.bad.xml", "--now", "2017-11-01"}, exitBadInput},
		{"a KSR that passes", []string{"ksr", "check", "../../dnssec/testdata/ksr-root-2017-q2-0.xml", "--now", "2017-02-01"}, exitOK},
		{"a missing KSR", []string{"ksr", "check", "nope.xml"}, exitUsage},
		{"a bad --now", []string{"ksr", "check", "../../dnssec/testdata/ksr.bad.xml", "--now", "yesterday"}, exitUsage},
		{"an SKR that verifies", []string{"skr", "verify", "../../dnssec/testdata/skr-root-2017-q1-0.xml", "--anchor", "../../dnssec/testdata/root-anchors-2017.xml"}, exitOK},
		{"an SKR against the wrong anchor", []string{"skr", "verify", "../../dnssec/testdata/skr-root-2010-q1-0.xml", "--anchor", "../../dnssec/testdata/root-anchors-2017.xml"}, exitBadInput},
		{"ksr sign with an unknown schema", []string{"ksr", "sign", "../../dnssec/testdata/ksr-root-2010-q1-0.xml", "--profile", filepath.Join("testdata", "profile", "rehearsal.yaml"), "--schema", "nope", "--now", "2009-12-25", "--out", filepath.Join(t.TempDir(), "x.xml"), "--yes"}, exitUsage},
		{"ksr sign of a KSR that fails", []string{"ksr", "sign", "../../dnssec/testdata/ksr.bad.xml", "--profile", filepath.Join("testdata", "profile", "rehearsal.yaml"), "--now", "2017-11-01", "--out", filepath.Join(t.TempDir(), "y.xml"), "--yes"}, exitBadInput},
		{"ksr sign with a KSR as the previous SKR", []string{"ksr", "sign", "../../dnssec/testdata/ksr-root-2010-q1-0.xml", "--profile", filepath.Join("testdata", "profile", "rehearsal.yaml"), "--previous-skr", "../../dnssec/testdata/ksr-root-2010-q1-0.xml", "--now", "2009-12-25", "--out", filepath.Join(t.TempDir(), "p.xml"), "--yes"}, exitUsage},
		{"skr verify with an SKR as its KSR", []string{"skr", "verify", "../../dnssec/testdata/skr-root-2017-q1-0.xml", "--ksr", "../../dnssec/testdata/skr-root-2017-q1-0.xml", "--anchor", "../../dnssec/testdata/root-anchors-2017.xml"}, exitUsage},
		{"a valid script", []string{"script", "check", "../../scripts/demo.yaml"}, exitOK},
		{"a missing script", []string{"script", "check", "nope.yaml"}, exitUsage},
		{"skr verify without an anchor", []string{"skr", "verify", "../../dnssec/testdata/skr-root-2017-q1-0.xml"}, exitUsage},
		{"bad flag", []string{"verify", log, "--frob"}, exitUsage},
		{"bad key", []string{"verify", log, "--key", "nonsense"}, exitUsage},
		{"unknown command", []string{"nonsense"}, exitUsage},
		{"no command", nil, exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(ctx, c.args, nil, io.Discard, io.Discard)
			if got := exitCode(err); got != c.code {
				t.Fatalf("exit %d (%v), want %d", got, err, c.code)
			}
		})
	}
}

// TestDemoKilledAndResumed kills `demo --auto` with SIGKILL part-way, at a
// different entry each time, and runs it again on the same folder: the
// ceremony resumes where the log says it stopped, closes, and verifies.
func TestDemoKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and resumes whole ceremonies")
	}
	for _, killAfter := range []int{3, 11, 16, 24, 33} {
		t.Run(fmt.Sprintf("after entry %d", killAfter), func(t *testing.T) {
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
			sc := bufio.NewScanner(out)
			logged := 0
			for sc.Scan() {
				if strings.Contains(sc.Text(), "[LOG ] entry") {
					if logged++; logged == killAfter {
						cmd.Process.Signal(syscall.SIGKILL)
						break
					}
				}
			}
			cmd.Wait()
			if logged != killAfter {
				t.Fatalf("the demo ended after %d entries, before the kill", logged)
			}
			var stdout bytes.Buffer
			err = run(context.Background(), []string{"demo", "--auto", "--log", dir}, nil, &stdout, io.Discard)
			if err != nil {
				t.Fatalf("resume: %v\n%s", err, stdout.String())
			}
			if !strings.Contains(stdout.String(), "resuming the ceremony logged in") || !strings.Contains(stdout.String(), "The ceremony is closed") {
				t.Fatalf("resume output:\n%s", stdout.String())
			}
			stdout.Reset()
			if err := run(context.Background(), []string{"verify", dir}, nil, &stdout, io.Discard); err != nil {
				t.Fatalf("verify after resume: %v\n%s", err, stdout.String())
			}
			if !strings.Contains(stdout.String(), "18 of 18 steps done") || !strings.Contains(stdout.String(), "1 resume, ceremony closed") {
				t.Fatalf("verify:\n%s", stdout.String())
			}
		})
	}
}
