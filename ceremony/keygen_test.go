package ceremony

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

// IANA's test KSK1 as a DNSKEY, with its tags and DS.
const (
	ksk1DNSKEY = ".\t172800\tIN\tDNSKEY\t257 3 8 AwEAAeDRkrdHVmYr02azOXBd71VkutdjhDWyro+9IsGoFSN61RAgCmwQkw3MZR1zQZziReIdruh7zsKFzzYNV5O5xeRjrTktYM56R4dWucrmctQJdbJirDfKdNB57Pg7ZZAv2Lx+YkouC0+4E+cscYAbS7/p4P2F9kVqbpXjswpjzKojIQPzC5JpkOem8vjhRAVyvFfJ9fX5lM7XUzKMhvRCU8Kk/T4/n9tSZh6xLvu1X2u9U3dd9QAb0tK+hDal35rZkAs930JQKcvuRxbWv41SD2RajpQsHxYvD/1Kt3tZBBA6+n7YK6ePdNar0Fo5Az6Y1Uew+Gofmu9TLx4lUk6x4pM="
	ksk1Tag    = 5017
	ksk1Ds     = "f40facfd24ebf0ba0665356b13a568631bb46d01d7c079d65cecd4286057b2f0"
)

func keygenScript(t *testing.T) *Script {
	t.Helper()
	raw, _ := scripts.Get("keygen")
	// The shipped script names roster.yaml; the demo's quorum stands in.
	roster := string(scripts.DemoRoster())
	s, err := LoadScriptWith("keygen.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keygenPath writes a whole key-generation ceremony; gen writes the
// key.generate step's entries (the confirmation and the key).
func keygenPath(s *Script, gen func(b *entries, st Step)) []*event.Entry {
	return happyPath(s, func(b *entries, st Step) bool {
		if st.Action != ActionKeyGen {
			return false
		}
		gen(b, st)
		finish(b, st)
		return true
	})
}

func keyFields(st Step, extra map[string]any) map[string]any {
	m := map[string]any{"step": st.ID, "label": "KSK-NEW", "algorithm": 8, "key_tag": ksk1Tag, "key_tag_revoked": ksk1Tag + 128,
		"ds_sha256": ksk1Ds, "dnskey": ksk1DNSKEY}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// TestKeyGenerationReplay: the verifier accepts a generated key whose tags
// and DS are those of the DNSKEY logged, after the typed confirmation, and
// refuses one before it, under another label, with tags or a DS that the
// DNSKEY does not give, or a step closed without its key.
func TestKeyGenerationReplay(t *testing.T) {
	s := keygenScript(t)
	good := func(b *entries, st Step) {
		b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
		b.add(event.KindKeyGenerated, keyFields(st, nil))
	}
	st, err := Replay(s, keygenPath(s, good))
	if err != nil || !st.Closed || len(st.Keys) != 1 || st.Keys[0].RevokedTag != 5145 {
		t.Fatalf("a key generation ceremony: %v (%+v)", err, st.Keys)
	}
	bad := map[string]struct {
		gen  func(b *entries, st Step)
		want string
	}{
		"before the typed Yes": {func(b *entries, st Step) { b.add(event.KindKeyGenerated, keyFields(st, nil)) }, "before the typed confirmation"},
		"another label": {func(b *entries, st Step) {
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			b.add(event.KindKeyGenerated, keyFields(st, map[string]any{"label": "KSK-OTHER"}))
		}, `the script asks for "KSK-NEW"`},
		"a tag the DNSKEY does not give": {func(b *entries, st Step) {
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			b.add(event.KindKeyGenerated, keyFields(st, map[string]any{"key_tag": 20326, "key_tag_revoked": 20454}))
		}, "do not match the DNSKEY logged"},
		"a DS the DNSKEY does not give": {func(b *entries, st Step) {
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			b.add(event.KindKeyGenerated, keyFields(st, map[string]any{"ds_sha256": strings.Repeat("0", 64)}))
		}, "do not match the DNSKEY logged"},
		"no key": {func(b *entries, st Step) {
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
		}, "witnessed before its action is done"},
	}
	for name, c := range bad {
		_, err := Replay(s, keygenPath(s, c.gen))
		if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestKeyGenerationScriptRules: key.generate needs a label, a known
// algorithm, a typed confirmation, and the HSM logged in before it; a new
// card set (secret: new) is dealt while the HSM is logged in.
func TestKeyGenerationScriptRules(t *testing.T) {
	raw, _ := scripts.Get("keygen")
	roster := string(scripts.DemoRoster())
	include := func(string) ([]byte, error) { return []byte(roster), nil }
	for change, want := range map[[2]string]string{
		{`params: {label: KSK-NEW, algorithm: "8", bits: "2048"}`, `params: {algorithm: "8"}`}: "key.generate needs params: {label: …}",
		{`algorithm: "8", bits: "2048"`, `algorithm: "5"`}:                                     `algorithm "5"`,
		{`algorithm: "8", bits: "2048"`, `algorithm: "13", bits: "2048"`}:                      `bits "2048"`,
		{`bits: "2048"}`, `bits: "2048", size: "1"}`}:                                          `takes no parameter "size"`,
		{"        confirm: \"Yes\"\n      - id: \"4.2\"", "      - id: \"4.2\""}:               "irreversible and needs a typed confirmation",
		{"        action: hsm.login\n", ""}:                                                    "needs an hsm.login step before it",
		{`{threshold: "3", secret: new}`, `{threshold: "3", secret: fresh}`}:                   `secret "fresh": want same`,
	} {
		text := strings.Replace(string(raw), change[0], change[1], 1)
		if text == string(raw) {
			t.Fatalf("the keygen script no longer holds %q", change[0])
		}
		if _, err := LoadScriptWith("keygen.yaml", []byte(text), include); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q → %q: %v, want %q", change[0], change[1], err, want)
		}
	}
	// The HSM logged out at 4.2 instead of 5.1: the new card set comes after.
	text := strings.Replace(string(raw), "        action: hsm.logout\n", "", 1)
	text = strings.Replace(text, "        witnesses: [IW, RZM]\n", "        witnesses: [IW, RZM]\n        action: hsm.logout\n", 1)
	if _, err := LoadScriptWith("keygen.yaml", []byte(text), include); err == nil || !strings.Contains(err.Error(), "step 4.3 (cards.reshare, secret: new) comes after the HSM is logged out (step 4.2)") {
		t.Errorf("a new card set after the logout: %v", err)
	}
	// An HSM login after the new card set: the script's roster no longer opens it.
	i := strings.LastIndex(string(raw), "        witnesses: [IW, SSC2]\n") // step 5.2
	text = string(raw[:i]) + "        witnesses: [IW, SSC2]\n        action: hsm.login\n" + string(raw[i+len("        witnesses: [IW, SSC2]\n"):])
	_, err := LoadScriptWith("keygen.yaml", []byte(text), include)
	var se *ScriptError
	if !errors.As(err, &se) || !slices.ContainsFunc(se.Problems, func(p string) bool {
		return strings.Contains(p, "step 5.2 (hsm.login) follows step 4.3, whose new card set changes the HSM's PIN")
	}) {
		t.Errorf("a login after the new card set: %v", err)
	}
}
