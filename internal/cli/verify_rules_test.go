package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestVerifyScriptRules writes logs that are whole and signed but break
// the demo script's rules, one rule each; verify exits 1 and names the
// check, the entry and the rule.
func TestVerifyScriptRules(t *testing.T) {
	script, err := session.DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	done := func(step, role string, witnesses ...string) event.Event {
		if witnesses == nil {
			witnesses = []string{}
		}
		return event.StepDone{Step: step, Role: role, Witnesses: witnesses}
	}
	witness := func(step, w string) event.Event {
		return event.StepWitnessed{Step: step, Witness: w}
	}
	opening := []event.Event{witness("1.1", "IW"), done("1.1", "CA", "IW"), done("1.2", "IW"),
		witness("1.3", "IW"), witness("1.3", "SSC1"), done("1.3", "CA", "IW", "SSC1"), witness("1.4", "IW"), done("1.4", "CA", "IW")}
	for name, c := range map[string]struct {
		records []event.Event
		want    string
	}{
		"a step out of order": {[]event.Event{done("1.2", "IW")}, `entry 1 (step.done): names step "1.2", but the current step is 1.1`},
		"no witness":          {[]event.Event{done("1.1", "CA", "IW")}, "entry 1 (step.done): step 1.1 is done without its witnesses' confirmation"},
		"the HSM before the quorum": {append(append([]event.Event{}, opening...), witness("2.1", "IW"), done("2.1", "CA", "IW"), witness("2.2", "IW"), done("2.2", "CA", "IW"),
			witness("2.3", "IW"), done("2.3", "CA", "IW"), event.HSMLogin{Step: "3.1"}),
			"entry 15 (hsm.login): step 3.1 does not activate the HSM"},
		"an unknown card": {append(append([]event.Event{}, opening...), witness("2.1", "IW"), done("2.1", "CA", "IW"), witness("2.2", "IW"), done("2.2", "CA", "IW"),
			witness("2.3", "IW"), done("2.3", "CA", "IW"), event.CardPresented{Step: "3.1", Card: "CO9"}),
			"entry 15 (card.presented): card CO9 is not enrolled"},
		"a replayed card event": {append(append([]event.Event{}, opening...), witness("2.1", "IW"), done("2.1", "CA", "IW"), witness("2.2", "IW"), done("2.2", "CA", "IW"),
			witness("2.3", "IW"), done("2.3", "CA", "IW"), event.CardPresented{Step: "3.1", Card: "CO1", Holder: "Amara Okafor"},
			event.CardPresented{Step: "3.1", Card: "CO1", Holder: "Amara Okafor"}),
			"entry 16 (card.presented): card CO1 was already accepted"},
		"an abort without its reason": {[]event.Event{event.Aborted{Step: "1.1"}}, "entry 1 (ceremony.aborted): an abort needs its reason"},
		"a skip by the actor": {append(append([]event.Event{}, opening[:2]...), event.StepSkipped{Step: "1.2", Reason: "r", Witness: "IW"}),
			"step 1.2 is skipped with \"IW\"'s confirmation; a declared role other than IW confirms it"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			skey, _, _ := transparency.GenerateKey("rules.keyceremony.invalid/rehearsal")
			key, _ := transparency.ParseKey(skey)
			dir := filepath.Join(t.TempDir(), "log")
			l, err := transparency.Open(ctx, dir, transparency.Options{Key: key, New: true,
				Open:          event.Open{ScriptSHA256: script.Digest},
				OpenArtefacts: []transparency.Artefact{{Name: "demo.yaml", Data: script.Raw}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range c.records {
				if _, err := l.Append(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = run(ctx, []string{"verify", dir}, nil, &out, io.Discard)
			if exitCode(err) != exitBadInput || !strings.Contains(out.String(), "[FAIL] ceremony.script") || !strings.Contains(out.String(), c.want) {
				t.Fatalf("verify: %v (exit %d), want exit 1 naming %q:\n%s", err, exitCode(err), c.want, out.String())
			}
		})
	}
}
