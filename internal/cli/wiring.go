package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/ui"

	"github.com/keyceremony/keyceremony/transparency"
	"k8s.io/klog/v2"
)

// quietLibraries sends the diagnostics of the log library (klog, slog)
// away from the terminal: held in memory (bounded) until attach puts them,
// and all that follow, in the log's private .state folder. A command calls
// attach only once the folder is accepted as its log: a folder refused is
// left untouched.
func quietLibraries() (restore func(), attach func(logDir string)) {
	w := &diagnostics{}
	klog.LogToStderr(false)
	klog.SetOutput(w)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, nil)))
	return func() {
		klog.Flush()
		slog.SetDefault(prev)
		klog.SetOutput(io.Discard)
		w.close()
	}, w.attach
}

// diagnostics is where the libraries' diagnostics go: a bounded buffer,
// then a file.
type diagnostics struct {
	mu  sync.Mutex
	buf []byte
	f   *os.File
}

const maxHeldDiagnostics = 64 << 10

func (d *diagnostics) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		return d.f.Write(p)
	}
	if len(d.buf)+len(p) <= maxHeldDiagnostics {
		d.buf = append(d.buf, p...)
	}
	return len(p), nil
}

func (d *diagnostics) attach(logDir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil || os.MkdirAll(filepath.Join(logDir, ".state"), 0o755) != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(logDir, ".state", "diagnostics.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	f.Write(d.buf)
	d.f, d.buf = f, nil
}

func (d *diagnostics) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	d.buf = nil
}

// openErr maps the log's refusals to exit codes and one line of advice.
func openErr(err error) error {
	switch {
	case errors.Is(err, transparency.ErrBrokenLog):
		return badInput(err)
	case errors.Is(err, transparency.ErrNoLog), errors.Is(err, transparency.ErrLogExists),
		errors.Is(err, transparency.ErrNotLog), errors.Is(err, transparency.ErrLogBusy):
		return usageErr("%v", err)
	}
	return operational(fmt.Errorf("open log: %w", err))
}

func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "keyceremony " + bi.Main.Version
	}
	return "keyceremony (devel)"
}

// playOptions say how a ceremony is shown: line by line (plain, or when
// stdout is not a terminal) or in the full-screen console.
type playOptions struct {
	plain, auto, rehearsal bool
	theme                  string
}

// play runs a ceremony's session to its end or until the operator quits
// (ui.ErrQuit), and returns the ceremony as it was left. The session is
// owned by a Driver meanwhile: the console and the prompts see snapshots.
// On a terminal, line-by-line prompts read passphrases and PINs without
// echo.
func play(ctx context.Context, sess *session.Session, o playOptions, stdin io.Reader, stdout io.Writer) (session.Snapshot, error) {
	d := session.NewDriver(sess)
	err := playWith(ctx, d, o, stdin, stdout)
	d.Close()
	return d.Snapshot(), err
}

func playWith(ctx context.Context, d *session.Driver, o playOptions, stdin io.Reader, stdout io.Writer) error {
	if !o.plain && isTerminal(stdout) {
		return ui.RunConsole(ctx, d, ui.ConsoleOptions{In: stdin, Out: stdout, Auto: o.auto, Theme: o.theme, Rehearsal: o.rehearsal})
	}
	pl := &ui.Plain{Driver: d, In: stdin, Out: stdout, Auto: o.auto}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pl.ReadSecret = func(prompt string) (string, error) {
			fmt.Fprintf(stdout, "%s: ", prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stdout)
			return string(b), err
		}
	}
	return pl.Run(ctx)
}

// closer closes a log with a bounded wait for its last checkpoint; it may be
// called more than once.
func closer(l *transparency.Log) func() {
	return func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Close(cctx)
	}
}

// storageHint says what to do when the log's storage failed: every step
// logged before is safe, and the same command resumes once the cause is
// gone.
func storageHint(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ENOSPC) || strings.Contains(msg, "no space left on device"):
		return fmt.Errorf("the disk holding the log is full: free space there, then run the same command to resume; every step logged before is safe (%w)", err)
	case errors.Is(err, syscall.EROFS) || strings.Contains(msg, "read-only file system"):
		return fmt.Errorf("the log's folder is on a read-only file system: make it writable, then run the same command to resume; every step logged before is safe (%w)", err)
	case errors.Is(err, syscall.EIO) || strings.Contains(msg, "input/output error"):
		return fmt.Errorf("the disk holding the log failed (I/O error): copy the folder to a sound disk and resume there with the same command; every step logged before is safe (%w)", err)
	}
	return err
}

// maxInput is the largest input file a command reads: a KSR or SKR, a
// script, a profile, a roster, a policy, a key. Real ones are tens of KB.
const maxInput = 1 << 20

// readInput reads an input file of at most maxInput bytes; a larger one is
// refused before it is read into memory.
func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s: larger than %d bytes, which no ceremony input is; check the file", path, maxInput)
	}
	return b, nil
}
