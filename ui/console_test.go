package ui

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/muesli/termenv"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// A fixed rehearsal key and clock make the log, and so the screen, the same
// on every run.
const testSKey = "PRIVATE+KEY+ui-test.keyceremony.invalid/rehearsal+654cdec6+AeWAqqvhXzd0fmR+w3CIXI+lUpc+eXzJRe1RYqsS/0n/"

var fixedTime = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

// clockOffset moves the tests' clock (log and screen) forward.
var clockOffset time.Duration

func fixedClock() time.Time { return fixedTime.Add(clockOffset) }

// newConsole opens a new demo ceremony in a temporary folder and returns its
// console, drawn in the Ascii profile (no colour: words and glyphs only).
func newConsole(t testing.TB, w, h int) *Console {
	t.Helper()
	return newConsoleWith(t, w, h, nil)
}

// newConsoleWith is newConsole with the session's configuration changed.
func newConsoleWith(t testing.TB, w, h int, change func(*session.Config)) *Console {
	t.Helper()
	return newConsoleScript(t, w, h, nil, change)
}

// newConsoleScript is newConsoleWith on another script than the demo's.
func newConsoleScript(t testing.TB, w, h int, other *ceremony.Script, change func(*session.Config)) *Console {
	t.Helper()
	return consoleOn(t, filepath.Join(t.TempDir(), "log"), w, h, other, change)
}

// consoleOn opens the console on the log in dir: a new one, or the one
// there, resumed.
func consoleOn(t testing.TB, dir string, w, h int, other *ceremony.Script, change func(*session.Config)) *Console {
	t.Helper()
	return consoleOpening(t, dir, w, h, other, change, nil)
}

// consoleOpening is consoleOn on a new log whose opening entry opening
// changes (a previous ceremony cited, a custody register carried over).
func consoleOpening(t testing.TB, dir string, w, h int, other *ceremony.Script, change func(*session.Config), opening func(*event.Open, *[]transparency.Artefact)) *Console {
	t.Helper()
	ctx := context.Background()
	key, err := transparency.ParseKey(testSKey)
	if err != nil {
		t.Fatal(err)
	}
	script, err := session.DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	logged := script
	if other != nil {
		logged = other
	}
	_, statErr := os.Stat(dir)
	resume := statErr == nil
	open := event.Open{ScriptSHA256: logged.Digest}
	arts := []transparency.Artefact{{Name: "demo.yaml", Data: logged.Raw}}
	if logged.RosterFile != "" {
		arts = append(arts, transparency.Artefact{Name: logged.RosterFile, Data: logged.RosterRaw})
	}
	if opening != nil {
		opening(&open, &arts)
	}
	l, err := transparency.Open(ctx, dir, transparency.Options{Key: key, New: !resume, Now: fixedClock, Open: open, OpenArtefacts: arts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	cfg, err := session.DemoConfig(script, l, resume, dir+"-skr.xml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Script = logged
	if change != nil {
		change(&cfg)
	}
	s, err := session.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := session.NewDriver(s)
	t.Cleanup(d.Close) // before the log's close: the owner stops first
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	// No splash at act boundaries unless a test asks for it.
	c, err := NewConsole(ctx, d, ConsoleOptions{Out: io.Discard, Theme: "dark", Rehearsal: true, Now: fixedClock, Renderer: r, Splash: -1})
	if err != nil {
		t.Fatal(err)
	}
	c.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return c
}

// press sends a key and runs every command it starts, as the program would,
// until the console is idle again.
func press(t testing.TB, c *Console, keys ...string) {
	t.Helper()
	for _, k := range keys {
		// A step waiting for its witnesses is confirmed by their key,
		// w, once for each: the tests' "enter" finishes the step.
		if k == "enter" && c.state.Awaiting() == session.NextWitness && mode(c) == "" {
			step := c.state.Next
			for i := 0; i < 4 && c.state.Next == step && c.state.Awaiting() == session.NextWitness; i++ {
				_, cmd := c.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("w")})
				drain(t, c, cmd)
			}
			continue
		}
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd := c.Update(msg)
		drain(t, c, cmd)
	}
}

func drain(t testing.TB, c *Console, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, m := range batch {
			drain(t, c, m)
		}
		return
	}
	if msg == nil {
		return
	}
	_, next := c.Update(msg)
	drain(t, c, next)
}

func screen(c *Console) string { return ansi.Strip(c.View()) }

