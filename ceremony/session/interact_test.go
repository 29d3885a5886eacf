package session

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// keysOf lists the live interactions' keys, the main one starred.
func keysOf(st Snapshot) string {
	var ks []string
	for _, i := range st.Interactions() {
		k := i.Key
		if i.Main {
			k = "*" + k
		}
		ks = append(ks, k)
	}
	return strings.Join(ks, " ")
}

// TestInteractionModel walks the demo rehearsal and checks, at each kind of
// moment, which interactions are live, which one the ceremony waits for,
// and that what they ask ends in an operation.
func TestInteractionModel(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, _ := r.open(t)
	want := map[string]string{
		"1.1 witness":   "*w x s a",
		"1.2 confirm":   "*enter x r a",
		"3.1 cards":     "*card f x a",
		"3.5 typed":     "*enter x a",
		"3.5 sign":      "*enter x a",
		"roll call":     "*enter o",
		"cosign":        "*card o",
		"closed":        "",
		"2.1 witness":   "*w x s r a",
		"3.2 action":    "*enter x a",
		"3.3 withesses": "*w x a",
	}
	seen := map[string]string{}
	for n := 0; n < 300; n++ {
		st := s.Snapshot()
		cur := st.CurrentStep()
		var moment string
		switch st.Awaiting() {
		case NextWitness:
			moment = cur.ID + " witness"
			if cur.ID == "3.3" {
				moment = "3.3 withesses"
			}
		case NextConfirm:
			moment = cur.ID + " confirm"
		case NextCards:
			moment = cur.ID + " cards"
		case NextTyped:
			moment = cur.ID + " typed"
		case NextSign:
			moment = cur.ID + " sign"
		case NextAction:
			moment = cur.ID + " action"
		case NextCosign:
			moment = "roll call"
			if st.Closed {
				moment = "cosign"
			}
		case NextDone:
			moment = "closed"
		}
		if _, ok := want[moment]; ok {
			seen[moment] = keysOf(st)
		}
		main, ok := st.Main()
		if ok {
			if r := main.Next(nil); r.Ask == nil && r.Op == nil {
				t.Fatalf("%s: the main interaction %q asks nothing and does nothing", moment, main.Key)
			}
			if main.Inline && main.Next(nil).Ask == nil {
				t.Fatalf("%s: %q asks on the prompt line, but asks nothing", moment, main.Key)
			}
		}
		if st.Awaiting() == NextDone {
			break
		}
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatalf("%s: %v", moment, err)
		}
	}
	for moment, keys := range want {
		if seen[moment] != keys {
			t.Errorf("%s: live %q, want %q", moment, seen[moment], keys)
		}
	}
}

// TestDeviationAsks: a skip asks why, then the witness; an empty reason
// does nothing; anything but yes from the witness is declined, by name;
// a typed ABORT must be exact.
func TestDeviationAsks(t *testing.T) {
	r := newRig(t)
	s, _ := r.open(t)
	st := s.Snapshot()
	var skip, abort Interaction
	for _, i := range st.Interactions() {
		switch i.Key {
		case KeySkip:
			skip = i
		case KeyAbort:
			abort = i
		}
	}
	if r := skip.Next(nil); r.Ask == nil || r.Ask.Prompt != "Why step 1.1 is skipped" {
		t.Fatalf("skip asks %+v", r.Ask)
	}
	if r := skip.Next([]string{"  "}); r.Ask != nil || r.Op != nil || r.Problem != "" {
		t.Fatalf("an empty reason: %+v", r)
	}
	if r := skip.Next([]string{"camera off"}); r.Ask == nil || r.Ask.Witness != "IW" || r.Ask.Prompt != "IW: skip step 1.1 because camera off?" {
		t.Fatalf("the witness's question: %+v", r.Ask)
	}
	if r := skip.Next([]string{"camera off", "n"}); r.Op != nil || r.Problem != "Not confirmed: the step stays open." {
		t.Fatalf("declined: %+v", r)
	}
	if r := skip.Next([]string{"camera off", Yes}); r.Op != (Skip{Reason: "camera off"}) {
		t.Fatalf("confirmed: %+v", r)
	}
	if r := abort.Next([]string{"safe jammed", "abort"}); r.Op != nil || r.Problem != `typed "abort"; nothing was aborted` {
		t.Fatalf("a mistyped ABORT: %+v", r)
	}
	if r := abort.Next([]string{"safe jammed", "ABORT"}); r.Op != (Abort{Reason: "safe jammed"}) {
		t.Fatalf("ABORT: %+v", r)
	}
	if !slices.ContainsFunc(st.Interactions(), func(i Interaction) bool { return i.Main && i.Key == KeyWitness }) {
		t.Fatal("step 1.1 does not wait for its witness")
	}
}
