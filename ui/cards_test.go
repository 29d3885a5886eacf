package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
)

// TestConsoleCardFiles runs the quorum step with the officers' card files:
// the holder's passphrase is typed into a field that draws nothing, a
// mistyped one is refused and counted on the panel, the panel shows which
// cards are inserted and follows a medium taken out, and the forged-card
// key of the rehearsal is gone.
func TestConsoleCardFiles(t *testing.T) {
	sim, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pass := map[string]string{}
	for _, id := range []string{"CO1", "CO2", "CO3", "CO4"} {
		card, err := sim.Read(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		pass[id] = "correct horse " + id
		if err := quorum.WriteCardFile(filepath.Join(dir, id+quorum.CardFileExt), card, pass[id], 10); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsoleWith(t, 160, 45, func(cfg *session.Config) { cfg.Cards = &quorum.CardFiles{Dir: dir} })
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter")
	drain(t, c, c.poll())
	s := screen(c)
	for _, want := range []string{"1 CO1  Amara Okafor       card inserted", "5 CO5  Emeka Obi          not inserted"} {
		if !strings.Contains(s, want) {
			t.Fatalf("quorum panel lacks %q:\n%s", want, s)
		}
	}
	if c.keys.Forged.Enabled() {
		t.Fatal("the forged-card key is live with real card files")
	}

	before := c.drv.Log().Size()
	press(t, c, "1")
	if mode(c) != "secret" || !strings.Contains(screen(c), "The holder types the passphrase of card CO1 (Amara Okafor), then enter.") {
		t.Fatalf("card 1 opens no passphrase field:\n%s", screen(c))
	}
	typeText(t, c, "wrong guess 1234")
	if s := screen(c); strings.Contains(s, "wrong guess") || strings.Contains(s, "****************") {
		t.Fatalf("the typed passphrase, or its length, is on screen:\n%s", s)
	}
	press(t, c, "enter")
	s = screen(c)
	for _, want := range []string{"1 CO1  Amara Okafor       1 wrong passphrase", "[FAIL] read card CO1: card CO1: wrong card PIN or passphrase (1 wrong so far)"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after a wrong passphrase, no %q in\n%s", want, s)
		}
	}
	if c.drv.Log().Size() != before {
		t.Fatal("a mistyped passphrase was logged as a card")
	}
	for _, id := range []string{"CO1", "CO2"} {
		press(t, c, strings.TrimPrefix(id, "CO"))
		typeText(t, c, pass[id])
		press(t, c, "enter")
	}
	if st := c.drv.Snapshot(); len(st.Accepted) != 2 {
		t.Fatalf("accepted %v after CO1 and CO2\n%s", st.Accepted, screen(c))
	}
	// CO3's medium is taken out: the panel follows on the next poll.
	os.Remove(filepath.Join(dir, "CO3"+quorum.CardFileExt))
	drain(t, c, c.poll())
	if s := screen(c); !strings.Contains(s, "3 CO3  Chen Wei           not inserted") {
		t.Fatalf("a removed card still shows as inserted:\n%s", s)
	}
	before = c.drv.Log().Size()
	press(t, c, "4")
	press(t, c, "esc") // the holder changes their mind: nothing is read
	if mode(c) != "" || c.drv.Log().Size() != before {
		t.Fatalf("esc in the passphrase field: mode %q, log size %d", mode(c), c.drv.Log().Size())
	}
	press(t, c, "4")
	typeText(t, c, pass["CO4"])
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "[ OK ] quorum reached: CO1, CO2, CO4") {
		t.Fatalf("no quorum after CO4:\n%s", s)
	}
}

// signInAll answers the sign-in with a name for every role.
func signInAll(t *testing.T, c *Console) {
	t.Helper()
	for _, r := range c.state.Script.Roles {
		typeText(t, c, "Person "+r.ID)
		press(t, c, "enter")
	}
}

// typeText types into the console's input field, one key at a time.
func typeText(t testing.TB, c *Console, text string) {
	t.Helper()
	for _, r := range text {
		_, cmd := c.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		drain(t, c, cmd)
	}
}

