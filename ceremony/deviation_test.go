package ceremony

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

// TestSkipAndAbort: a step without an action is skipped with a reason and
// its witness's confirmation; an action step is not; an abort leaves out
// every step up to the always-run acts, which still run (the HSM logged out
// if it was in), and the ceremony closes; the verifier refuses each breach.
func TestSkipAndAbort(t *testing.T) {
	s := demoScript(t)
	skip := func(id string, f map[string]any) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID != id {
				return false
			}
			m := map[string]any{"step": st.ID}
			for k, v := range f {
				m[k] = v
			}
			b.add(event.KindStepSkipped, m)
			return true
		}
	}
	st, err := Replay(s, happyPath(s, skip("1.3", map[string]any{"reason": "safe 1 jammed; equipment in safe 2", "witness": "IW"})))
	if err != nil || !st.Closed || len(st.Skipped) != 1 || st.Skipped[0].Step != "1.3" {
		t.Fatalf("a skipped step: %v (%+v)", err, st.Skipped)
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"no reason":                 {skip("1.3", map[string]any{"witness": "IW"}), "needs its reason"},
		"a witness not of the step": {skip("1.3", map[string]any{"reason": "r", "witness": "RZM"}), "witnessed by [IW SSC1]"},
		"the actor confirms":        {skip("1.2", map[string]any{"reason": "r", "witness": "IW"}), "a declared role other than IW"},
		"an action step":            {skip("3.1", map[string]any{"reason": "r", "witness": "IW"}), "cannot be skipped"},
	} {
		if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}

	// An abort leaves out the rest of act 2 and all of act 3; acts 4 and 5
	// (always) still run. The console logs the HSM out before an abort, so
	// a ceremony aborted with the HSM in closes with it out.
	aborted := false
	abortAt := func(id string) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID == id && !aborted {
				aborted = true
				b.add(event.KindAborted, map[string]any{"step": st.ID, "reason": "the KSR hash does not match hash#1"})
			}
			return aborted && !s.Acts[st.Act].Always
		}
	}
	st, err = Replay(s, happyPath(s, abortAt("2.1")))
	if err != nil || !st.Closed || st.Aborted == nil || len(st.Skipped) != 10 {
		t.Fatalf("an abort before the HSM: %v (aborted %v, %d left out)", err, st.Aborted, len(st.Skipped))
	}
	aborted = false
	st, err = Replay(s, happyPath(s, abortAt("3.3")))
	if err != nil || !st.Closed || st.HSM || len(st.Skipped) != 5 {
		t.Fatalf("an abort with the HSM in: %v (HSM %v, %d left out)", err, st.HSM, len(st.Skipped))
	}
	_, err = Replay(s, happyPath(s, func(b *entries, st Step) bool {
		if st.ID == "2.1" {
			b.add(event.KindAborted, map[string]any{"step": st.ID})
			return true
		}
		return false
	}))
	if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "an abort needs its reason") {
		t.Fatalf("an abort without a reason: %v", err)
	}
}

