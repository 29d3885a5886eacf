package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/transparency/camera"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/transparency"
)

// qrFromScreen cuts the QR code out of a checkpoint screen: it starts with
// a line of quiet zone, all █, whose length is the code's width.
func qrFromScreen(t *testing.T, s string) []string {
	t.Helper()
	lines := strings.Split(s, "\n")
	for top, l := range lines {
		first := []rune(l)
		x := 0
		for x < len(first) && first[x] == ' ' {
			x++ // the margin left of the code
		}
		w := 0
		for x+w < len(first) && first[x+w] == '█' {
			w++
		}
		if w < 21 {
			continue
		}
		if top+(w+1)/2 > len(lines) {
			break
		}
		var qr []string
		for _, l := range lines[top : top+(w+1)/2] {
			r := []rune(l)
			if len(r) < x+w {
				t.Fatalf("a short QR line: %q", l)
			}
			qr = append(qr, string(r[x:x+w]))
		}
		return qr
	}
	t.Fatalf("no QR code on:\n%s", s)
	return nil
}

// TestConsoleCheckpointQR: c shows the latest signed checkpoint on its own,
// at 160×45 and at 240×67 (where it is drawn twice as large); the QR code
// drawn on the screen decodes back to the checkpoint's signed note, byte
// for byte; its root is beside it in hex groups and PGP words; any key
// returns to the ceremony without doing anything else.
func TestConsoleCheckpointQR(t *testing.T) {
	// At 320×90 the code is large enough for two cells a module.
	for _, size := range []struct{ w, h, scale int }{{160, 45, 1}, {320, 90, 2}} {
		c := newConsole(t, size.w, size.h)
		press(t, c, "enter", "enter", "enter")
		next, logged := c.state.Next, c.drv.Log().Size()
		press(t, c, "c")
		if mode(c) != "checkpoint" {
			t.Fatal("c does not show the checkpoint")
		}
		s := screen(c)
		if c.cp == nil || c.cp.Size != logged {
			t.Fatalf("the checkpoint shown does not cover the log (%d entries)", logged)
		}
		qr := qrFromScreen(t, s)
		if got := len([]rune(qr[0])); got%size.scale != 0 || got/size.scale < 25 {
			t.Fatalf("%d×%d: a QR code %d cells wide, want scale %d", size.w, size.h, got, size.scale)
		}
		text, err := decodeHalfBlocks(t, qr)
		if err != nil {
			t.Fatalf("%d×%d: the QR code on the screen does not decode: %v\n%s", size.w, size.h, err, s)
		}
		if text != string(c.cp.Note) {
			t.Fatalf("the QR code holds %q, the checkpoint is %q", text, c.cp.Note)
		}
		for _, want := range []string{"CHECKPOINT", "Signed checkpoint of the ceremony log", dnssec.GroupHex(c.cp.RootHex())[:39], "[ OK ] covers every entry so far", "ui-test.keyceremony.invalid/rehearsal"} {
			if !strings.Contains(s, want) {
				t.Fatalf("checkpoint screen lacks %q:\n%s", want, s)
			}
		}
		if lines := strings.Split(s, "\n"); len(lines) > size.h {
			t.Fatalf("%d lines on a %d-line terminal", len(lines), size.h)
		}
		press(t, c, "w")
		if mode(c) != "" || c.state.Next != next || c.drv.Log().Size() != logged {
			t.Fatal("the key that closed the checkpoint did something else")
		}
	}
}

// TestConsoleCheckpointTooSmall: at 100×30 the code does not fit; the text
// is shown with how large the terminal must be.
func TestConsoleCheckpointTooSmall(t *testing.T) {
	c := newConsole(t, 100, 30)
	press(t, c, "enter", "c")
	s := screen(c)
	if !strings.Contains(s, "The QR code needs") || !strings.Contains(s, "enlarge the terminal") || !strings.Contains(s, "Root (SHA-256)") {
		t.Fatalf("checkpoint at 100×30:\n%s", s)
	}
}

// TestConsoleActSplash: when an act ends the checkpoint takes the screen by
// itself; it gives it back after the splash time (on the clock's tick), or
// at any key, which does nothing else.
func TestConsoleActSplash(t *testing.T) {
	c := newConsole(t, 160, 45)
	c.opts.Splash = 5 * time.Second
	press(t, c, "enter", "enter", "enter")
	if mode(c) != "" {
		t.Fatal("a splash inside an act")
	}
	press(t, c, "enter") // step 1.4 done: act 1 is over
	if mode(c) != "checkpoint" || c.splashUntil.IsZero() {
		t.Fatal("no checkpoint at the end of act 1")
	}
	s := screen(c)
	if !strings.Contains(s, "CHECKPOINT") || !strings.Contains(s, "act 1 of 5 done · back to the ceremony by itself in 5 s") {
		t.Fatalf("act splash:\n%s", s)
	}
	golden.RequireEqual(t, []byte(s))
	clockOffset += 6 * time.Second
	defer func() { clockOffset = 0 }()
	c.Update(tickMsg(fixedClock()))
	if mode(c) != "" {
		t.Fatal("the splash does not end by itself")
	}
	// The next act's end, closed by a key this time.
	press(t, c, "enter", "enter", "enter")
	if mode(c) != "checkpoint" {
		t.Fatal("no checkpoint at the end of act 2")
	}
	next := c.state.Next
	c.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if mode(c) != "" || c.state.Next != next {
		t.Fatal("enter during the splash did more than close it")
	}
	// An abort in act 3 ends it, undone: the splash says so.
	press(t, c, "a")
	typeText(t, c, "the HSM does not start")
	press(t, c, "enter")
	typeText(t, c, "ABORT")
	press(t, c, "enter")
	if s := screen(c); mode(c) != "checkpoint" || !strings.Contains(s, "act 3 of 5 aborted at step 3.1") || strings.Contains(s, "act 3 of 5 done") {
		t.Fatalf("the splash after an abort:\n%s", s)
	}
}

