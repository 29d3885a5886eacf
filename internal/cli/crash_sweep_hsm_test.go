package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/logtest"
	"github.com/keyceremony/keyceremony/transparency"
)

// lockedBuffer is a process's output, read while it is written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// drive runs cmd (the line-by-line console in another process) and answers
// each prompt it writes as answer says, until it exits: the people at the
// table, for a process that can be killed.
func drive(t *testing.T, cmd *exec.Cmd, answer func(prompt string) (string, bool)) (string, error) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout = out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	answered := 0
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(10 * time.Millisecond):
		}
		s := out.String()
		last := s[strings.LastIndex(s, "\n")+1:]
		if len(s) == answered || !strings.HasSuffix(last, ": ") {
			continue
		}
		a, ok := answer(last)
		if !ok {
			in.Close()
			continue
		}
		out.Write([]byte("\n")) // as a terminal echoes the line's end
		answered = len(s) + 1
		io.WriteString(in, a+"\n")
	}
}

// TestCrashSweepHSM is the crash sweep on SoftHSM2: the quarterly signing
// script run with `keyceremony run` on a PKCS#11 token, the officers' card
// files and their passphrases, killed with SIGKILL the moment entry N is
// durable (every eighth entry and the close; every one with
// KEYCEREMONY_SWEEP=all), then
// run again with the same command: the cards are presented again, the HSM
// is activated again, and the ceremony closes. The final log verifies and
// holds entry N as announced before the kill; entries lost must be 0; the
// SKR carries IANA's signatures of the 2010Q1 KSR made by the token.
func TestCrashSweepHSM(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and resumes whole ceremonies")
	}
	dir, profile, cardsDir, pass := provisionedHSM(t, "sweep-hsm")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "signing.yaml"))
	os.WriteFile(filepath.Join(dir, "signing.yaml"), script, 0o644)
	ksr := filepath.Join(dir, "ksr-root-2010-q1-0.xml")
	b, _ := os.ReadFile(filepath.Join("..", "..", "dnssec", "testdata", "ksr-root-2010-q1-0.xml"))
	os.WriteFile(ksr, b, 0o644)
	secrets := map[string]string{}
	for i := 1; i <= 7; i++ {
		secrets[fmt.Sprintf("CO%d", i)] = pass(i)
	}
	command := func(logDir string, crashAt int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "run", "--script", filepath.Join(dir, "signing.yaml"), "--profile", profile, "--log", logDir,
			"--ksr", ksr, "--skr", logDir+"-skr.xml", "--cards", cardsDir, "--now", "2009-12-25", "--plain", "--rehearsal")
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		if crashAt >= 0 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", logtest.CrashAfterEnv, crashAt))
		}
		return cmd
	}
	// The officers CO2, CO4 and CO6, whenever cards are asked for.
	table := func() func(string) (string, bool) {
		return presenting(strings.Split(strings.Repeat("2 4 6 ", 6), " ")[:18], secrets)
	}
	ceremony := func(logDir string, crashAt int) (string, error) {
		var stderr bytes.Buffer
		cmd := command(logDir, crashAt)
		cmd.Stderr = &stderr
		out, err := drive(t, cmd, table())
		return out + stderr.String(), err
	}
	full := filepath.Join(t.TempDir(), "log")
	if out, err := ceremony(full, -1); err != nil || !strings.Contains(out, "The ceremony is closed: ") {
		t.Fatalf("the uninterrupted run: %v\n%s", err, out)
	}
	rep, err := transparency.Verify(os.DirFS(full), transparency.VerifyOptions{})
	if err != nil || !rep.OK || !rep.Closed {
		t.Fatal("the uninterrupted run does not verify")
	}
	want, _ := parseFile("../../dnssec/testdata/skr-root-2010-q1-0.xml")
	total := int(rep.Size)
	stride := 8
	if os.Getenv("KEYCEREMONY_SWEEP") == "all" {
		stride = 1
	}
	announced := regexp.MustCompile(`crashed after entry (\d+), leaf ([0-9a-f]{64})`)
	kills, resumes := 0, 0
	var at []int
	for n := 2; n < total-1; n += stride {
		at = append(at, n)
	}
	// And the close itself: killed before any officer cosigned the final
	// checkpoint, the console started again asks for their cards.
	at = append(at, total-1)
	for _, n := range at {
		logDir := filepath.Join(t.TempDir(), "log")
		out, err := ceremony(logDir, n)
		m := announced.FindStringSubmatch(out)
		if err == nil || m == nil || m[1] != strconv.Itoa(n) {
			t.Fatalf("entry %d: the run was not killed there: %v\n%s", n, err, out)
		}
		kills++
		if rep, err := transparency.Verify(os.DirFS(logDir), transparency.VerifyOptions{AllowInterrupted: true}); err != nil || !rep.OK {
			t.Fatalf("entry %d: after the kill: %+v", n, rep.FirstFailure())
		}
		if out, err := ceremony(logDir, -1); err != nil || !strings.Contains(out, "The ceremony is closed: ") {
			t.Fatalf("entry %d: the resume: %v\n%s", n, err, out)
		}
		resumes++
		rep, err := transparency.Verify(os.DirFS(logDir), transparency.VerifyOptions{})
		if err != nil || !rep.OK || !rep.Closed {
			t.Fatalf("entry %d: after the resume: %+v", n, rep.FirstFailure())
		}
		if n >= len(rep.RawEntries) || leafHex(rep.RawEntries[n]) != m[2] {
			t.Fatalf("entry %d, durable before the kill, is not in the final log as it was", n)
		}
		var vout bytes.Buffer
		if err := run(context.Background(), []string{"verify", logDir, "--require-cosigners", "3"}, nil, &vout, io.Discard); err != nil {
			t.Fatalf("entry %d: the officers' cosignatures after the resume: %v\n%s", n, err, vout.String())
		}
		skr, err := parseFile(logDir + "-skr.xml")
		if err != nil {
			t.Fatalf("entry %d: the SKR: %v", n, err)
		}
		for i, b := range skr.Response.Bundles {
			if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
				t.Fatalf("entry %d: bundle %d's signature is not IANA's", n, i+1)
			}
		}
	}
	// Any entry lost fails the sweep above: here, none was.
	t.Logf("crash sweep on SoftHSM2 over %d entries: %d kills, %d resumes to a closed, verifying log, 0 entries lost", total, kills, resumes)
	var vout bytes.Buffer
	if err := run(context.Background(), []string{"verify", full}, nil, &vout, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, vout.String())
	}
}
