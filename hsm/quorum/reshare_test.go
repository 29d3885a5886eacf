package quorum

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// TestReshare replaces the crypto officers: the secret three old cards
// recover is dealt to five new holders (3 of 5); the new cards recover the
// same secret, the first commitment is unchanged, and every old card is
// refused as revoked.
func TestReshare(t *testing.T) {
	old, oldCards, err := Deal(rand.Reader, 3, holders(7))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewCollector(old)
	for _, card := range oldCards[2:5] {
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	var newHolders []CardInfo
	for _, h := range holders(5) {
		h.ID = "N" + h.ID
		newHolders = append(newHolders, h)
	}
	r, cards, err := Reshare(rand.Reader, secret, old, 3, newHolders)
	if err != nil {
		t.Fatal(err)
	}
	if r.Commitments[0] != old.Commitments[0] || r.Commitments[1] == old.Commitments[1] {
		t.Fatal("the new roster does not commit to the same secret with a new polynomial")
	}
	if len(r.Cards) != 12 || cards[0].Share != 8 {
		t.Fatalf("%d cards on the new roster, first new share %d", len(r.Cards), cards[0].Share)
	}
	nc, _ := NewCollector(r)
	for _, card := range oldCards {
		var rej *RejectedError
		if err := nc.Present(card); !errors.As(err, &rej) || rej.Reason != ReasonRevoked {
			t.Fatalf("old card %s: %v, want revoked", card.ID, err)
		}
	}
	for _, card := range cards[1:4] {
		if err := nc.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	got, err := nc.Recover()
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the new cards recover another secret: %v", err)
	}
	// Refusals: an old id reused, a secret that is not the roster's.
	if _, _, err := Reshare(rand.Reader, secret, old, 3, holders(4)); err == nil {
		t.Fatal("an old card id was reused")
	}
	other := bytes.Clone(secret)
	other[0] ^= 1
	if _, _, err := Reshare(rand.Reader, other, old, 3, newHolders); err == nil {
		t.Fatal("a wrong secret was reshared")
	}
}

// TestProvision deals a new card set with a fresh secret: the new cards
// recover the secret Provision returned, which is not the old one; the
// first commitment changes; every old card is refused as revoked.
func TestProvision(t *testing.T) {
	old, oldCards, err := Deal(rand.Reader, 3, holders(7))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewCollector(old)
	for _, card := range oldCards[:3] {
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	oldSecret, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	var newHolders []CardInfo
	for _, h := range holders(7) {
		h.ID = "N" + h.ID
		newHolders = append(newHolders, h)
	}
	r, cards, secret, err := Provision(rand.Reader, old, 3, newHolders)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(secret, oldSecret) || r.Commitments[0] == old.Commitments[0] {
		t.Fatal("the new card set holds the old secret")
	}
	nc, _ := NewCollector(r)
	for _, card := range oldCards {
		var rej *RejectedError
		if err := nc.Present(card); !errors.As(err, &rej) || rej.Reason != ReasonRevoked {
			t.Fatalf("old card %s: %v, want revoked", card.ID, err)
		}
	}
	for _, card := range cards[4:] {
		if err := nc.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	got, err := nc.Recover()
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the new cards recover another secret: %v", err)
	}
	if _, _, _, err := Provision(rand.Reader, old, 3, holders(3)); err == nil {
		t.Fatal("an old card id was reused")
	}
}
