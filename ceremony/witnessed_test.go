package ceremony

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

// witnessedScript is the demo with a witnessed quorum (2 of 3, CO2's serial
// on the roster).
func witnessedScript(t *testing.T) *Script {
	t.Helper()
	raw, _ := scripts.Get("demo")
	block := "quorum:\n  mode: witnessed\n  threshold: 2\n  cards:\n    - {id: CO1, holder: A}\n    - {id: CO2, holder: B, serial: S-2}\n    - {id: CO3, holder: C}\nacts:"
	s, err := LoadScript("w.yaml", []byte(regexp.MustCompile(`(?s)quorum:\n.*?\nacts:`).ReplaceAllString(string(raw), block)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// witnessedPath is the happy path with the quorum step's cards recorded as
// the cards is given, then quorum.reached.
func witnessedPath(s *Script, cards func(b *entries, st Step)) func(b *entries, st Step) bool {
	return func(b *entries, st Step) bool {
		if st.Action != ActionQuorum {
			return false
		}
		cards(b, st)
		b.add(event.KindQuorumReached, map[string]any{"step": st.ID, "cards": []string{"CO1", "CO2"}})
		finish(b, st)
		return true
	}
}

// TestWitnessedReplay: the verifier accepts a witnessed quorum recorded with
// serials and the step's witness, and refuses one without a serial, with a
// serial the roster contradicts, confirmed by someone who does not witness
// the step, or with cards presented for shares; and a shares quorum refuses
// witnessed cards.
func TestWitnessedReplay(t *testing.T) {
	s := witnessedScript(t)
	good := func(b *entries, st Step) {
		b.add(event.KindCardWitnessed, map[string]any{"step": st.ID, "card": "CO1", "serial": "S-1", "witness": "IW"})
		b.add(event.KindCardWitnessed, map[string]any{"step": st.ID, "card": "CO2", "serial": "S-2", "witness": "IW"})
	}
	if st, err := Replay(s, happyPath(s, witnessedPath(s, good))); err != nil || !st.Closed {
		t.Fatalf("a witnessed ceremony: %v", err)
	}
	bad := map[string]struct {
		cards func(b *entries, st Step)
		want  string
	}{
		"no serial": {func(b *entries, st Step) {
			b.add(event.KindCardWitnessed, map[string]any{"step": st.ID, "card": "CO1", "witness": "IW"})
		}, "needs the serial"},
		"a serial the roster contradicts": {func(b *entries, st Step) {
			b.add(event.KindCardWitnessed, map[string]any{"step": st.ID, "card": "CO2", "serial": "S-9", "witness": "IW"})
		}, "has serial S-2 on the roster"},
		"confirmed by a non-witness": {func(b *entries, st Step) {
			b.add(event.KindCardWitnessed, map[string]any{"step": st.ID, "card": "CO1", "serial": "S-1", "witness": "CA"})
		}, "does not witness step"},
		"a card presented for its share": {func(b *entries, st Step) {
			b.add(event.KindCardPresented, map[string]any{"step": st.ID, "card": "CO1"})
		}, "the script's quorum is witnessed"},
	}
	for name, c := range bad {
		_, err := Replay(s, happyPath(s, witnessedPath(s, c.cards)))
		if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	shares := demoScript(t)
	_, err := Replay(shares, happyPath(shares, witnessedPath(shares, good)))
	if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "quorum holds shares") {
		t.Errorf("witnessed cards under a shares quorum: %v", err)
	}
	// A witnessed quorum step must name its witness.
	raw, _ := scripts.Get("demo")
	text := regexp.MustCompile(`(?s)quorum:\n.*?\nacts:`).ReplaceAllString(string(raw), "quorum:\n  mode: witnessed\n  threshold: 1\n  cards:\n    - {id: CO1, holder: A}\nacts:")
	text = strings.Replace(text, "        witnesses: [IW]\n        action: quorum.collect", "        action: quorum.collect", 1)
	if _, err := LoadScript("w.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), "name the witness") {
		t.Errorf("a witnessed quorum step without a witness: %v", err)
	}
}