// TestConsoleWitnessedQuorum: with a quorum the HSM enforces, a card key
// asks for the serial the HSM shows, the witness's own key (w) records it,
// esc at the confirmation records nothing, and a serial that contradicts
// the roster is refused on screen.
func TestConsoleWitnessedQuorum(t *testing.T) {
	raw, _ := scripts.Get("demo")
	block := "quorum:\n  mode: witnessed\n  threshold: 2\n  cards:\n    - {id: CO1, holder: Amara Okafor}\n    - {id: CO2, holder: Bjorn Lindqvist, serial: KP-2}\nacts:"
	script, err := ceremony.LoadScript("w.yaml", []byte(regexp.MustCompile(`(?s)quorum:\n.*?\nacts:`).ReplaceAllString(string(raw), block)))
	if err != nil {
		t.Fatal(err)
	}
	c := newConsoleScript(t, 160, 45, script, func(cfg *session.Config) { cfg.Cards = nil })
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter")
	if s := screen(c); !strings.Contains(s, "Crypto officers 0 of 2 · 2 enrolled · the HSM checks the cards; IW confirms each") {
		t.Fatalf("witnessed quorum panel:\n%s", s)
	}
	press(t, c, "1")
	typeText(t, c, "KP-1")
	press(t, c, "enter")
	if s := screen(c); mode(c) != "witness" || !strings.Contains(s, "IW: the HSM accepted card CO1 (Amara Okafor), serial KP-1?") {
		t.Fatalf("no witness confirmation:\n%s", s)
	}
	size := c.drv.Log().Size()
	press(t, c, "esc")
	if c.drv.Log().Size() != size {
		t.Fatal("a card was recorded without the witness's confirmation")
	}
	press(t, c, "1")
	typeText(t, c, "KP-1")
	press(t, c, "enter", "w")
	if s := screen(c); !strings.Contains(s, "1 CO1  Amara Okafor       serial KP-1 · IW") {
		t.Fatalf("CO1 not recorded:\n%s", s)
	}
	press(t, c, "2")
	typeText(t, c, "KP-9")
	press(t, c, "enter", "w")
	if s := screen(c); !strings.Contains(s, "card CO2 has serial KP-2 on the roster, not KP-9") {
		t.Fatalf("a contradicting serial:\n%s", s)
	}
	press(t, c, "2")
	typeText(t, c, "KP-2")
	press(t, c, "enter", "w")
	if s := screen(c); !strings.Contains(s, "[ OK ] quorum reached: CO1, CO2") {
		t.Fatalf("no quorum:\n%s", s)
	}
}

// TestConsoleReshare deals the demo quorum's secret to two new officers in
// the officer replacement script: each new passphrase is typed twice into a
// field that draws nothing, a mismatch is refused and asked again, and the
// panel shows each new card, the revoked old ones and the new roster.
func TestConsoleReshare(t *testing.T) {
	raw, _ := scripts.Get("officers")
	roster := string(scripts.DemoRoster())
	script, err := ceremony.LoadScriptWith("officers.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := newConsoleScript(t, 160, 45, script, func(cfg *session.Config) {
		cfg.Reshare = session.ReshareConfig{Holders: []quorum.CardInfo{{ID: "CO8", Holder: "Hana"}, {ID: "CO9", Holder: "Ivo"}, {ID: "CO10", Holder: "Jun"}},
			RosterPath: filepath.Join(dir, "roster-2.yaml"), CardsDir: filepath.Join(dir, "cards"), WorkFactor: 10}
	})
	press(t, c, "enter", "enter")
	signInAll(t, c)
	press(t, c, "enter", "enter", "enter", "1", "2", "3", "enter", "enter")
	typeText(t, c, "Yes")
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "New crypto officers · 3 of 3") || !strings.Contains(s, "CO8  Hana                 waiting") {
		t.Fatalf("the reshare step:\n%s", s)
	}
	press(t, c, "enter")
	if s := screen(c); mode(c) != "newpass" || !strings.Contains(s, "The new officer types the passphrase for new card CO8 (Hana), then enter.") {
		t.Fatalf("no passphrase field for CO8:\n%s", s)
	}
	for _, p := range []string{"hana's passphrase", "hana's passphrase", "ivo's passphrase", "not the same"} {
		typeText(t, c, p)
		if strings.Contains(screen(c), "passphrase") && strings.Contains(screen(c), p) {
			t.Fatalf("the typed passphrase is on screen:\n%s", screen(c))
		}
		press(t, c, "enter")
	}
	if s := screen(c); !strings.Contains(s, "card CO9: the two typings differ; type it again") || !strings.Contains(s, "CO8  Hana                 passphrase set") {
		t.Fatalf("after a mismatch:\n%s", s)
	}
	for _, p := range []string{"ivo's passphrase", "ivo's passphrase", "jun's passphrase", "jun's passphrase"} {
		typeText(t, c, p)
		press(t, c, "enter")
	}
	s := screen(c)
	for _, want := range []string{"CO10 Jun                  card written", "[ OK ] revoked: CO1, CO2, CO3, CO4, CO5, CO6, CO7", "New roster roster-2.yaml"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after the new cards: no %q in\n%s", want, s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cards", "CO10.card")); err != nil {
		t.Fatal("CO10's card file was not written")
	}
}