// mode names what the console asks or shows besides the ceremony: "" for
// nothing, the page (quit, help, checkpoint, exceptions), or the question
// of the dialog open (a card's secret, a witness's confirmation, …).
func mode(c *Console) string {
	switch c.page {
	case pageQuit:
		return "quit"
	case pageHelp:
		return "help"
	case pageCheckpoint:
		return "checkpoint"
	case pageExceptions:
		return "exceptions"
	case pageDetails:
		return "details"
	}
	if c.dialog == nil {
		return ""
	}
	a, k := c.dialog.ask, c.dialog.it.Key
	switch {
	case a.Witness != "":
		return "witness"
	case a.Secret && k == session.KeyCard:
		return "secret"
	case a.Secret:
		return "newpass"
	case k == session.KeyConfirm:
		return map[string]string{"Confirm by typing: ": "typed", "Sign-in: ": "signin", "Contingencies: ": "choose"}[a.Label]
	}
	return map[string]string{session.KeyException: "exception", session.KeySkip: "skip", session.KeyRepeat: "repeat", session.KeyAbort: "abort",
		session.KeyAbsent: "absent", session.KeyCard: "serial"}[k]
}

// autoStep has the session do what the unattended rehearsal does next, and
// shows the ceremony as it left it.
func autoStep(c *Console) error {
	res := c.drv.Do(context.Background(), session.AutoStep{})
	c.adopt(res)
	return res.Err
}

func TestConsoleThroughTheQuorum(t *testing.T) {
	c := newConsole(t, 160, 45)
	if s := screen(c); !strings.Contains(s, "▶ STEP 1.1") || !strings.Contains(s, "REHEARSAL") {
		t.Fatalf("first screen:\n%s", s)
	}
	c.refreshKeys()
	if c.keys.Confirm.Enabled() || !c.keys.Witness.Enabled() || c.keys.Card.Enabled() {
		t.Fatal("at step 1.1, the witness's w must be live, and neither enter nor the card keys")
	}
	if s := screen(c); !strings.Contains(s, "▶ IW confirms: w") || !strings.Contains(ansi.Strip(c.viewHelp()), "w IW confirms step 1.1") {
		t.Fatalf("step 1.1 does not ask the IW to confirm:\n%s", s)
	}
	press(t, c, "1") // a card key does nothing outside the quorum
	if c.drv.Log().Size() != 1 {
		t.Fatal("a card key logged something outside the quorum step")
	}
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter")
	s := screen(c)
	if !strings.Contains(s, "▶ STEP 3.1") || !strings.Contains(s, "Crypto officers 0 of 3 · 7 enrolled") {
		t.Fatalf("quorum step:\n%s", s)
	}
	if c.keys.Confirm.Enabled() || !c.keys.Card.Enabled() || !c.keys.Forged.Enabled() {
		t.Fatal("in the quorum step, the card keys must be live and enter not")
	}
	help := ansi.Strip(c.viewHelp())
	if strings.Contains(help, "enter") || !strings.Contains(help, "present card") {
		t.Fatalf("help line lists dead keys: %q", help)
	}
	press(t, c, "1", "1", "f")
	s = screen(c)
	for _, want := range []string{"[ OK ] 1 CO1  Amara Okafor", "[FAIL] 2 CO2  Bjorn Lindqvist    REJECTED: forged", "[FAIL] card CO2 (Bjorn Lindqvist) REJECTED: forged", "Crypto officers 1 of 3"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after CO1, CO1, forged: no %q in\n%s", want, s)
		}
	}
	// A forged card is a security event: the console asks for an
	// exception naming it, and takes no card until it is recorded.
	c.refreshKeys()
	if s = screen(c); !strings.Contains(ansi.Strip(c.viewHelp()), "x record the forged card") || c.keys.Card.Enabled() {
		t.Fatalf("after a forged card, the exception is not asked for:\n%s", s)
	}
	size := c.drv.Log().Size()
	press(t, c, "2")
	if c.drv.Log().Size() != size {
		t.Fatal("a card was taken before the forged card's exception")
	}
	press(t, c, "x")
	if s = screen(c); !strings.Contains(s, "Exception, forged card CO2:") {
		t.Fatalf("the exception field does not name the forged card:\n%s", s)
	}
	typeText(t, c, "a card bearing CO2's name failed the roster's commitments; CO2 holds the real one")
	press(t, c, "enter")
	press(t, c, "2", "3")
	if s = screen(c); !strings.Contains(s, "[ OK ] quorum reached: CO1, CO2, CO3") || !strings.Contains(s, "[ OK ] 2 CO2  Bjorn Lindqvist    accepted after FORGED") {
		t.Fatalf("quorum not shown as reached, or CO2's row forgot its forged card:\n%s", s)
	}
	press(t, c, "enter")
	if st := c.drv.Snapshot(); !st.Quorum || st.Next != 8 {
		t.Fatalf("after the quorum: quorum %v, next %d", st.Quorum, st.Next)
	}
}

