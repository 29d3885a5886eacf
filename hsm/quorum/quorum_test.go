package quorum

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
)

func holders(n int) []CardInfo {
	var out []CardInfo
	for i := 1; i <= n; i++ {
		out = append(out, CardInfo{ID: "CO" + string(rune('0'+i)), Holder: "Officer " + string(rune('A'-1+i))})
	}
	return out
}

func TestQuorum(t *testing.T) {
	r, cards, err := Deal(rand.Reader, 3, holders(7))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCollector(r)
	if err != nil {
		t.Fatal(err)
	}
	reject := func(card Card, reason string) {
		t.Helper()
		var re *RejectedError
		if err := c.Present(card); !errors.As(err, &re) || re.Reason != reason || !errors.Is(err, ErrRejected) {
			t.Fatalf("card %s: %v, want %s", card.ID, err, reason)
		}
	}
	if err := c.Present(cards[0]); err != nil {
		t.Fatal(err)
	}
	reject(cards[0], ReasonDuplicate)
	forged := cards[3]
	forged.Value = bytes.Clone(cards[4].Value)
	reject(forged, ReasonForged)
	reject(Card{ID: "CO9", Share: 9, Value: cards[1].Value}, ReasonUnknown)
	wrongSlot := cards[1]
	wrongSlot.Share = 3
	reject(wrongSlot, ReasonForged)
	if c.Reached() {
		t.Fatal("reached with one card")
	}
	if err := c.Present(cards[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recover(); err == nil {
		t.Fatal("recovered with two of three")
	}
	// Recover wiped the two shares: start again with three other officers.
	c, _ = NewCollector(r)
	for _, i := range []int{6, 2, 4} {
		if err := c.Present(cards[i]); err != nil {
			t.Fatal(err)
		}
	}
	s1, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accepted()) != 0 {
		t.Fatal("shares not wiped after recovery")
	}
	c, _ = NewCollector(r)
	for _, i := range []int{0, 1, 5} {
		c.Present(cards[i])
	}
	s2, _ := c.Recover()
	if !bytes.Equal(s1, s2) {
		t.Fatal("two quorums recovered different secrets")
	}
	p1, _ := DerivePIN(s1, "token-a")
	p2, _ := DerivePIN(s1, "token-b")
	if bytes.Equal(p1, p2) || len(p1) != 32 {
		t.Fatalf("PINs %s %s", p1, p2)
	}
	r.Cards[2].Revoked = true
	c, _ = NewCollector(r)
	reject(cards[2], ReasonRevoked)
}

func TestRosterValidate(t *testing.T) {
	r, _, _ := Deal(rand.Reader, 3, holders(7))
	bad := *r
	bad.Commitments = bad.Commitments[:2]
	if bad.Validate() == nil {
		t.Error("two commitments for threshold 3 accepted")
	}
	bad = *r
	bad.Threshold = 8
	if bad.Validate() == nil {
		t.Error("threshold above the card count accepted")
	}
	bad = *r
	bad.Commitments = append([]string{"AAAA"}, r.Commitments[1:]...)
	if bad.Validate() == nil {
		t.Error("a commitment that is not a group element accepted")
	}
}

func TestSimulatedReader(t *testing.T) {
	r, cards, _ := Deal(rand.Reader, 2, holders(3))
	y, err := SimulatedCardsYAML(cards)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := LoadSimulated(y)
	if err != nil {
		t.Fatal(err)
	}
	col, _ := NewCollector(r)
	c1, _ := sim.Read(context.Background(), "CO1")
	if err := col.Present(c1); err != nil {
		t.Fatal(err)
	}
	if err := col.Present(sim.Forged("CO2")); !errors.Is(err, ErrRejected) {
		t.Fatalf("forged card: %v", err)
	}
	if _, err := sim.Read(context.Background(), "CO9"); !errors.Is(err, ErrNoCard) {
		t.Fatalf("missing card: %v", err)
	}
}
