// Package tokencard is the officers' cards as PKCS#11 tokens (smart cards
// through OpenSC, or SoftHSM2 tokens standing in for them): a card's share
// a private data object behind its holder's PIN, and the officer's
// cosigning key made on the card. It is apart from package quorum so that
// the engine and the verifier, which read rosters and cards' commitments,
// link no PKCS#11.
package tokencard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// Object labels the private data object that holds a card's share
// on a PKCS#11 card (a smart card through OpenSC, or a SoftHSM token).
const Object = "keyceremony-card"

// CosignKey labels the Ed25519 key a PKCS#11 card holds for its officer
// to cosign the ceremony log; it is made on the card and never leaves it.
const CosignKey = "keyceremony-cosign"

// Write stores a card on the PKCS#11 token labelled with the card's
// id, as a private data object readable only after the card's PIN, and makes
// the officer's cosigning key on the card. It returns the key as the roster
// lists it (the software key Deal made for the card is not used).
func Write(ctx context.Context, module string, card quorum.Card, pin string) (string, error) {
	tok, err := hsm.OpenPKCS11(module, card.ID)
	if err != nil {
		return "", fmt.Errorf("card %s: %w", card.ID, err)
	}
	defer tok.Close()
	if err := tok.Login(ctx, []byte(pin)); err != nil {
		return "", fmt.Errorf("card %s: %w", card.ID, err)
	}
	plain, err := quorum.CardContents(card)
	if err != nil {
		return "", err
	}
	defer quorum.Wipe(plain)
	if err := tok.WritePrivateData(ctx, Object, plain); err != nil {
		return "", err
	}
	pub, err := tok.GenerateEd25519(ctx, CosignKey)
	if err != nil {
		return "", fmt.Errorf("card %s: %w", card.ID, err)
	}
	return quorum.CosignVKey(quorum.CosignKeyName(card.ID), pub)
}

// tokenCosigner is the cosigning key inside a PKCS#11 card: the card's
// session stays open, logged in, until Close.
type tokenCosigner struct {
	tok *hsm.PKCS11Token
	pub []byte
}

func (c *tokenCosigner) Public() ed25519.PublicKey { return c.pub }

func (c *tokenCosigner) SignEd25519(msg []byte) ([]byte, error) {
	return c.tok.SignEd25519(context.Background(), CosignKey, msg)
}

func (c *tokenCosigner) Close() error {
	c.tok.Logout(context.Background())
	return c.tok.Close()
}

// Reader is a Reader over PKCS#11 cards: the card of officer CO3 is the
// token labelled CO3, its share a private data object behind the holder's
// card PIN. A missing card is quorum.ErrNoCard ("insert it"); a wrong PIN is a
// *quorum.WrongPINError with the running count.
type Reader struct {
	Module string
	// PIN asks the card's holder for the card PIN; never stored or shown.
	// Nil takes the one passed with WithSecret.
	PIN func(ctx context.Context, id string) (string, error)

	// Faults, for tests, puts a fault layer in front of a card's token by
	// card id: a card pulled out of its reader, a card that refuses.
	Faults map[string]*hsm.Faults

	mu    sync.Mutex
	wrong map[string]int
	dev   sync.Mutex // one use of the module at a time: a read, or a poll
}

func (r *Reader) Read(ctx context.Context, id string) (quorum.Card, error) {
	r.dev.Lock()
	defer r.dev.Unlock()
	tok, err := hsm.OpenPKCS11(r.Module, id)
	if errors.Is(err, hsm.ErrTokenNotFound) {
		return quorum.Card{}, fmt.Errorf("card %s is not in a reader (insert it): %w", id, quorum.ErrNoCard)
	}
	if err != nil {
		return quorum.Card{}, fmt.Errorf("card %s: %w", id, err)
	}
	if f := r.Faults[id]; f != nil {
		tok.InjectFaults(f)
	}
	keep := false // the session stays open for the card's cosigning key
	defer func() {
		if !keep {
			tok.Close()
		}
	}()
	ask := r.PIN
	if ask == nil {
		ask = quorum.SecretFromContext
	}
	pin, err := ask(ctx, id)
	if err != nil {
		return quorum.Card{}, err
	}
	if err := tok.Login(ctx, []byte(pin)); err != nil {
		if errors.Is(err, hsm.ErrPINIncorrect) {
			r.mu.Lock()
			if r.wrong == nil {
				r.wrong = map[string]int{}
			}
			r.wrong[id]++
			n := r.wrong[id]
			r.mu.Unlock()
			return quorum.Card{}, &quorum.WrongPINError{Card: id, Tries: n}
		}
		return quorum.Card{}, fmt.Errorf("card %s: %w", id, err)
	}
	defer func() {
		if !keep {
			tok.Logout(ctx)
		}
	}()
	plain, err := tok.ReadPrivateData(ctx, Object)
	if err != nil {
		return quorum.Card{}, fmt.Errorf("card %s holds no share (%v); is it a keyceremony card?", id, err)
	}
	defer quorum.Wipe(plain)
	card, err := quorum.ParseCardContents(id, "the card token", plain)
	if err != nil {
		return quorum.Card{}, err
	}
	r.mu.Lock()
	delete(r.wrong, id)
	r.mu.Unlock()
	if pub, err := tok.Ed25519Public(ctx, CosignKey); err == nil {
		card.Cosigner, keep = &tokenCosigner{tok: tok, pub: pub}, true
	}
	return card, nil
}

// SecretName: a card token opens with its holder's card PIN.
func (r *Reader) SecretName() string { return "card PIN" }

// Inserted lists the card tokens present now, by label. Smart-card readers
// report insertion and removal on every slot list; SoftHSM reads its token
// folder once per process, so its cards do not come and go.
func (r *Reader) Inserted(context.Context) (map[string]bool, error) {
	r.dev.Lock()
	defer r.dev.Unlock()
	labels, err := hsm.TokenLabels(r.Module)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, l := range labels {
		out[l] = true
	}
	return out, nil
}
