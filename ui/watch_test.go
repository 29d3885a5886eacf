package ui

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/keyceremony/keyceremony/internal/logtest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/muesli/termenv"
)

// newWatcher follows dir with the test log key pinned, drawn in Ascii.
func newWatcher(t *testing.T, dir string, w, h int) *Watcher {
	t.Helper()
	key, err := transparency.ParseKey(testSKey)
	if err != nil {
		t.Fatal(err)
	}
	f, err := transparency.NewFollower(context.Background(), transparency.DirSource(dir), key.VKey, "")
	if err != nil {
		t.Fatal(err)
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	wt, err := NewWatcher(context.Background(), f, WatchOptions{Out: io.Discard, Theme: "dark", Renderer: r, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	wt.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return wt
}

// pollNow runs one poll as the program would.
func pollNow(t *testing.T, w *Watcher) {
	t.Helper()
	cmd := w.poll()
	if cmd == nil {
		t.Fatal("a poll is already running")
	}
	w.Update(cmd())
}

// TestWatcherFollowsTheConsole: the viewer, reading only the log folder,
// shows what the operator's console did, as the ceremony goes on: the
// current step, the step list, the quorum and the verified checkpoint; the
// same screen parts as the console (header, steps, checkpoint QR code).
func TestWatcherFollowsTheConsole(t *testing.T) {
	c := newConsole(t, 160, 45)
	press(t, c, "enter", "enter", "enter")
	w := newWatcher(t, c.drv.Log().Dir(), 160, 45)
	pollNow(t, w)
	s := screen2(w)
	for _, want := range []string{"VIEWER, read-only", "▶ STEP 1.4", "[ OK ] 1.3", "checkpoint 7 verified", "Quorum 0 of 3"} {
		if !strings.Contains(s, want) {
			t.Fatalf("viewer lacks %q:\n%s", want, s)
		}
	}
	press(t, c, "enter", "enter", "enter", "enter", "1", "f")
	pollNow(t, w)
	s = screen2(w)
	for _, want := range []string{"▶ STEP 3.1", "card CO2 (Bjorn Lindqvist) REJECTED: forged", "Quorum 1 of 3", "checkpoint 17 verified"} {
		if !strings.Contains(s, want) {
			t.Fatalf("viewer lacks %q after the console went on:\n%s", want, s)
		}
	}
	// The folder's name changes with each run; the rest of the screen not.
	norm := strings.Replace(s, c.drv.Log().Dir(), "LOGDIR", 1)
	lines := strings.Split(norm, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	norm = strings.Join(lines, "\n")
	golden.RequireEqual(t, []byte(norm))
	// The checkpoint's QR code on the viewer decodes to the checkpoint.
	w.Update(keyMsg("c"))
	text, err := decodeHalfBlocks(t, qrFromScreen(t, screen2(w)))
	if err != nil || text != string(w.f.Checkpoint().Note) {
		t.Fatalf("the viewer's QR code: %v", err)
	}
	w.Update(keyMsg("x"))
	w.Update(keyMsg("e"))
	if !strings.Contains(screen2(w), "[CARD REFUSED] CO2") {
		t.Fatalf("the viewer's exceptions:\n%s", screen2(w))
	}
}

// TestWatcherAlarm: a log served with another history raises the alarm
// across the screen; the viewer keeps showing what it verified last.
func TestWatcherAlarm(t *testing.T) {
	a := newConsole(t, 160, 45)
	press(t, a, "enter", "enter", "enter")
	b := newConsole(t, 160, 45)
	press(t, b, "enter", "x")
	typeText(t, b, "another history")
	press(t, b, "enter", "enter", "enter", "enter")
	served := filepath.Join(t.TempDir(), "served")
	logtest.CopyPublished(t, a.drv.Log().Dir(), served)
	w := newWatcher(t, served, 160, 45)
	pollNow(t, w)
	if w.Alarm() != nil {
		t.Fatal(w.Alarm())
	}
	logtest.CopyPublished(t, b.drv.Log().Dir(), served)
	pollNow(t, w)
	s := screen2(w)
	if w.Alarm() == nil || !strings.Contains(s, "!!! ALARM: consistency:") || !strings.Contains(s, "do not trust what it shows") ||
		!strings.Contains(s, "[FAIL] ALARM") || !strings.Contains(s, "▶ STEP 1.4") {
		t.Fatalf("no alarm for a rewritten log:\n%s", s)
	}
	// It stays, whatever the source serves next.
	logtest.CopyPublished(t, a.drv.Log().Dir(), served)
	pollNow(t, w)
	if !strings.Contains(screen2(w), "!!! ALARM") {
		t.Fatal("the alarm went away")
	}
}

func screen2(w *Watcher) string { return ansi.Strip(w.View()) }

// TestWatcherLongAlarm: an alarm quoting whatever a hostile server sent is
// cut to fit; the screen keeps its size at the smallest terminal.
func TestWatcherLongAlarm(t *testing.T) {
	c := newConsole(t, 100, 30)
	press(t, c, "enter")
	w := newWatcher(t, c.drv.Log().Dir(), MinWidth, MinHeight)
	pollNow(t, w)
	w.alarm = &transparency.Alarm{Check: transparency.CheckSignature, Detail: strings.Repeat("\\u2014 evil ", 500)}
	lines := strings.Split(w.View(), "\n")
	if len(lines) > MinHeight {
		t.Fatalf("%d lines on a %d-line terminal", len(lines), MinHeight)
	}
	for _, l := range lines {
		if ansi.StringWidth(l) > MinWidth {
			t.Fatalf("a line %d cells wide", ansi.StringWidth(l))
		}
	}
	if !strings.Contains(ansi.Strip(w.View()), "!!! ALARM: checkpoint.signature") {
		t.Fatal("the alarm is not shown")
	}
}

// TestWatcherSaysTheConsoleStopped: once the operator quits, the viewer
// says since when the console is stopped, and the HSM is shown inactive.
func TestWatcherSaysTheConsoleStopped(t *testing.T) {
	c := newConsole(t, 160, 45)
	press(t, c, "enter", "enter", "enter", "q", "y")
	if _, err := c.drv.Log().AwaitCheckpoint(context.Background(), c.drv.Log().Size()-1); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, c.drv.Log().Dir(), 160, 45)
	pollNow(t, w)
	s := screen2(w)
	for _, want := range []string{"[STOP] console stopped since 14:00:00 UTC", "console STOPPED at step 1.4", "HSM inactive"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the viewer lacks %q after a stop:\n%s", want, s)
		}
	}
}
