package ui

import (
	"context"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
)

// keyMsg is the message a key sends.
func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// send delivers one key as the program would, running what it starts.
func send(t *testing.T, c *Console, k string) {
	t.Helper()
	_, cmd := c.Update(keyMsg(k))
	drain(t, c, cmd)
}

// fits checks that the screen is no larger than the terminal.
func fits(t *testing.T, c *Console, where string) {
	t.Helper()
	lines := strings.Split(c.View(), "\n")
	if len(lines) > c.height {
		t.Fatalf("%s: %d lines on a %d-line terminal", where, len(lines), c.height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > c.width {
			t.Fatalf("%s: line %d is %d cells wide on a %d-cell terminal:\n%s\n%s", where, i+1, w, c.width, l, ansi.Strip(c.View()))
		}
	}
}

// TestConsoleEveryKeyEveryState walks the demo ceremony from its first
// step to its close, at the smallest size. At every step, and in each of
// its dialogs and views, it presses every key the console knows and some it
// does not: a key whose binding is disabled changes nothing in the log; a
// dialog or view left with esc (or any key) leaves the log and the step as
// they were; and every screen fits the terminal.
func TestConsoleEveryKeyEveryState(t *testing.T) {
	c := newConsole(t, MinWidth, MinHeight)
	all := []string{"enter", "w", "1", "2", "7", "9", "f", "x", "s", "r", "a", "?", "q", "c", "e", "d", "y", "n", "esc", "ctrl+c", "tab", "z", "Z", " "}
	// Keys that open something that esc closes, and the views any key closes.
	openers := []string{"x", "s", "r", "a", "q", "ctrl+c", "?", "c", "e", "d"}
	states := 0
	for {
		where := "step " + c.current().ID + " (" + nextName(c.state.Awaiting()) + ")"
		if c.state.Awaiting() == session.NextDone {
			where = "closed"
		}
		fits(t, c, where)
		next, size := c.state.Next, c.drv.Log().Size()
		unchanged := func(after string) {
			t.Helper()
			if c.drv.Log().Size() != size || c.drv.Snapshot().Next != next {
				t.Fatalf("%s: %s changed the log (%d → %d entries)", where, after, size, c.drv.Log().Size())
			}
		}
		// Disabled keys do nothing.
		c.refreshKeys()
		for _, k := range all {
			m := keyMsg(k)
			enabled := false
			for _, b := range []key.Binding{c.keys.Confirm, c.keys.Witness, c.keys.Card, c.keys.Forged, c.keys.Exception, c.keys.Skip, c.keys.Repeat, c.keys.Abort,
				c.keys.Help, c.keys.Quit, c.keys.Checkpoint, c.keys.Exceptions, c.keys.Details} {
				enabled = enabled || (b.Enabled() && key.Matches(m, b))
			}
			if enabled || contains(openers, k) {
				continue
			}
			send(t, c, k)
			unchanged("disabled key " + k)
			if mode(c) != "" {
				t.Fatalf("%s: disabled key %q opened mode %q", where, k, mode(c))
			}
		}
		// Each dialog or view: every key in it, then out with esc.
		for _, o := range openers {
			send(t, c, o)
			if mode(c) == "" {
				continue // not open here
			}
			opened := mode(c)
			fits(t, c, where+" after "+o)
			for _, k := range all {
				if k == "enter" || k == "y" || k == "esc" || k == "n" {
					continue // these act or leave; tested by the flows
				}
				send(t, c, k)
				unchanged(o + " then " + k)
				fits(t, c, where+" after "+o+" "+k)
				if k == "ctrl+c" && opened != "quit" {
					// The quit question, and n goes back to the dialog.
					if mode(c) != "quit" {
						t.Fatalf("%s: ctrl+c in mode %q does not ask to quit", where, opened)
					}
					send(t, c, "n")
					if mode(c) != opened {
						t.Fatalf("%s: n after ctrl+c goes to mode %q, not back to %q", where, mode(c), opened)
					}
					continue
				}
				if mode(c) == "" {
					break // a view any key closes
				}
				if mode(c) != opened && !(opened == "quit" || opened == "help") {
					t.Fatalf("%s: %q in mode %q went to mode %q", where, k, opened, mode(c))
				}
			}
			if mode(c) != "" {
				send(t, c, "esc")
			}
			if mode(c) != "" {
				t.Fatalf("%s: esc does not leave mode %q (opened by %q)", where, mode(c), o)
			}
			unchanged(o + " then esc")
		}
		states++
		if c.state.Awaiting() == session.NextDone {
			break
		}
		if err := autoStep(c); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	if states < 40 {
		t.Fatalf("only %d states visited", states)
	}
}

func nextName(n session.Next) string {
	return map[session.Next]string{session.NextWitness: "witness", session.NextCards: "cards", session.NextTyped: "typed",
		session.NextDone: "done", session.NextConfirm: "confirm"}[n]
}

// TestConsoleTooSmallKeysWait: a console that does not fit its terminal
// shows no step, so no key acts. The demo is walked to its close; at every
// step, with nothing open and with each kind of prompt open (a dialog
// opened at full size), the terminal shrinks below the minimum and every
// key is sent, the ones that would answer or confirm included: nothing is
// logged, no step moves, and the screen says that keys wait. Grown back,
// the prompt is there as it was.
func TestConsoleTooSmallKeysWait(t *testing.T) {
	c := newConsole(t, MinWidth, MinHeight)
	all := []string{"enter", "w", "1", "2", "3", "7", "f", "o", "x", "s", "r", "a", "?", "c", "e", "y", "n", "esc", "tab", "z", " "}
	// What opens each kind of prompt; keys that act at once come last.
	openers := [][]string{{}, {"o"}, {"x"}, {"s"}, {"s", "n", "o", "enter"}, {"r"}, {"a"}, {"enter"}, {"1"}, {"2"}, {"3"}}
	prompts := map[string]bool{}
	for {
		where := "step " + c.current().ID + " (" + nextName(c.state.Awaiting()) + ")"
		for _, o := range openers {
			for _, k := range o {
				send(t, c, k)
			}
			opened := mode(c)
			if len(o) > 0 && opened == "" {
				continue // nothing opened; a key that acted at once is the flows' business
			}
			prompts[opened] = true
			next, size := c.state.Next, c.drv.Log().Size()
			c.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			for _, k := range all {
				send(t, c, k)
				if c.drv.Log().Size() != size || c.drv.Snapshot().Next != next {
					t.Fatalf("%s, %q open, too small: %q logged (%d → %d entries)", where, opened, k, size, c.drv.Log().Size())
				}
				if s := screen(c); !strings.Contains(s, "Keys wait until the console fits") {
					t.Fatalf("%s, too small, after %q:\n%s", where, k, s)
				}
			}
			c.Update(tea.WindowSizeMsg{Width: MinWidth, Height: MinHeight})
			if mode(c) != opened {
				t.Fatalf("%s: %q open before the shrink, %q after", where, opened, mode(c))
			}
			for mode(c) != "" {
				send(t, c, "esc")
			}
		}
		if c.state.Awaiting() == session.NextDone {
			break
		}
		if err := autoStep(c); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	for _, p := range []string{"", "witness", "exception", "skip", "repeat", "abort", "typed", "absent"} {
		if !prompts[p] {
			t.Errorf("prompt %q never shrunk under", p)
		}
	}
}

// TestConsolePromptsSayWhatKeysDo: enter at a witnessed step says who must
// confirm and with which key, logging nothing; in a skip's confirmation the
// witness's key and the footer name the skip, not the step; the footer
// lists every key that works, wrapping rather than cutting one off.
func TestConsolePromptsSayWhatKeysDo(t *testing.T) {
	c := newConsole(t, MinWidth, MinHeight)
	size := c.drv.Log().Size()
	send(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "enter does nothing here: IW confirms step 1.1 (key w)") || c.drv.Log().Size() != size {
		t.Fatalf("enter at a witnessed step:\n%s", s)
	}
	for _, k := range []string{"s", "n", "o"} {
		send(t, c, k)
	}
	send(t, c, "enter")
	s := screen(c)
	if !strings.Contains(s, "w IW confirms the skip of step 1.1 · esc: not so") || !strings.Contains(s, "w IW confirms the skip of step 1.1 • esc cancel") {
		t.Fatalf("a skip's confirmation:\n%s", s)
	}
	if strings.Contains(s, "▶ IW confirms") {
		t.Fatalf("the step's own confirmation is offered during the skip's:\n%s", s)
	}
	send(t, c, "esc")
	c.refreshKeys()
	s = screen(c)
	for _, k := range []string{"w IW confirms step 1.1", "x exception", "s skip step", "a abort", "? help", "q quit", "c checkpoint QR", "e exceptions so far"} {
		if !strings.Contains(s, k) {
			t.Errorf("the footer lacks %q:\n%s", k, s)
		}
	}
}

// TestConsoleKSRWarningsReadWhole: while the IW is asked to confirm the
// KSR's checks, every warning is on the screen whole, wrapped and never
// cut, at 100×30 and at 160×45.
func TestConsoleKSRWarningsReadWhole(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {160, 45}} {
		c := newConsole(t, size.w, size.h)
		for !(c.current().Action == ceremony.ActionKSRCheck && c.state.Awaiting() == session.NextWitness) {
			if err := autoStep(c); err != nil {
				t.Fatal(err)
			}
		}
		leftW := size.w - max(34, size.w*3/10)
		var left []string
		for _, l := range strings.Split(screen(c), "\n") {
			r := []rune(l)
			left = append(left, strings.Trim(string(r[:min(len(r), leftW)]), "│ "))
		}
		panel := strings.Join(strings.Fields(strings.Join(left, "")), "") // wrapped anywhere, even at a hyphen
		if strings.Contains(panel, "moreline") {
			// Clipped: d shows the step's details whole, full screen.
			c.refreshKeys()
			press(t, c, "d")
			if mode(c) != "details" {
				t.Fatalf("%d×%d: the clipped checks, and d does not show them", size.w, size.h)
			}
			panel = strings.Join(strings.Fields(screen(c)), "")
		}
		warned := 0
		for _, r := range c.state.KSR.Results {
			if r.Status != dnssec.Warn {
				continue
			}
			warned++
			if want := strings.Join(strings.Fields("[WARN] "+r.ID+" "+r.Detail), ""); !strings.Contains(panel, want) {
				t.Errorf("%d×%d: the warning is not whole on the screen: %q\n%s", size.w, size.h, want, screen(c))
			}
		}
		if warned == 0 {
			t.Fatal("the demo's KSR has no warning to show")
		}
	}
}

// TestConsoleShowsLogTextEscaped: text the log holds (here an exception
// carrying terminal escapes and a bidi override) reaches the screen
// escaped, on the ceremony's page and in the exceptions view.
func TestConsoleShowsLogTextEscaped(t *testing.T) {
	c := newConsole(t, 160, 45)
	hostile := "\x1b[2J\x1b]0;owned\x07 cleared; \u202eevil"
	res := c.drv.Do(context.Background(), session.RecordException{Text: hostile})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	_, cmd := c.Update(opDoneMsg{res})
	drain(t, c, cmd)
	for _, page := range []string{"", "e"} {
		if page != "" {
			send(t, c, page)
		}
		v := c.View() // the Ascii profile: any escape on it came from the text
		if strings.ContainsAny(v, "\x1b\x07\u202e") || !strings.Contains(v, `\x1b[2J\x1b]0;owned\x07 cleared; \u202eevil`) {
			t.Fatalf("page %q shows the log's text unescaped:\n%q", page, v)
		}
	}
}

// TestConsoleEchoesTypedTextEscaped: text pasted into a prompt that would
// reorder the screen around it (a bidi override) is drawn, and logged, as
// its escape.
func TestConsoleEchoesTypedTextEscaped(t *testing.T) {
	c := newConsole(t, 160, 45)
	send(t, c, "x")
	_, cmd := c.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("door stuck \u202eevil\u202c done"), Paste: true})
	drain(t, c, cmd)
	v := c.View()
	if strings.ContainsAny(v, "\u202e\u202c") || !strings.Contains(v, `door stuck \u202eevil\u202c done`) {
		t.Fatalf("the prompt echoes the pasted text unescaped:\n%q", v)
	}
	send(t, c, "enter")
	ex := c.state.Exceptions
	if len(ex) == 0 || ex[len(ex)-1].Text != `door stuck \u202eevil\u202c done` {
		t.Fatalf("logged: %+v", ex)
	}
}
