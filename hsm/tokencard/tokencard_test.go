package tokencard_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm/hsmtest"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/hsm/tokencard"
)

// TestTokenCards deals a 3-of-5 roster onto five SoftHSM2 tokens standing in
// for smart cards (the share a private data object behind each card's PIN):
// a card not in a reader and a wrong PIN (counted) are refused by name, a
// card is never written twice, and three cards recover the secret.
func TestTokenCards(t *testing.T) {
	ctx := context.Background()
	var holders []quorum.CardInfo
	pins := map[string]string{}
	for _, id := range []string{"CO1", "CO2", "CO3", "CO4", "CO5"} {
		holders = append(holders, quorum.CardInfo{ID: id, Holder: "Holder of " + id})
		pins[id] = "pin-" + id
	}
	roster, cards, err := quorum.Deal(rand.Reader, 3, holders)
	if err != nil {
		t.Fatal(err)
	}
	delete(pins, "CO5") // CO5's card is not in a reader
	module := hsmtest.SoftHSMTokens(t, pins)
	// The secret the dealt cards recover, before the roster takes the keys
	// made on the cards.
	c2, _ := quorum.NewCollector(roster)
	for _, card := range cards[2:5] {
		c2.Present(card)
	}
	want, _ := c2.Recover()
	for i, c := range cards[:4] {
		key, err := tokencard.Write(ctx, module, c, pins[c.ID])
		if err != nil {
			t.Fatal(err)
		}
		if key == roster.Cards[i].Key {
			t.Fatal("the card's cosigning key is the one dealt in software, not one made on the card")
		}
		roster.Cards[i].Key = key
	}
	if err := roster.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := tokencard.Write(ctx, module, cards[0], pins["CO1"]); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("a card written twice: %v", err)
	}
	typed := map[string]string{"CO1": "0000"}
	r := &tokencard.Reader{Module: module, PIN: func(_ context.Context, id string) (string, error) { return typed[id], nil }}
	for try := 1; try <= 2; try++ {
		var wp *quorum.WrongPINError
		if _, err := r.Read(ctx, "CO1"); !errors.As(err, &wp) || wp.Tries != try {
			t.Fatalf("wrong card PIN, try %d: %v", try, err)
		}
	}
	if _, err := r.Read(ctx, "CO5"); !errors.Is(err, quorum.ErrNoCard) || !strings.Contains(err.Error(), "insert it") {
		t.Fatalf("a card not in a reader: %v", err)
	}
	// The console's live panel: which cards are in a reader now.
	in, err := r.Inserted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO1", "CO2", "CO3", "CO4"} {
		if !in[id] {
			t.Errorf("card %s is in a reader but not reported inserted (%v)", id, in)
		}
	}
	if in["CO5"] {
		t.Error("card CO5 is reported inserted")
	}
	// The holder's PIN may come with the read instead of a prompt.
	bare := &tokencard.Reader{Module: module}
	if _, err := bare.Read(ctx, "CO3"); !errors.Is(err, quorum.ErrNoSecret) {
		t.Fatalf("a card read with no PIN given: %v", err)
	}
	if card, err := bare.Read(quorum.WithSecret(ctx, "pin-CO3"), "CO3"); err != nil || card.ID != "CO3" {
		t.Fatalf("a card read with its PIN in the context: %v", err)
	}
	c, err := quorum.NewCollector(roster)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO1", "CO2", "CO4"} {
		typed[id] = "pin-" + id
		card, err := r.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
		// The card's own key signs, inside the card, and the roster's
		// verifier key checks it.
		if card.Cosigner == nil {
			t.Fatalf("card %s yields no cosigning key", id)
		}
		msg := []byte("cosigned by " + id)
		sig, err := card.Cosigner.SignEd25519(msg)
		info, _ := roster.Card(id)
		_, pub, perr := quorum.ParseCosignVKey(info.Key)
		if err != nil || perr != nil || !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("card %s cosigning: %v %v", id, err, perr)
		}
		quorum.CloseCard(&card)
	}
	// A card whose key is not the roster's is refused by name.
	other := *roster
	other.Cards = append([]quorum.CardInfo(nil), roster.Cards...)
	other.Cards[0].Key, other.Cards[1].Key = roster.Cards[1].Key, roster.Cards[0].Key
	typed["CO1"] = "pin-CO1"
	card, _ := r.Read(ctx, "CO1")
	oc, _ := quorum.NewCollector(&other)
	var re *quorum.RejectedError
	if err := oc.Present(card); !errors.As(err, &re) || re.Reason != quorum.ReasonWrongKey {
		t.Fatalf("a card with another officer's key: %v", err)
	}
	quorum.CloseCard(&card)
	got, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the token cards recover another secret")
	}
}