func TestConsoleSigning(t *testing.T) {
	c := newConsole(t, 160, 45)
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter", "1", "2", "3", "enter", "enter", "enter")
	// 3.3: load the KSR: its hash is shown, in hex and in words, before it is confirmed.
	press(t, c, "enter")
	s := screen(c)
	for _, want := range []string{"KSR ksr-root-2010-q1-0.xml · 9 bundles", "SHA-256 ba59 9094 95d5", "shadow examine peachy molecule", "Compare this hash"} {
		if !strings.Contains(s, want) {
			t.Fatalf("KSR screen: no %q in\n%s", want, s)
		}
	}
	press(t, c, "enter", "enter")
	if s = screen(c); !strings.Contains(s, "[PASS] KSR-BUNDLE-POP") || !strings.Contains(s, "[WARN] KSR-POLICY-SIG-VALIDITY") {
		t.Fatalf("check results not shown:\n%s", s)
	}
	press(t, c, "enter", "enter")
	if mode(c) != "typed" {
		t.Fatal("enter on the signing step does not ask for the typed confirmation")
	}
	press(t, c, "y", "e", "s", "enter")
	if c.drv.Snapshot().Signed != 0 || !strings.Contains(screen(c), `typed "yes"; type Yes exactly`) {
		t.Fatalf("lower-case yes was accepted:\n%s", screen(c))
	}
	press(t, c, "enter", "Y", "e", "s", "enter")
	if st := c.drv.Snapshot(); st.Signed != 9 {
		t.Fatalf("after Yes, %d bundles signed, want all 9", st.Signed)
	}
	if s = screen(c); !strings.Contains(s, "Signing █████████ 9 of 9 bundles") {
		t.Fatalf("signing progress:\n%s", s)
	}
}

func TestConsoleExceptionAndQuit(t *testing.T) {
	c := newConsole(t, 160, 45)
	press(t, c, "x")
	if mode(c) != "exception" {
		t.Fatal("x does not open the exception field")
	}
	press(t, c, "C", "a", "m", "e", "r", "a", " ", "2", " ", "o", "f", "f", "enter")
	st := c.drv.Snapshot()
	if len(st.Exceptions) != 1 || st.Exceptions[0].Text != "Camera 2 off" || st.Next != 0 {
		t.Fatalf("exceptions %+v, next %d", st.Exceptions, st.Next)
	}
	press(t, c, "q")
	s := screen(c)
	if mode(c) != "quit" || !strings.Contains(s, "Quit the console?") || !strings.Contains(s, "resumes at the current step") {
		t.Fatalf("q does not ask first:\n%s", s)
	}
	press(t, c, "n")
	if mode(c) != "" || c.quit {
		t.Fatal("n does not go back")
	}
	press(t, c, "q", "y")
	if !c.quit {
		t.Fatal("q, y does not quit")
	}
	// The quit is a fact in the log: the stop, at the step where it came.
	if st := c.drv.Snapshot(); st.Stops != 1 || st.StoppedAt.IsZero() {
		t.Fatalf("q, y logged no stop: %d stops", st.Stops)
	}
}

// TestConsoleQuitLogsTheHSMOut: quitting with the HSM active logs it out
// and the stop; the console resumed on the same log asks the officers'
// cards again before the HSM is used, and says it resumed.
func TestConsoleQuitLogsTheHSMOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	c := consoleOn(t, dir, 160, 45, nil, nil)
	for !c.state.HSM {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	at := c.current().ID
	press(t, c, "q", "y")
	st := c.drv.Snapshot()
	if st.HSM || st.Stops != 1 {
		t.Fatalf("quit with the HSM active: HSM %v, %d stops", st.HSM, st.Stops)
	}
	c.drv.Close()
	c.drv.Log().Close(context.Background())
	r := consoleOn(t, dir, 160, 45, nil, nil)
	s := screen(r)
	if !r.state.NeedActivation || !strings.Contains(s, "RESUMED at step "+at) {
		t.Fatalf("resumed after a stop with the HSM active:\n%s", s)
	}
}

func TestConsoleTooSmall(t *testing.T) {
	c := newConsole(t, 80, 24)
	if got := c.View(); !strings.HasPrefix(got, "terminal too small: need 100×30, have 80×24\nKeys wait until the console fits") {
		t.Fatalf("small terminal: %q", got)
	}
}

