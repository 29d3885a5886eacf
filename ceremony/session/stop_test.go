package session

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
)

// TestStopEverywhere stops the demo ceremony on purpose after each action
// (the operator's quit): the stop is logged, with the HSM logged out first
// when it was active; the resume that follows says it came after a logged
// stop; the ceremony then plays to its close, and the log replays.
func TestStopEverywhere(t *testing.T) {
	ctx := context.Background()
	withHSM := 0
	for stopAfter := 1; ; stopAfter++ {
		r := newRig(t)
		s, l := r.open(t)
		for i := 0; i < stopAfter && s.Next() != NextDone; i++ {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if s.Next() == NextDone {
			break
		}
		before := s.State()
		d := NewDriver(s)
		res := d.Do(ctx, Stop{})
		d.Close()
		if res.Err != nil {
			t.Fatalf("stop after %d: %v", stopAfter, res.Err)
		}
		if before.Closed {
			if len(res.Logged) != 0 {
				t.Fatalf("stop after the close logged %v", res.Logged)
			}
			l.Close(ctx)
			break
		}
		if len(res.Logged) != 1 {
			t.Fatalf("stop after %d: %d entries", stopAfter, len(res.Logged))
		}
		stop, ok := res.Logged[0].Event.(event.Stopped)
		if !ok || stop.HSMLoggedOut != before.HSM {
			t.Fatalf("stop after %d (HSM active %v): %#v", stopAfter, before.HSM, res.Logged[0].Event)
		}
		if before.HSM {
			withHSM++
		}
		if st := s.State(); st.HSM || st.StoppedAt.IsZero() || st.Stops != 1 {
			t.Fatalf("stop after %d: state HSM %v stopped %v stops %d", stopAfter, st.HSM, st.StoppedAt, st.Stops)
		}
		l.Close(ctx)
		s, l = r.open(t)
		for s.Next() != NextDone {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatalf("stop after %d, resumed at %s: %v", stopAfter, stepID(s), err)
			}
		}
		l.Close(ctx)
		entries, err := readEntries(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		var resumed []event.Resumed
		for _, e := range entries {
			if ev, ok := e.Event.(event.Resumed); ok {
				resumed = append(resumed, ev)
			}
		}
		if len(resumed) != 1 || resumed[0].Unclean || resumed[0].HSMLost || len(resumed[0].CardsLost) > 0 {
			t.Fatalf("stop after %d: the resume says %+v", stopAfter, resumed)
		}
		if _, err := ceremony.Replay(r.script, entries); err != nil {
			t.Fatalf("stop after %d: %v", stopAfter, err)
		}
	}
	if withHSM == 0 {
		t.Fatal("never stopped with the HSM active")
	}
}

// TestUncleanResumeSaysWhatWasLost: a console killed with the HSM active
// and the quorum's cards held resumes with an entry that says so; the
// officers present their cards again before the HSM is used.
func TestUncleanResumeSaysWhatWasLost(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	for !s.State().HSM {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held := slices.Clone(s.State().Accepted)
	l.Close(ctx) // no stop logged: as a crash leaves it
	s, l = r.open(t)
	st := s.State()
	l.Close(ctx)
	if st.HSM || !st.NeedActivation || len(st.Accepted) != 0 {
		t.Fatalf("after an unclean stop: HSM %v, activation needed %v, cards %v", st.HSM, st.NeedActivation, st.Accepted)
	}
	entries, err := readEntries(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := entries[len(entries)-1].Event.(event.Resumed)
	if !ok || !ev.Unclean || !ev.HSMLost || !slices.Equal(ev.CardsLost, held) {
		t.Fatalf("the resume says %#v; the cards held were %v", entries[len(entries)-1].Event, held)
	}
	if d := event.Describe(entries[len(entries)-1]); d != "ceremony resumed at step 3.2 after an unlogged stop: the HSM's session and the cards CO1, CO2, CO3 are gone; the officers present their cards again" {
		t.Fatalf("described as %q", d)
	}
}

// TestForgedCardIsASecurityEvent: a card refused as forged stops the
// quorum until an exception is recorded: no card is taken meanwhile, the
// exception is what the ceremony waits for, and the refused card keeps
// the name it bore.
func TestForgedCardIsASecurityEvent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	defer l.Close(ctx)
	for s.Next() != NextCards {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PresentForged(ctx); err == nil {
		t.Fatal("a forged card accepted")
	}
	if s.Next() != NextForged {
		t.Fatalf("after a forged card the ceremony waits for %v", s.Next())
	}
	main, ok := s.Snapshot().Main()
	if !ok || main.Key != KeyException || !strings.Contains(main.Prompt, "FORGED card bearing CO1 (Amara Okafor)'s name") {
		t.Fatalf("the ceremony asks for %+v", main)
	}
	size := l.Size()
	if err := s.PresentCard(ctx, "CO1"); err == nil || l.Size() != size {
		t.Fatalf("a card taken before the exception: %v", err)
	}
	cards := s.State().Cards
	if last := cards[len(cards)-1]; last.Accepted || last.Holder != "Amara Okafor" {
		t.Fatalf("the refused card is listed as %+v", last)
	}
	if err := s.Exception(ctx, "a card bearing CO1's name failed the roster's commitments"); err != nil {
		t.Fatal(err)
	}
	if s.Next() != NextCards {
		t.Fatalf("after the exception the ceremony waits for %v", s.Next())
	}
	if err := s.PresentCard(ctx, "CO1"); err != nil {
		t.Fatal(err)
	}
}