// TestConsoleExceptionsView: e lists every exception and deviation so far,
// in time order, with its step.
func TestConsoleExceptionsView(t *testing.T) {
	c := newConsole(t, 160, 45)
	press(t, c, "e")
	if mode(c) != "exceptions" || !strings.Contains(screen(c), "No exception or deviation so far.") {
		t.Fatalf("e with none:\n%s", screen(c))
	}
	press(t, c, "esc")
	press(t, c, "x")
	typeText(t, c, "Camera 2 off")
	press(t, c, "enter")
	press(t, c, "s")
	typeText(t, c, "Safe 1 opened yesterday")
	press(t, c, "enter", "w")
	press(t, c, "e")
	s := screen(c)
	for _, want := range []string{"EXCEPTIONS", "14:00:00  [EXCEPTION] step 1.1: Camera 2 off", "[SKIPPED] step 1.1: Safe 1 opened yesterday (IW confirmed)"} {
		if !strings.Contains(s, want) {
			t.Fatalf("exceptions view lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "[EXCEPTION]") > strings.Index(s, "[SKIPPED]") {
		t.Fatal("not in time order")
	}
}

// TestConsoleReadAloud: what the script has read aloud is on the screen at
// its step. At 2.3 (show: log-key, first-checkpoint) the log key's
// fingerprint and the first checkpoint's root, in hex and words; after the
// close, the final checkpoint with the officers who cosigned it, what the
// script says comes after the close, and a QR code that decodes to the
// archived note with every officer's signature line.
func TestConsoleReadAloud(t *testing.T) {
	c := newConsole(t, 240, 67)
	for c.current().ID != "2.3" {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, c, c.awaitCheckpoint())
	first, err := c.drv.Log().Archived(1)
	if err != nil {
		t.Fatal(err)
	}
	fp := transparency.KeyFingerprint(c.drv.Log().VKey())
	s := screen(c)
	for _, want := range []string{"Log key fingerprint", dnssec.GroupHex(fp)[:39], strings.Fields(dnssec.PGPWords(mustHex(fp)))[0],
		"First checkpoint · size 1", "root " + dnssec.GroupHex(first.RootHex())[:34], strings.Fields(dnssec.PGPWords(first.Root[:]))[0]} {
		if !strings.Contains(s, want) {
			t.Fatalf("step 2.3 lacks %q:\n%s", want, s)
		}
	}
	for c.state.Awaiting() != session.NextDone {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, c, c.awaitCheckpoint())
	final, err := c.drv.Log().Archived(c.state.FinalSize)
	if err != nil {
		t.Fatal(err)
	}
	s = screen(c)
	for _, want := range []string{fmt.Sprintf("Final checkpoint · size %d · read it aloud", c.state.FinalSize), "root " + dnssec.GroupHex(final.RootHex())[:34],
		"Cosigned by officer/CO1, officer/CO2, officer/CO3", "After the close (not logged)", "seal their cards"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the close lacks %q:\n%s", want, s)
		}
	}
	press(t, c, "c")
	// The cosigned note is longer than one camera-safe code: its codes are
	// shown in turn, each for camera.Dwell, and read back joined.
	defer func() { clockOffset = 0 }()
	var asm camera.Assembler
	var text string
	for i := 0; text == "" && i < 2*camera.MaxParts; i++ {
		s := screen(c)
		payload, err := decodeHalfBlocks(t, qrFromScreen(t, s))
		if err != nil {
			t.Fatalf("the final QR code does not decode: %v\n%s", err, s)
		}
		part, err := camera.ParsePart([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		if part.Of > 1 && !strings.Contains(s, fmt.Sprintf("code %d of %d", part.N, part.Of)) {
			t.Fatalf("code %d of %d is not numbered on the screen:\n%s", part.N, part.Of, s)
		}
		note, err := asm.Add(part)
		if err != nil {
			t.Fatal(err)
		}
		text = string(note)
		clockOffset += camera.Dwell
		c.Update(tickMsg(fixedClock()))
	}
	if text != string(final.Note) || strings.Count(text, "\n— ") != 4 {
		t.Fatalf("the final QR code holds:\n%s\nthe archived final checkpoint is:\n%s", text, final.Note)
	}
}