// TestExpectRules: expect: belongs to a ksr.load step and names a SHA-256;
// a KSR loaded under a script's hash#1 must be that KSR.
func TestExpectRules(t *testing.T) {
	raw, _ := scripts.Get("demo")
	text := string(raw)
	withExpect := func(after, hash string) string {
		return strings.Replace(text, after, after+"\n        expect: {name: KSR, sha256: \""+hash+"\"}", 1)
	}
	if _, err := LoadScript("d.yaml", []byte(withExpect("        action: hsm.login", ksrHash))); err == nil || !strings.Contains(err.Error(), "expect: applies to a ksr.load step") {
		t.Errorf("expect on a login step: %v", err)
	}
	if _, err := LoadScript("d.yaml", []byte(withExpect("        action: ksr.load", "abc"))); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("expect with a short hash: %v", err)
	}
	good, err := LoadScript("d.yaml", []byte(withExpect("        action: ksr.load", ksrHash)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Replay(good, happyPath(good, nil)); err != nil {
		t.Fatalf("the KSR that is hash#1: %v", err)
	}
	other, _ := LoadScript("d.yaml", []byte(withExpect("        action: ksr.load", strings.Repeat("0", 64))))
	if _, err := Replay(other, happyPath(other, nil)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "but hash#1 is 0000") {
		t.Errorf("a KSR that is not the script's hash#1: %v", err)
	}
}

// TestSignInRules: the sign-in names people by declared role, its own
// acting role among them; a step whose actor or witness did not sign in
// cannot be done.
func TestSignInRules(t *testing.T) {
	raw, _ := scripts.Get("signing")
	roster := string(scripts.DemoRoster())
	s, err := LoadScriptWith("signing.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	everyone := map[string]string{}
	for _, r := range s.Roles {
		everyone[r.ID] = "Person " + r.ID
	}
	signIn := func(names map[string]string) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action != ActionSignIn {
				return false
			}
			b.add(event.KindSignedIn, map[string]any{"step": st.ID, "participants": names})
			finish(b, st)
			return true
		}
	}
	if st, err := Replay(s, happyPath(s, signIn(everyone))); err != nil || !st.Closed || st.Participants["CA"] != "Person CA" {
		t.Fatalf("everyone signed in: %v", err)
	}
	without := func(role string) map[string]string {
		m := map[string]string{}
		for k, v := range everyone {
			if k != role {
				m[k] = v
			}
		}
		return m
	}
	// SSC2 is absent: 1.4 and 5.2, which SSC2 witnesses, are skipped with
	// the IW's confirmation, not SSC2's.
	skip14 := func(witness string) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			switch st.ID {
			case "1.2":
				b.add(event.KindSignedIn, map[string]any{"step": st.ID, "participants": without("SSC2")})
				finish(b, st)
				return true
			case "1.4", "5.2":
				b.add(event.KindStepSkipped, map[string]any{"step": st.ID, "reason": "SSC2 is absent", "witness": witness})
				return true
			}
			return false
		}
	}
	if st, err := Replay(s, happyPath(s, skip14("IW"))); err != nil || len(st.Skipped) != 2 {
		t.Fatalf("1.4 skipped with the IW's confirmation: %v", err)
	}
	if _, err := Replay(s, happyPath(s, skip14("SSC2"))); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "confirmation of SSC2, who did not sign in") {
		t.Errorf("a skip confirmed by an absent witness: %v", err)
	}
	for name, c := range map[string]struct {
		names map[string]string
		want  string
	}{
		"SSC2 absent, needed at 1.4":  {without("SSC2"), "step 1.4 is confirmed by SSC2, who did not sign in"},
		"the IW leading it is absent": {without("IW"), "the sign-in's own acting role IW is absent"},
		"an undeclared role":          {map[string]string{"IW": "I", "CA": "C", "XX": "Someone"}, "every name is for a declared role"},
	} {
		if _, err := Replay(s, happyPath(s, signIn(c.names))); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestZeroizeReplay: the HSM is zeroized after the quorum, the login and
// the typed Yes, and read back empty; the verifier refuses otherwise.
func TestZeroizeReplay(t *testing.T) {
	raw, _ := scripts.Get("decommission")
	roster := string(scripts.DemoRoster())
	s, err := LoadScriptWith("decommission.yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	if st, err := Replay(s, happyPath(s, nil)); err != nil || !st.Closed || st.ZeroizedAt != "2.3" {
		t.Fatalf("a decommissioning: %v", err)
	}
	zeroize := func(fs ...func(b *entries, st Step)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action != ActionZeroize {
				return false
			}
			for _, f := range fs {
				f(b, st)
			}
			finish(b, st)
			return true
		}
	}
	yes := func(b *entries, st Step) {
		b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
	}
	zero := func(remaining int) func(b *entries, st Step) {
		return func(b *entries, st Step) {
			b.add(event.KindZeroized, map[string]any{"step": st.ID, "destroyed": []string{"KSK1"}, "remaining": remaining})
		}
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"before the typed Yes": {zeroize(zero(0)), "before the typed confirmation"},
		"keys left":            {zeroize(yes, zero(1)), "1 keys remain after zeroizing"},
		"never zeroized":       {zeroize(yes), "witnessed before its action is done"},
	} {
		if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestWitnessRules: a witnessed step is done only after each of its
// witnesses, in the script's order, confirms it.
func TestWitnessRules(t *testing.T) {
	s := demoScript(t)
	at := func(id string, f func(b *entries, st Step)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID != id {
				return false
			}
			f(b, st)
			return true
		}
	}
	done := func(b *entries, st Step) {
		b.add(event.KindStepDone, map[string]any{"step": st.ID, "role": st.Role, "witnesses": st.Witnesses})
	}
	witness := func(w string) func(b *entries, st Step) {
		return func(b *entries, st Step) { b.add(event.KindStepWitnessed, map[string]any{"step": st.ID, "witness": w}) }
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"no confirmation": {at("1.1", done), "done without its witnesses' confirmation"},
		"one of two":      {at("1.3", func(b *entries, st Step) { witness("IW")(b, st); done(b, st) }), "([IW] confirmed of [IW SSC1])"},
		"out of order":    {at("1.3", witness("SSC1")), `confirmed by "SSC1"; IW confirms next`},
		"not a witness":   {at("1.1", witness("RZM")), `confirmed by "RZM"; IW confirms next`},
		"one too many":    {at("1.2", witness("IW")), "no witness left to confirm it"},
	} {
		if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestRepeatRules: the step just done, if it has no action, can be done
// again with the reason and a witness's confirmation; not an action step,
// not an older step, not a step passed over, not once the next has begun.
func TestRepeatRules(t *testing.T) {
	s := demoScript(t)
	repeatAt := func(at string, f map[string]any, after ...func(b *entries, st Step)) func(b *entries, st Step) bool {
		done := false
		return func(b *entries, st Step) bool {
			if st.ID != at || done {
				return false
			}
			done = true
			for _, g := range after {
				g(b, st)
			}
			m := map[string]any{"step": st.ID}
			for k, v := range f {
				m[k] = v
			}
			b.add(event.KindStepRepeated, m)
			// The step repeated is done again, then this one.
			prev := s.Steps()[indexOf(s, at)-1]
			finish(b, prev)
			return false
		}
	}
	st, err := Replay(s, happyPath(s, repeatAt("1.4", map[string]any{"repeat": "1.3", "reason": "bag number misread", "witness": "IW"})))
	if err != nil || !st.Closed || len(st.Repeated) != 1 || st.Repeated[0].Step != "1.3" {
		t.Fatalf("a repeated step: %v", err)
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"an older step":   {repeatAt("1.4", map[string]any{"repeat": "1.2", "reason": "r", "witness": "IW"}), "only the step just done, 1.3"},
		"an action step":  {repeatAt("3.3", map[string]any{"repeat": "3.2", "reason": "r", "witness": "IW"}), "has an action (hsm.login)"},
		"no reason":       {repeatAt("1.4", map[string]any{"repeat": "1.3", "witness": "IW"}), "needs its reason"},
		"not its witness": {repeatAt("1.4", map[string]any{"repeat": "1.3", "reason": "r", "witness": "RZM"}), "a witness of the step confirms it"},
		"the next begun": {repeatAt("1.4", map[string]any{"repeat": "1.3", "reason": "r", "witness": "IW"},
			func(b *entries, st Step) {
				b.add(event.KindStepWitnessed, map[string]any{"step": st.ID, "witness": "IW"})
			}), "has begun"},
	} {
		if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func indexOf(s *Script, id string) int {
	for i, st := range s.Steps() {
		if st.ID == id {
			return i
		}
	}
	return -1
}

// TestContingencies: the choice names declared contingencies; a step tied
// to one (unless:) is passed over as not applicable when it is chosen and
// cannot be done, and one that applies cannot be passed over.
func TestContingencies(t *testing.T) {
	raw, _ := scripts.Get("admin")
	s, err := LoadScript("admin.yaml", raw)
	if err != nil {
		t.Fatal(err)
	}
	choose := func(ids []string, notApplicable ...string) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action == ActionChoose {
				b.add(event.KindChosen, map[string]any{"step": st.ID, "chosen": ids})
				finish(b, st)
				return true
			}
			if slices.Contains(notApplicable, st.ID) {
				b.add(event.KindNotApplicable, map[string]any{"step": st.ID})
				return true
			}
			return false
		}
	}
	if st, err := Replay(s, happyPath(s, choose([]string{}))); err != nil || !st.Closed || len(st.Chosen) != 0 {
		t.Fatalf("no contingency: %v", err)
	}
	st, err := Replay(s, happyPath(s, choose([]string{"no-new-staff"}, "3.1", "3.2")))
	if err != nil || !st.Closed || len(st.Skipped) != 2 || st.Skipped[0].Kind != "not applicable" {
		t.Fatalf("no new staff: %v (%+v)", err, st.Skipped)
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"an undeclared contingency":       {choose([]string{"fire-drill"}), `contingency "fire-drill" is not one the script declares`},
		"a step done that not applies":    {choose([]string{"no-new-staff"}), "step 3.1 does not apply with the contingencies chosen"},
		"a step passed over that applies": {choose([]string{}, "3.1"), "step 3.1 applies"},
	} {
		if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// A script whose steps depend on an undeclared contingency, or on one
	// chosen only later, does not load.
	bad := strings.Replace(string(raw), "unless: no-new-staff", "unless: no-power", 1)
	if _, err := LoadScript("admin.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), `contingency "no-power" is not declared`) {
		t.Errorf("an undeclared contingency: %v", err)
	}
	late := strings.Replace(string(raw), "        witnesses: [IW]\n        action: contingency.choose\n", "        witnesses: [IW]\n", 1)
	if _, err := LoadScript("admin.yaml", []byte(late)); err == nil || !strings.Contains(err.Error(), "no contingency.choose step") {
		t.Errorf("no choice: %v", err)
	}
}

// TestTwoKSRs: a script answers KSRs one after another; the engine keeps
// each answered KSR and refuses a second load before the first SKR.
func TestTwoKSRs(t *testing.T) {
	raw, _ := scripts.Get("signing-two")
	s, err := LoadScriptWith("signing-two.yaml", raw, func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
	if err != nil {
		t.Fatal(err)
	}
	st, err := Replay(s, happyPath(s, nil))
	if err != nil || !st.Closed || len(st.Answered) != 1 || st.SKR == nil || st.KSR.Step != "4.1" {
		t.Fatalf("two KSRs: %v (%d answered)", err, len(st.Answered))
	}
	_, err = Replay(s, happyPath(s, func(b *entries, st Step) bool {
		if st.ID == "3.4" { // no SKR for the first KSR: straight to the second
			finish(b, st)
			return true
		}
		return false
	}))
	if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "step 3.4 is witnessed before its action is done") {
		t.Errorf("the first SKR left out: %v", err)
	}
	bad := strings.Replace(string(raw), "        text: Check the first KSR against the signing policy.\n        witnesses: [IW]\n        action: ksr.check\n",
		"        text: Check the first KSR against the signing policy.\n        witnesses: [IW]\n        action: ksr.load\n", 1)
	if _, err := LoadScriptWith("signing-two.yaml", []byte(bad), func(string) ([]byte, error) { return scripts.DemoRoster(), nil }); err == nil ||
		!strings.Contains(err.Error(), "loads a KSR before the last one is answered") {
		t.Errorf("a second load before the first KSR is answered: %v", err)
	}
}