// TestConsoleQuorumExpiresOnTick: a partial quorum past the roster's
// timeout expires on the console's clock tick, without waiting for another
// card: quorum.expired is logged and the panel starts again from 0.
func TestConsoleQuorumExpiresOnTick(t *testing.T) {
	raw, _ := scripts.Get("demo")
	script, err := ceremony.LoadScript("demo-timeout.yaml", []byte(strings.Replace(string(raw), "  threshold: 3\n", "  threshold: 3\n  timeout: 1m\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { clockOffset = 0 }()
	c := newConsoleScript(t, 160, 45, script, nil)
	press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter", "1")
	if s := screen(c); !strings.Contains(s, "Crypto officers 1 of 3") {
		t.Fatalf("after CO1:\n%s", s)
	}
	size := c.drv.Log().Size()
	clockOffset = 30 * time.Second
	drain(t, c, c.onTick())
	if c.drv.Log().Size() != size {
		t.Fatal("the quorum expired before its timeout")
	}
	clockOffset = 2 * time.Minute
	drain(t, c, c.onTick())
	s := screen(c)
	if !strings.Contains(s, "Crypto officers 0 of 3") || !strings.Contains(s, "[WARN] partial quorum EXPIRED after 1m0s: CO1 present again") {
		t.Fatalf("after the timeout:\n%s", s)
	}
}

// TestConsoleSkipAndAbort: s asks why, the witness's w skips the step (esc
// does not); a asks why and for ABORT typed exactly, then the ceremony goes
// to its always-run acts with the HSM logged out, and closes.
func TestConsoleSkipAndAbort(t *testing.T) {
	c := newConsole(t, 160, 45)
	// 1.1 is done, then repeated: r, the reason, the IW's w.
	press(t, c, "enter", "r")
	typeText(t, c, "the date was read in local time")
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "IW: repeat step 1.1 because the date was read in local time?") {
		t.Fatalf("no witness confirmation for the repeat:\n%s", s)
	}
	press(t, c, "w")
	if s := screen(c); !strings.Contains(s, "▶ STEP 1.1") || !strings.Contains(s, "step 1.1 REPEATED, confirmed by IW: the date was read in local time") {
		t.Fatalf("after the repeat:\n%s", s)
	}
	press(t, c, "enter", "enter", "s")
	if mode(c) != "skip" {
		t.Fatalf("s at step 1.3 opens no reason field (mode %q)", mode(c))
	}
	typeText(t, c, "safe 1 jammed; the equipment came from safe 2")
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "IW: skip step 1.3 because safe 1 jammed; the equipment came from safe 2?") {
		t.Fatalf("no witness confirmation for the skip:\n%s", s)
	}
	size := c.drv.Log().Size()
	press(t, c, "esc")
	if c.drv.Log().Size() != size {
		t.Fatal("a skip was logged without the witness")
	}
	press(t, c, "s")
	typeText(t, c, "safe 1 jammed")
	press(t, c, "enter", "w")
	if s := screen(c); !strings.Contains(s, "[SKIP] 1.3") || !strings.Contains(s, "step 1.3 SKIPPED, confirmed by IW: safe 1 jammed") {
		t.Fatalf("after the skip:\n%s", s)
	}
	// Through the quorum and the login, then abort at the KSR.
	press(t, c, "enter", "enter", "enter", "enter", "1", "2", "3", "enter", "enter", "enter")
	if !c.drv.Snapshot().HSM {
		t.Fatal("the HSM is not logged in before the abort")
	}
	press(t, c, "a")
	typeText(t, c, "hash#1 does not match")
	press(t, c, "enter")
	typeText(t, c, "abort")
	press(t, c, "enter")
	if c.drv.Snapshot().Aborted != nil || !strings.Contains(screen(c), `typed "abort"; nothing was aborted`) {
		t.Fatalf("a mistyped ABORT aborted:\n%s", screen(c))
	}
	press(t, c, "a")
	typeText(t, c, "hash#1 does not match")
	press(t, c, "enter")
	typeText(t, c, "ABORT")
	press(t, c, "enter")
	st := c.drv.Snapshot()
	if st.Aborted == nil || st.HSM || !strings.Contains(screen(c), "ABORTED at step 3.3") || !strings.Contains(screen(c), "▶ STEP 4.1") {
		t.Fatalf("after the abort (HSM %v):\n%s", st.HSM, screen(c))
	}
	c.refreshKeys()
	if c.keys.Abort.Enabled() {
		t.Fatal("abort is still offered after the abort")
	}
	press(t, c, "enter", "enter", "enter", "enter")
	// Every step is done: the roll call of the quorum's officers, in the
	// quorum panel's style; CO2 has gone. Then the close, and the officers
	// present cosign the final checkpoint one card at a time.
	if s := screen(c); c.drv.Snapshot().Closed || !strings.Contains(s, "Roll call at the close · 3 of 3 officers here") ||
		!strings.Contains(s, "[ OK ] 2 CO2  Bjorn Lindqvist    here") || !strings.Contains(s, "o an officer has gone") || !strings.Contains(s, "enter close the ceremony") {
		t.Fatalf("no roll call:\n%s", s)
	}
	press(t, c, "o")
	typeText(t, c, "2")
	press(t, c, "enter")
	if s := screen(c); c.drv.Snapshot().Closed || !strings.Contains(s, "Roll call at the close · 2 of 3 officers here") || !strings.Contains(s, "[ -- ] 2 CO2  Bjorn Lindqvist    gone") {
		t.Fatalf("CO2 gone:\n%s", s)
	}
	press(t, c, "enter")
	st = c.drv.Snapshot()
	if s := screen(c); !st.Closed || !slices.Equal(st.Absent, []string{"CO2"}) || !strings.Contains(s, "cosigned by 0 of 2 present officers") ||
		!strings.Contains(s, "[    ] 1 CO1  Amara Okafor       present your card") || !strings.Contains(s, "[ -- ] 2 CO2  Bjorn Lindqvist    absent") {
		t.Fatalf("after the close:\n%s", s)
	}
	press(t, c, "1", "3")
	final := c.drv.Snapshot()
	if s := screen(c); !slices.Equal(final.Final.Cosigned, []string{"CO1", "CO3"}) || !strings.Contains(s, "cosigned by 2 of 2 present officers") ||
		!strings.Contains(s, "[ OK ] 3 CO3  Chen Wei           cosigned") || final.Awaiting() != session.NextDone {
		t.Fatalf("the officers present did not cosign:\n%s", s)
	}
}

// TestConsoleSignIn: the sign-in step asks each role's name in turn (enter
// alone: absent), shows the table, logs it; a later step witnessed by an
// absent role cannot be done, only skipped or aborted.
func TestConsoleSignIn(t *testing.T) {
	raw, _ := scripts.Get("signing")
	roster := string(scripts.DemoRoster())
	script, err := ceremony.LoadScriptWith("signing.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	c := newConsoleScript(t, 160, 45, script, nil)
	press(t, c, "enter", "enter")
	if mode(c) != "signin" || !strings.Contains(screen(c), "Name of the Ceremony Administrator (CA), or enter if absent") {
		t.Fatalf("no sign-in field:\n%s", screen(c))
	}
	for _, r := range script.Roles {
		if r.ID != "SSC2" {
			typeText(t, c, "Person "+r.ID)
		}
		press(t, c, "enter")
	}
	s := screen(c)
	for _, want := range []string{"CA    Ceremony Administrator               Person CA", "SSC2  System Security Controller 2         absent", "11 participants signed in; absent: SSC2"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after the sign-in, no %q in\n%s", want, s)
		}
	}
	press(t, c, "enter", "enter", "enter")
	if s := screen(c); !strings.Contains(s, "step 1.4 needs SSC2, who did not sign in") {
		t.Fatalf("a step witnessed by an absent role:\n%s", s)
	}
}

// TestConsoleContingency: the choice step lists the script's contingencies;
// the ids typed are logged and shown as ON, and the steps they rule out are
// marked NA in the step list.
func TestConsoleContingency(t *testing.T) {
	raw, _ := scripts.Get("admin")
	script, err := ceremony.LoadScript("admin.yaml", raw)
	if err != nil {
		t.Fatal(err)
	}
	c := newConsoleScript(t, 160, 45, script, nil)
	press(t, c, "enter", "enter")
	signInAll(t, c)
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "[    ] no-new-staff") || !strings.Contains(s, "The new staff member cannot attend") {
		t.Fatalf("the choice step:\n%s", s)
	}
	press(t, c, "enter")
	if mode(c) != "choose" {
		t.Fatalf("enter at the choice opens no field (mode %q)", mode(c))
	}
	typeText(t, c, "no-new-staff")
	press(t, c, "enter")
	if s := screen(c); !strings.Contains(s, "[ ON ] no-new-staff") || !strings.Contains(s, "contingencies chosen: no-new-staff") {
		t.Fatalf("after the choice:\n%s", s)
	}
	press(t, c, "enter", "enter", "enter", "enter", "enter")
	if s := screen(c); !strings.Contains(s, "[ NA ] 3.1") || !strings.Contains(s, "[ NA ] 3.2") || !strings.Contains(s, "▶ STEP 4.1") {
		t.Fatalf("the induction is not passed over:\n%s", s)
	}
}

