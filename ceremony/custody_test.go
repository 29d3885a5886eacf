package ceremony

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

// signingScript is the shipped quarterly script with the demo's roster,
// or the same with its text changed by edit.
func signingScript(t *testing.T, edit func(string) string) *Script {
	t.Helper()
	raw, _ := scripts.Get("signing")
	if edit != nil {
		raw = []byte(edit(string(raw)))
	}
	s, err := LoadScriptWith("signing.yaml", raw, func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withRegister gives a ceremony's opening entry a custody register, and
// each bag opened that it holds the serial on record.
func withRegister(s *Script, list []*event.Entry, reg map[string]string) []*event.Entry {
	open := list[0].Event.(event.Open)
	open.Custody = reg
	list[0].Event = open
	for _, e := range list {
		if o, ok := e.Event.(event.BagOpened); ok && o.Expected == "" {
			o.Expected = reg[o.Item]
			e.Event = o
		}
	}
	reclose(s, list)
	return list
}

// reclose rewrites the close of entries changed after happyPath wrote them:
// it names the officers as the replay of the changed entries has them.
func reclose(s *Script, list []*event.Entry) {
	if n := len(list); list[n-1].Kind() == event.KindClose {
		if st, err := Replay(s, list[:n-1]); err == nil && len(st.CosignExpected()) > 0 {
			list[n-1].Event = event.Close{Cosigners: st.CosignExpected(), Absent: []string{}}
		}
	}
}

// TestCustodyChain: each bag opened is the one on record, or it is an
// incident; every item sealed goes into the register the ceremony ends
// with, each in a bag of its own.
func TestCustodyChain(t *testing.T) {
	s := signingScript(t, nil)
	reg := map[string]string{"hsm1": "BAG-hsm1-1", "laptop1": "BAG-laptop1-1", "osmedia1": "BAG-osmedia1-1", "safe9": "BB-99"}
	st, err := Replay(s, withRegister(s, happyPath(s, nil), reg))
	if err != nil || !st.Closed {
		t.Fatalf("the bags on record: %v", err)
	}
	want := map[string]string{"hsm1": "BAG-hsm1-2", "laptop1": "BAG-laptop1-2", "osmedia1": "BAG-osmedia1-2", "safe9": "BB-99"}
	for item, bag := range want {
		if st.Custody[item] != bag {
			t.Errorf("the register ends with %s in %q, want %s (an item not handled stays as it was)", item, st.Custody[item], bag)
		}
	}
	// First seen (no register): recorded as opened with nothing expected.
	if st, err := Replay(s, happyPath(s, nil)); err != nil || st.Bags[0].Expected != "" || len(st.Custody) != 3 {
		t.Fatalf("items first recorded here: %v %+v", err, st.Bags)
	}

	at := func(id string, f func(b *entries, st Step)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID != id {
				return false
			}
			f(b, st)
			return true
		}
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"another bag, logged as opened": {at("1.5", func(b *entries, st Step) {
			b.add(event.KindBagOpened, map[string]any{"step": "1.5", "item": "hsm1", "bag": "BAG-hsm1-X", "expected": "BAG-hsm1-1", "witness": "IW"})
		}), "that is an incident"},
		"the wrong bag claimed on record": {at("1.5", func(b *entries, st Step) {
			b.add(event.KindBagOpened, map[string]any{"step": "1.5", "item": "hsm1", "bag": "BAG-hsm1-X", "expected": "BAG-hsm1-X", "witness": "IW"})
		}), "but the register holds BAG-hsm1-1"},
		"another step's item": {at("1.5", func(b *entries, st Step) {
			b.add(event.KindBagOpened, map[string]any{"step": "1.5", "item": "laptop1", "bag": "BAG-laptop1-1", "expected": "BAG-laptop1-1", "witness": "IW"})
		}), "handles item hsm1"},
		"a witness not of the step": {at("1.5", func(b *entries, st Step) {
			b.add(event.KindBagOpened, map[string]any{"step": "1.5", "item": "hsm1", "bag": "BAG-hsm1-1", "expected": "BAG-hsm1-1", "witness": "CO1"})
		}), `"CO1" is not a witness of step 1.5`},
		"sealed in the bag it came from": {at("5.3", func(b *entries, st Step) {
			b.add(event.KindBagSealed, map[string]any{"step": "5.3", "item": "hsm1", "bag": "BAG-hsm1-1"})
		}), "a new bag has a new serial"},
		"sealed in another item's bag": {at("5.4", func(b *entries, st Step) {
			b.add(event.KindBagSealed, map[string]any{"step": "5.4", "item": "laptop1", "bag": "BAG-hsm1-2"})
		}), "a new bag has a new serial"},
		"an item's step done without its bag": {at("1.6", func(b *entries, st Step) { finish(b, st) }), "witnessed before its action is done"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Replay(s, withRegister(s, happyPath(s, c.hook), reg))
			if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestCustodyIncident: a bag not as sealed stops its step; only a
// contingency the script plans for it (or an exception, or an abort) comes
// next, and one that postpones aborts the ceremony, whose always-run acts
// then have nothing to seal that was not opened.
func TestCustodyIncident(t *testing.T) {
	s := signingScript(t, nil)
	reg := map[string]string{"hsm1": "BAG-hsm1-1", "laptop1": "BAG-laptop1-1", "osmedia1": "BAG-osmedia1-1"}
	incident := func(what, bag string, then func(b *entries)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID != "1.6" {
				return false
			}
			b.add(event.KindIncident, map[string]any{"step": "1.6", "item": "laptop1", "expected": "BAG-laptop1-1", "bag": bag, "what": what, "witness": "IW"})
			then(b)
			return true
		}
	}
	invoke := func(id, trigger, then string) func(b *entries) {
		return func(b *entries) {
			b.add(event.KindInvoked, map[string]any{"step": "1.6", "contingency": id, "trigger": trigger, "reason": "the bag reads otherwise", "witness": "IW", "then": then})
		}
	}
	// Planned: aborted, the steps to the always-run acts left out, and the
	// laptop's and OS media's seals have nothing to do; the HSM's has.
	var sealed []string
	hook := func(b *entries, st Step) bool {
		if st.ID == "1.6" {
			return incident(IncidentSerial, "BAG-laptop1-9", invoke("bag-tampered", "custody.incident laptop1", "abort"))(b, st)
		}
		if st.Action == ActionBagSeal && st.Params["item"] != "hsm1" {
			finish(b, st)
			sealed = append(sealed, st.ID)
			return true
		}
		return false
	}
	list := withRegister(s, happyPath(s, hook), reg)
	// happyPath wrote every step after 1.6; the abort left most out: keep
	// the entries of the always-run acts only.
	var kept []*event.Entry
	for _, e := range list {
		step := event.StepOf(e.Event)
		if step == "" || step <= "1.6" || step >= "5." {
			kept = append(kept, e)
		}
	}
	for i, e := range kept {
		e.Seq = uint64(i)
	}
	st, err := Replay(s, kept)
	if err != nil || !st.Closed || st.Aborted == nil || !strings.HasPrefix(st.Aborted.Reason, "contingency bag-tampered:") {
		t.Fatalf("a planned contingency that postpones: %v (aborted %+v)", err, st.Aborted)
	}
	if st.Custody["laptop1"] != "BAG-laptop1-1" || st.Custody["osmedia1"] != "BAG-osmedia1-1" || st.Custody["hsm1"] != "BAG-hsm1-2" {
		t.Errorf("after the abort the register holds %v: the laptop and OS media stay in their bags, the HSM in its new one", st.Custody)
	}
	if len(st.Invoked) != 1 || st.Invoked[0].Trigger != "custody.incident laptop1" {
		t.Errorf("invoked %+v", st.Invoked)
	}

	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"the step goes on regardless": {incident(IncidentNotIntact, "BAG-laptop1-1", func(b *entries) {}), "waits for a contingency planned for custody.incident laptop1"},
		"a contingency not planned for it": {incident(IncidentUnreachable, "", invoke("officers-short", "custody.incident laptop1", "abort")),
			`"officers-short" is not one the script plans for custody.incident laptop1`},
		"another trigger named":         {incident(IncidentSerial, "BAG-laptop1-9", invoke("bag-tampered", "custody.incident hsm1", "abort")), "but the log shows custody.incident laptop1"},
		"its plan misstated":            {incident(IncidentSerial, "BAG-laptop1-9", invoke("bag-tampered", "custody.incident laptop1", "continue")), "but the script plans abort"},
		"a serial that does not differ": {incident(IncidentSerial, "BAG-laptop1-1", func(b *entries) {}), "a serial that differs needs"},
		"unreachable with a bag read":   {incident(IncidentUnreachable, "BAG-laptop1-1", func(b *entries) {}), "an item out of reach has no bag read"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Replay(s, withRegister(s, happyPath(s, c.hook), reg))
			if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Replay(s, withRegister(s, happyPath(s, func(b *entries, st Step) bool {
		if st.ID != "1.5" {
			return false
		}
		b.add(event.KindInvoked, map[string]any{"step": "1.5", "contingency": "bag-tampered", "trigger": "custody.incident hsm1", "reason": "r", "witness": "IW", "then": "abort"})
		return true
	}), reg)); err == nil || !strings.Contains(err.Error(), "the log shows nothing that triggers it") {
		t.Errorf("a contingency taken with no trigger: %v", err)
	}

	// A plan that goes on: the item counts as opened, out of its bag.
	goesOn := signingScript(t, func(y string) string {
		return strings.Replace(y, "    trigger: custody.incident\n    then: abort", "    trigger: custody.incident\n    then: continue", 1)
	})
	st, err = Replay(goesOn, withRegister(goesOn, happyPath(goesOn, incident(IncidentNotIntact, "BAG-laptop1-1", func(b *entries) {
		b.add(event.KindInvoked, map[string]any{"step": "1.6", "contingency": "bag-tampered", "trigger": "custody.incident laptop1", "reason": "a torn corner; the spare laptop is used", "witness": "IW", "then": "continue"})
		finish(b, goesOn.Steps()[slicesIndex(goesOn, "1.6")])
	})), reg))
	if err != nil || !st.Closed || st.Aborted != nil || st.Custody["laptop1"] != "BAG-laptop1-2" {
		t.Fatalf("a plan that goes on: %v, register %v", err, st.Custody)
	}
}

func slicesIndex(s *Script, id string) int {
	for i, st := range s.Steps() {
		if st.ID == id {
			return i
		}
	}
	return -1
}

// TestQuorumShortTrigger: fewer officers signed in than the threshold,
// with a contingency planned for it, stops the sign-in until it is taken.
func TestQuorumShortTrigger(t *testing.T) {
	s := signingScript(t, nil)
	twoOfficers := map[string]string{"CA": "C", "IW": "I", "SSC1": "S1", "SSC2": "S2", "RZM": "R", "CO1": "O1", "CO2": "O2"}
	signIn := func(then func(b *entries)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action != ActionSignIn {
				return false
			}
			b.add(event.KindSignedIn, map[string]any{"step": st.ID, "participants": twoOfficers})
			then(b)
			return true
		}
	}
	st, err := Replay(s, happyPath(s, signIn(func(b *entries) {})))
	if !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), "waits for a contingency planned for quorum.short") {
		t.Fatalf("two officers of three, the sign-in goes on: %v", err)
	}
	list := happyPath(s, signIn(func(b *entries) {
		b.add(event.KindInvoked, map[string]any{"step": "1.2", "contingency": "officers-short", "trigger": "quorum.short", "reason": "CO3 cannot travel", "witness": "CA", "then": "abort"})
	}))
	st, err = Replay(s, list[:5])
	if err != nil || st.Aborted == nil || st.Triggered != nil {
		t.Fatalf("postponed for too few officers: %v", err)
	}
	// Without a contingency planned for it, nothing is triggered.
	unplanned := signingScript(t, func(y string) string {
		i := strings.Index(y, "  - id: officers-short")
		j := strings.Index(y, "acts:")
		return y[:i] + y[j:]
	})
	if st, err := Replay(unplanned, happyPath(unplanned, signIn(func(b *entries) { finish(b, unplanned.Steps()[1]) }))[:6]); err != nil || st.Triggered != nil {
		t.Fatalf("no plan, no trigger: %v", err)
	}
}

// TestCustodyScriptRules: items declared once with their kind, opened and
// sealed once each, seals after opens, a witness at each opening, and a
// contingency planned for every item opened.
func TestCustodyScriptRules(t *testing.T) {
	for name, c := range map[string]struct{ old, new, want string }{
		"an undeclared item":      {"params: {item: laptop1}", "params: {item: laptop2}", "an item declared under custody:"},
		"an unknown kind":         {"kind: laptop,", "kind: notebook,", `kind "notebook"`},
		"an opening unwitnessed":  {"        witnesses: [IW]\n        action: custody.open\n        params: {item: hsm1}", "        action: custody.open\n        params: {item: hsm1}", "custody.open needs a witness"},
		"an item opened twice":    {"params: {item: laptop1}", "params: {item: hsm1}", "custody.open of hsm1 again (first at step 1.5)"},
		"no plan for an incident": {"    trigger: custody.incident\n    then: abort", "    trigger: custody.incident\n    items: [hsm1]\n    then: abort", "step 1.6 opens laptop1's bag, but no contingency plans for a custody incident"},
		"a trigger unknown":       {"trigger: quorum.short", "trigger: hsm.selftest", `trigger "hsm.selftest"`},
		"a trigger with no plan":  {"    trigger: quorum.short\n    then: abort", "    trigger: quorum.short", `then "": want abort`},
		"a bad bag serial":        {"{id: hsm1, kind: hsm, what: the HSM}", "{id: hsm1, kind: hsm, what: the HSM, bag: \"no spaces\"}", `bag "no spaces"`},
	} {
		t.Run(name, func(t *testing.T) {
			raw, _ := scripts.Get("signing")
			if !strings.Contains(string(raw), c.old) {
				t.Fatalf("the script holds no %q", c.old)
			}
			_, err := LoadScriptWith("signing.yaml", []byte(strings.Replace(string(raw), c.old, c.new, 1)), func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestOpeningRegister: the previous ceremony's register, with the items the
// script records that it does not hold; a script that records another bag
// for an item the previous ceremony sealed is refused.
func TestOpeningRegister(t *testing.T) {
	s := signingScript(t, func(y string) string {
		return strings.Replace(y, "{id: hsm1, kind: hsm, what: the HSM}", "{id: hsm1, kind: hsm, what: the HSM, bag: BB-100}", 1)
	})
	reg, err := OpeningRegister(s, map[string]string{"laptop1": "BB-7"})
	if err != nil || reg["hsm1"] != "BB-100" || reg["laptop1"] != "BB-7" || len(reg) != 2 {
		t.Fatalf("register %v, %v", reg, err)
	}
	if _, err := OpeningRegister(s, map[string]string{"hsm1": "BB-101"}); err == nil || !strings.Contains(err.Error(), "the script records bag BB-100, but the previous ceremony sealed it in bag BB-101") {
		t.Fatalf("a script at odds with the previous ceremony: %v", err)
	}
}

// TestHSMFailureTrigger: with a contingency planned for a failed HSM, an
// HSM that refuses its activation stops the step until it is taken.
func TestHSMFailureTrigger(t *testing.T) {
	s := signingScript(t, func(y string) string {
		return strings.Replace(y, "acts:\n", "  - id: other-hsm\n    text: The HSM fails. The ceremony moves to the other facility's HSM.\n    trigger: hsm.failure\n    then: abort\nacts:\n", 1)
	})
	refused := func(then func(b *entries, st Step)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action != ActionHSMLogin {
				return false
			}
			b.add(event.KindHSMLoginFailed, map[string]any{"step": st.ID, "token": "t", "reason": "CKR_PIN_INCORRECT"})
			then(b, st)
			return true
		}
	}
	if _, err := Replay(s, happyPath(s, refused(func(b *entries, st Step) { b.add(event.KindHSMLogin, map[string]any{"step": st.ID}) }))); !errors.Is(err, ErrOutOfScript) ||
		!strings.Contains(err.Error(), "waits for a contingency planned for hsm.failure") {
		t.Fatalf("the login tried again regardless: %v", err)
	}
	list := happyPath(s, refused(func(b *entries, st Step) {
		b.add(event.KindInvoked, map[string]any{"step": st.ID, "contingency": "other-hsm", "trigger": "hsm.failure", "reason": "the HSM refused the PIN twice", "witness": "IW", "then": "abort"})
	}))
	var upTo []*event.Entry
	for _, e := range list {
		upTo = append(upTo, e)
		if e.Kind() == event.KindInvoked {
			break
		}
	}
	if st, err := Replay(s, upTo); err != nil || st.Aborted == nil || st.Triggered != nil {
		t.Fatalf("the planned path for a failed HSM: %v", err)
	}
}