// TestConsoleGolden keeps the screen at both projector sizes, in the Ascii
// profile: the active step and a rejected card must read without colour.
// Update with: go test ./ui -run Golden -update
func TestConsoleGolden(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {160, 45}, {240, 67}} {
		t.Run(strings.ReplaceAll(fmtSize(size.w, size.h), "×", "x"), func(t *testing.T) {
			c := newConsole(t, size.w, size.h)
			press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter", "1", "f")
			golden.RequireEqual(t, []byte(screen(c)))
		})
	}
}

func fmtSize(w, h int) string { return strings.Join([]string{itoa(w), itoa(h)}, "×") }

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestConsoleFlow runs the real program (teatest) through the quorum step.
func TestConsoleFlow(t *testing.T) {
	c := newConsole(t, 160, 45)
	tm := teatest.NewTestModel(t, c, teatest.WithInitialTermSize(160, 45))
	// Acts 1 and 2: the witnesses' key w, and enter for 1.2 (no witness).
	for _, k := range []string{"w", "enter", "w", "w", "w", "w", "w", "w"} {
		if k == "enter" {
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		} else {
			tm.Type(k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "Crypto officers 0 of 3") },
		teatest.WithDuration(10*time.Second))
	for _, k := range []string{"1", "f", "x", "forged CO2 refused", "enter", "2", "3"} {
		if k == "enter" {
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		} else {
			tm.Type(k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "quorum reached: CO1, CO2, CO3") },
		teatest.WithDuration(10*time.Second))
	tm.Type("q")
	tm.Type("y")
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Console)
	if !final.quit || !final.drv.Snapshot().Quorum {
		t.Fatalf("final: quit %v quorum %v", final.quit, final.drv.Snapshot().Quorum)
	}
}

// pullingToken is a token that is pulled out of its reader after a number
// of signatures: every later signature fails with ErrDeviceRemoved until it
// is put back.
type pullingToken struct {
	hsm.Token
	left   int // signatures before it is pulled
	pulled bool
}

type pullingKey struct {
	hsm.Key
	t *pullingToken
}

func (t *pullingToken) Key(ctx context.Context, label string) (hsm.Key, error) {
	k, err := t.Token.Key(ctx, label)
	if err != nil {
		return nil, err
	}
	return &pullingKey{k, t}, nil
}

func (k *pullingKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.t.left == 0 {
		k.t.pulled = true
	}
	if k.t.pulled {
		return nil, fmt.Errorf("sign with %q: %w", k.Label(), hsm.ErrDeviceRemoved)
	}
	k.t.left--
	return k.Key.Sign(r, digest, opts)
}

// TestConsoleTokenPulled: the HSM is pulled out while bundle 5 of 9 is being
// signed. The screen says exactly that: 4 of 9 bundles signed, the failure
// naming the token, and what to do; the log holds 4 bundles; no SKR exists.
// With the token back, enter signs the rest and the ceremony goes on.
func TestConsoleTokenPulled(t *testing.T) {
	var tok *pullingToken
	var skr string
	c := newConsoleWith(t, 160, 45, func(cfg *session.Config) {
		tok = &pullingToken{Token: cfg.Token, left: 4}
		cfg.Token, skr = tok, cfg.SKRPath
	})
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter", "1", "2", "3", "enter", "enter", "enter")
	press(t, c, "enter", "enter", "enter", "enter", "enter", "Y", "e", "s", "enter")
	st := c.drv.Snapshot()
	s := screen(c)
	if st.Signed != 4 || !strings.Contains(s, "Signing ████░░░░░ 4 of 9 bundles") || !strings.Contains(s, "[FAIL] bundle #5: ") ||
		!strings.Contains(s, "token removed; nothing was logged for it, sign again") || !strings.Contains(ansi.Strip(c.viewHelp()), "enter sign bundle 5 of 9") {
		t.Fatalf("after the token was pulled: %d signed\n%s", st.Signed, s)
	}
	if _, err := os.Stat(skr); err == nil {
		t.Fatal("an SKR exists with 4 of 9 bundles signed")
	}
	rep, err := transparency.Verify(os.DirFS(c.drv.Log().Dir()), transparency.VerifyOptions{AllowInterrupted: true})
	if err != nil || !rep.OK {
		t.Fatal(err)
	}
	tok.pulled, tok.left = false, -1 // back in its reader
	press(t, c, "enter")
	if st := c.drv.Snapshot(); st.Signed != 9 || !strings.Contains(screen(c), "Signing █████████ 9 of 9 bundles") {
		t.Fatalf("after the token is back: %d signed\n%s", st.Signed, screen(c))
	}
}
