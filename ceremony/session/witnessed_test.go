package session

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
)

// witnessedDemo is the demo script with a witnessed quorum: 3 of 5 cards
// that the HSM checks itself, CO2's serial on the roster.
func witnessedDemo(t testing.TB) *ceremony.Script {
	t.Helper()
	raw, err := scripts.Get("demo")
	if err != nil {
		t.Fatal(err)
	}
	block := "quorum:\n  mode: witnessed\n  threshold: 3\n  cards:\n" +
		"    - {id: CO1, holder: Amara Okafor}\n    - {id: CO2, holder: Bjorn Lindqvist, serial: \"KP-0002\"}\n" +
		"    - {id: CO3, holder: Chen Wei}\n    - {id: CO4, holder: Dolores Ruiz, revoked: true}\n    - {id: CO5, holder: Emeka Obi}\n"
	text := regexp.MustCompile(`(?s)quorum:\n.*?\nacts:`).ReplaceAllString(string(raw), block+"acts:")
	s, err := ceremony.LoadScript("demo-witnessed.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWitnessedQuorum runs the demo with a quorum the HSM enforces itself:
// the console records each card the HSM accepted with its serial and the
// witness's confirmation, refuses a serial that differs from the roster, a
// revoked or repeated card and a card presented for its share, reaches the
// quorum at the threshold, logs in without a secret, and the log replays.
func TestWitnessedQuorum(t *testing.T) {
	ctx := context.Background()
	script := witnessedDemo(t)
	r := newRig(t)
	l, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key, New: true,
		Open:          event.Open{ScriptSHA256: script.Digest},
		OpenArtefacts: []transparency.Artefact{{Name: script.Name, Data: script.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	demo, _ := DemoScript()
	cfg, err := DemoConfig(demo, l, false, r.skr)
	if err != nil {
		t.Fatal(err)
	}
	// A token the HSM's own card readers activate: no PIN from the console.
	cfg.Script, cfg.Cards = script, nil
	if cfg.Token, err = hsm.LoadSoftToken("keyper", map[string]string{"KSK1": "../../hsm/assets/demo-ksk1.key"}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for s.Next() != NextCards {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s.Witness() != "IW" {
		t.Fatalf("the witness of the quorum step is %q", s.Witness())
	}
	size := l.Size()
	for _, bad := range []struct{ id, serial, want string }{
		{"CO1", " ", "type the serial"},
		{"CO2", "KP-0009", "has serial KP-0002 on the roster, not KP-0009"},
		{"CO4", "KP-0004", "revoked"},
		{"CO9", "KP-0009", "not on the roster"},
	} {
		if err := s.WitnessCard(ctx, bad.id, bad.serial); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("card %s serial %q: %v, want %q", bad.id, bad.serial, err, bad.want)
		}
	}
	if err := s.PresentCard(ctx, "CO1"); err == nil || !strings.Contains(err.Error(), "the HSM checks the cards itself") {
		t.Fatalf("a card presented for its share in witnessed mode: %v", err)
	}
	if l.Size() != size {
		t.Fatal("a refused card was logged")
	}
	for _, c := range [][2]string{{"CO1", "KP-0001"}, {"CO2", "KP-0002"}} {
		if err := s.WitnessCard(ctx, c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WitnessCard(ctx, "CO1", "KP-0001"); err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Fatalf("CO1 twice: %v", err)
	}
	if err := s.WitnessCard(ctx, "CO5", "KP-0005"); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); !st.Quorum || len(st.Accepted) != 3 {
		t.Fatalf("after three witnessed cards: quorum %v, %v", st.Quorum, st.Accepted)
	}
	for s.Next() != NextDone {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatalf("at %v: %v", s.State().Next, err)
		}
	}
	l.Close(ctx)
	entries, err := readEntries(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ceremony.Replay(script, entries)
	if err != nil || !st.Closed {
		t.Fatalf("replay: %v (closed %v)", err, st.Closed)
	}
	witnessed := 0
	for _, e := range entries {
		if e.Kind() == event.KindCardWitnessed {
			witnessed++
			if ev := e.Event.(event.CardWitnessed); ev.Witness != "IW" || ev.Serial == "" {
				t.Fatalf("a witnessed card without its witness or serial: %+v", ev)
			}
		}
	}
	if witnessed != 3 {
		t.Fatalf("%d card.witnessed entries, want 3", witnessed)
	}
	if _, err := os.Stat(r.skr); err != nil {
		t.Fatal("no SKR after the witnessed ceremony")
	}
}

// TestKSRHash1: a KSR whose SHA-256 is not the hash#1 given to the console
// is not loaded (nothing logged); the right one is loaded and logged with
// it, and the engine refuses a log where they differ.
func TestKSRHash1(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	defer l.Close(ctx)
	s.cfg.KSRHash1 = strings.Repeat("ab", 32)
	for s.Next() != NextDone {
		cur, _ := s.State().Current()
		if cur.Action == ceremony.ActionKSRLoad && s.State().KSR == nil {
			break
		}
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	size := l.Size()
	if err := s.Confirm(ctx); err == nil || !strings.Contains(err.Error(), "but hash#1 is abab") {
		t.Fatalf("a KSR that is not hash#1: %v", err)
	}
	if l.Size() != size {
		t.Fatal("a KSR that is not hash#1 was logged")
	}
	s.cfg.KSRHash1 = "BA599094" + "95d5ad643509ac9bc5e7cf0114c50888e9b39288475b6e191588c6ea"
	if err := s.Confirm(ctx); err != nil {
		t.Fatalf("the KSR that is hash#1: %v", err)
	}
	l.Close(ctx)
	entries, err := readEntries(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	loaded, ok := last.Event.(event.KSRLoaded)
	if !ok || loaded.ExpectedSHA256 != strings.ToLower(s.cfg.KSRHash1) {
		t.Fatalf("the loaded KSR's entry: %s %+v", last.Kind(), last.Event)
	}
	loaded.ExpectedSHA256 = strings.Repeat("cd", 32)
	last.Event = loaded
	if _, err := ceremony.Replay(r.script, entries); err == nil || !strings.Contains(err.Error(), "but hash#1 is cdcd") {
		t.Fatalf("a log whose KSR is not its hash#1: %v", err)
	}
}
