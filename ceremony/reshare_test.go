package ceremony

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

func officersScript(t *testing.T) *Script {
	t.Helper()
	raw, _ := scripts.Get("officers")
	roster := string(scripts.DemoRoster())
	s, err := LoadScriptWith("officers.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReshareReplay: the verifier accepts an officer replacement that keeps
// the secret (same first commitment), revokes every old card and deals at
// least the threshold of new ones after the typed Yes, and refuses each
// departure from that.
func TestReshareReplay(t *testing.T) {
	s := officersScript(t)
	old := []string{"CO1", "CO2", "CO3", "CO4", "CO5", "CO6", "CO7"}
	fields := func(st Step, extra map[string]any) map[string]any {
		m := map[string]any{"step": st.ID, "threshold": 3, "cards": []string{"CO8", "CO9", "CO10"}, "revoked": old,
			"commitment": s.Quorum.Commitments[0], "roster_sha256": strings.Repeat("cd", 32)}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	roster := event.Artefact{Name: "roster-2.yaml", SHA256: strings.Repeat("cd", 32), Size: 10}
	path := func(gen func(b *entries, st Step)) []*event.Entry {
		return happyPath(s, func(b *entries, st Step) bool {
			if st.Action != ActionReshare {
				return false
			}
			gen(b, st)
			finish(b, st)
			return true
		})
	}
	yes := func(b *entries, st Step) {
		b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
	}
	st, err := Replay(s, path(func(b *entries, st Step) { yes(b, st); b.add(event.KindCardsReshared, fields(st, nil), roster) }))
	if err != nil || !st.Closed || st.Reshared == nil || st.Reshared.Roster.Name != "roster-2.yaml" {
		t.Fatalf("an officer replacement: %v", err)
	}
	for name, c := range map[string]struct {
		gen  func(b *entries, st Step)
		want string
	}{
		"before the typed Yes": {func(b *entries, st Step) { b.add(event.KindCardsReshared, fields(st, nil), roster) }, "before the typed confirmation"},
		"another threshold": {func(b *entries, st Step) {
			yes(b, st)
			b.add(event.KindCardsReshared, fields(st, map[string]any{"threshold": 2}), roster)
		}, "threshold 2, the script asks for 3"},
		"an old card not revoked": {func(b *entries, st Step) {
			yes(b, st)
			b.add(event.KindCardsReshared, fields(st, map[string]any{"revoked": old[1:]}), roster)
		}, "every card of the old roster"},
		"a new secret": {func(b *entries, st Step) {
			yes(b, st)
			b.add(event.KindCardsReshared, fields(st, map[string]any{"commitment": s.Quorum.Commitments[1]}), roster)
		}, "the secret changed"},
		"an old id reused": {func(b *entries, st Step) {
			yes(b, st)
			b.add(event.KindCardsReshared, fields(st, map[string]any{"cards": []string{"CO8", "CO9", "CO1"}}), roster)
		}, "new card CO1 has an id of the old roster"},
		"too few new cards": {func(b *entries, st Step) {
			yes(b, st)
			b.add(event.KindCardsReshared, fields(st, map[string]any{"cards": []string{"CO8"}}), roster)
		}, "1 new cards for a threshold of 3"},
		"no roster cited": {func(b *entries, st Step) { yes(b, st); b.add(event.KindCardsReshared, fields(st, nil)) }, "new roster is cited"},
	} {
		_, err := Replay(s, path(c.gen))
		if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestProvisionReplay: the key generation script provisions a new card set
// (secret: new) while the HSM is logged in; the verifier refuses a card set
// that keeps the old secret and one recorded as re-dealt.
func TestProvisionReplay(t *testing.T) {
	s := keygenScript(t)
	st, err := Replay(s, happyPath(s, nil))
	if err != nil || !st.Closed || st.Reshared == nil || !st.Reshared.NewSecret {
		t.Fatalf("a key generation with a new card set: %v", err)
	}
	var old []string
	for _, c := range s.Quorum.Cards {
		old = append(old, c.ID)
	}
	entry := func(st Step, commitment, secret string) map[string]any {
		return map[string]any{"step": st.ID, "threshold": 3, "cards": []string{"CO8", "CO9", "CO10"}, "revoked": old,
			"commitment": commitment, "roster_sha256": strings.Repeat("cd", 32), "secret": secret}
	}
	roster := event.Artefact{Name: "roster-2.yaml", SHA256: strings.Repeat("cd", 32), Size: 10}
	for name, c := range map[string]struct {
		gen  func(b *entries, st Step)
		want string
	}{
		"the old secret": {func(b *entries, st Step) {
			b.add(event.KindCardsReshared, entry(st, s.Quorum.Commitments[0], SecretNew), roster)
		}, "the secret did not change"},
		"recorded as re-dealt": {func(b *entries, st Step) {
			b.add(event.KindCardsReshared, entry(st, s.Quorum.Commitments[0], SecretSame), roster)
		}, "deals the same secret; the script's step 4.3 deals the new one"},
	} {
		entries := happyPath(s, func(b *entries, st Step) bool {
			if st.Action != ActionReshare {
				return false
			}
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			c.gen(b, st)
			finish(b, st)
			return true
		})
		_, err := Replay(s, entries)
		if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