// TestConsoleResumedShowsTheTruth: a console resumed (here after an
// unlogged stop in the middle of the quorum) shows the checkpoint on disk
// as covering the log once it is read, not "pending"; the cards the
// restart lost say to present them again, with no stale time; and the
// resume's entry says what was lost.
func TestConsoleResumedShowsTheTruth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	c := consoleOn(t, dir, 160, 45, nil, nil)
	for len(c.state.Accepted) < 2 {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	held := append([]string(nil), c.state.Accepted...)
	c.drv.Close()
	c.drv.Log().Close(context.Background()) // no stop logged: as a crash leaves it
	r := consoleOn(t, dir, 160, 45, nil, nil)
	drain(t, r, r.awaitCheckpoint())
	s := screen(r)
	if strings.Contains(s, "checkpoint pending") || !strings.Contains(s, fmt.Sprintf("checkpoint %d signed", r.state.LogSize)) {
		t.Fatalf("the resumed console does not show its checkpoint:\n%s", s)
	}
	for _, id := range held {
		row := regexp.MustCompile(`\[    \] \d ` + id + ` .*present it again\s+│`)
		if !row.MatchString(s) {
			t.Fatalf("card %s, lost by the restart, does not say to present it again:\n%s", id, s)
		}
	}
	if !strings.Contains(s, "after an unlogged stop") {
		t.Fatalf("the resume's entry is not on the screen:\n%s", s)
	}
}
