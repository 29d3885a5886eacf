package session

import (
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
)

// TestEveryActionDefined: every action a script may name has its row in
// the session's table, with a verb, something enter does (or an
// interaction the step waits for), and a typed confirmation exactly when
// the engine holds it irreversible; the table has no row for an action
// scripts cannot name.
func TestEveryActionDefined(t *testing.T) {
	known := ceremony.Actions()
	for name, irreversible := range known {
		d, ok := actions[name]
		if !ok {
			t.Errorf("action %s has no definition", name)
			continue
		}
		if d.verb == nil {
			t.Errorf("action %s: no verb", name)
		}
		// Enter runs the action, or the step waits for what its own
		// interaction asks; a quorum's step is driven by the cards.
		if d.run == nil && d.after == NextConfirm && name != ceremony.ActionQuorum {
			t.Errorf("action %s: enter neither runs it nor is it waiting for anything", name)
		}
		if (d.typed != nil) != irreversible {
			t.Errorf("action %s: irreversible %v, typed confirmation defined %v", name, irreversible, d.typed != nil)
		}
	}
	for name := range actions {
		if _, ok := known[name]; !ok {
			t.Errorf("a definition for %s, which no script can name", name)
		}
	}
}
