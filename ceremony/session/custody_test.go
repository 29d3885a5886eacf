package session

import (
	"context"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
)

// answer plays the main interaction with the answers given, then runs its
// operation; a Problem on the way is returned as it is said.
func answer(t *testing.T, ctx context.Context, s *Session, answers ...string) (problem string) {
	t.Helper()
	main, ok := s.Snapshot().Main()
	if !ok {
		t.Fatalf("nothing awaited at step %s", s.Snapshot().CurrentStep().ID)
	}
	var given []string
	for _, a := range answers {
		r := main.Next(given)
		switch {
		case r.Problem != "" && r.Ask == nil:
			return r.Problem
		case r.Op != nil:
			t.Fatalf("the operation came before the answer %q", a)
		}
		if r.Problem != "" {
			problem = r.Problem
			given = given[:len(given)-r.Retry]
		}
		given = append(given, a)
	}
	r := main.Next(given)
	if r.Op == nil {
		if r.Problem != "" {
			return r.Problem
		}
		t.Fatalf("after %q the interaction asks %+v", answers, r.Ask)
	}
	if _, err := r.Op.run(ctx, s); err != nil {
		t.Fatal(err)
	}
	return problem
}

// autoTo plays the rehearsal until the step is current and its action
// awaited.
func autoTo(t *testing.T, ctx context.Context, s *Session, step string, next Next) {
	t.Helper()
	for i := 0; !(s.Snapshot().CurrentStep().ID == step && s.Next() == next); i++ {
		if i > 300 || s.Next() == NextDone {
			t.Fatalf("step %s never awaited %d", step, next)
		}
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCustodyAtTheConsole: the interactions of the bags. A serial other
// than the one on record is asked again; typed alike twice, with the
// witness's word, it is an incident that stops the step; the planned
// contingency is asked for by id, with what happened and the witness's
// confirmation, and it aborts the ceremony; the seals after it have
// nothing to do for an item not opened, and the register ends as the log
// says.
func TestCustodyAtTheConsole(t *testing.T) {
	ctx := context.Background()
	reg := map[string]string{"hsm1": "TEB-100", "laptop1": "TEB-200", "osmedia1": "TEB-300"}
	cfg, _, _ := shippedConfigWith(t, "signing", reg)
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s, "1.5", NextBagOpen)
	// A misread, then the right serial: no incident.
	if p := answer(t, ctx, s, "TEB-10O", "TEB-100", "y"); p != "" {
		t.Fatalf("a misread put right: %q", p)
	}
	if st := s.Snapshot(); len(st.Bags) != 1 || st.Bags[0].What != "opened" || st.Bags[0].Expected != "TEB-100" {
		t.Fatalf("bags %+v", st.Bags)
	}
	autoTo(t, ctx, s, "1.6", NextBagOpen)
	// Two typings that differ from each other: asked again from the start.
	main, _ := s.Snapshot().Main()
	if r := main.Next([]string{"TEB-201", "TEB-202"}); r.Problem == "" || r.Retry != 2 {
		t.Fatalf("two serials that differ: %+v", r)
	}
	// The same other serial twice, the IW confirming: an incident.
	answer(t, ctx, s, "TEB-201", "TEB-201", Yes)
	st := s.Snapshot()
	if st.Awaiting() != NextTrigger || st.Triggered == nil || st.TriggerWords() != "laptop1's bag reads TEB-201, not TEB-200 as sealed" {
		t.Fatalf("after the incident: %d %+v %q", st.Awaiting(), st.Triggered, st.TriggerWords())
	}
	// Nothing else goes on: enter says why.
	if err := s.Confirm(ctx); err == nil || !strings.Contains(err.Error(), "take one of the contingencies") {
		t.Fatalf("enter during an incident: %v", err)
	}
	if p := answer(t, ctx, s, "officers-short"); !strings.Contains(p, `"officers-short" is not one of the planned contingencies (bag-tampered)`) {
		t.Fatalf("a contingency not planned for it: %q", p)
	}
	if p := answer(t, ctx, s, "bag-tampered", "the bag reads TEB-201; the laptop is set aside", "n"); p != "Not confirmed: no contingency is taken." {
		t.Fatalf("the witness declines: %q", p)
	}
	answer(t, ctx, s, "bag-tampered", "the bag reads TEB-201; the laptop is set aside", Yes)
	st = s.Snapshot()
	if st.Aborted == nil || len(st.Invoked) != 1 || st.Invoked[0].Witness != "IW" || st.Triggered != nil {
		t.Fatalf("after the contingency: aborted %+v, invoked %+v", st.Aborted, st.Invoked)
	}
	for i := 0; s.Next() != NextDone; i++ {
		if i > 300 {
			t.Fatal("the ceremony does not end")
		}
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st = s.Snapshot()
	want := map[string]string{"laptop1": "TEB-200", "osmedia1": "TEB-300"}
	for item, bag := range want {
		if st.Custody[item] != bag {
			t.Errorf("the register ends with %s in %q, want %s: not opened, still in its bag", item, st.Custody[item], bag)
		}
	}
	if b := st.Custody["hsm1"]; b == "" || b == "TEB-100" {
		t.Errorf("the HSM, opened, ends in bag %q: a new one", b)
	}
	var incident bool
	for _, l := range st.CustodyLines() {
		incident = incident || (l.Item == "laptop1" && l.Incident)
	}
	if !incident {
		t.Errorf("the register shown does not mark the laptop's incident: %+v", st.CustodyLines())
	}
}

// TestBagNotIntact: the serial on record, but the witness finds the bag
// not intact: an incident too; a bag's serial that is not one is asked
// again.
func TestBagNotIntact(t *testing.T) {
	ctx := context.Background()
	cfg, _, _ := shippedConfigWith(t, "signing", map[string]string{"hsm1": "TEB-100"})
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s, "1.5", NextBagOpen)
	main, _ := s.Snapshot().Main()
	if r := main.Next([]string{"TEB 100"}); r.Retry != 1 || !strings.Contains(r.Problem, "is not a bag's serial") {
		t.Fatalf("a serial with a space: %+v", r)
	}
	answer(t, ctx, s, "TEB-100", "n")
	if st := s.Snapshot(); st.Triggered == nil || st.Bags[0].What != ceremony.IncidentNotIntact {
		t.Fatalf("a bag not intact: %+v", st.Bags)
	}
	// Unreachable: enter alone, the witness confirming.
	cfg2, _, _ := shippedConfigWith(t, "signing", map[string]string{"hsm1": "TEB-100"})
	s2, err := Open(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s2, "1.5", NextBagOpen)
	answer(t, ctx, s2, "", Yes)
	if st := s2.Snapshot(); st.Triggered == nil || st.Bags[0].What != ceremony.IncidentUnreachable || st.TriggerWords() != "hsm1 cannot be reached (sealed in bag TEB-100)" {
		t.Fatalf("an item out of reach: %+v %q", st.Bags, st.TriggerWords())
	}
}
