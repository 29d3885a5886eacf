package quorum

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Each crypto officer's card also carries a personal Ed25519 key. With it the
// officers present cosign the ceremony log's checkpoint (C2SP
// tlog-cosignature, cosignature/v1), so that the published log is signed by
// the people in the room and not only by the laptop. The roster lists each
// card's public key as a cosignature/v1 verifier key.

// CosignKeyPrefix begins the key name of every officer's cosigning key:
// officer/CO3. Signature lines with this prefix in a checkpoint are officers'.
const CosignKeyPrefix = "officer/"

// CosignKeyName is the key name the roster gives card id's cosigning key.
func CosignKeyName(id string) string { return CosignKeyPrefix + id }

// Cosigner is an officer's cosigning key, as a card yields it once its
// holder has opened it: held in memory for a card file or a simulated card,
// or inside the card for a PKCS#11 card (the session stays open until Close).
type Cosigner interface {
	Public() ed25519.PublicKey
	// SignEd25519 signs msg (pure Ed25519).
	SignEd25519(msg []byte) ([]byte, error)
	// Close wipes the key held in memory, or logs out of the card.
	Close() error
}

// softCosigner is a cosigning key held in memory.
type softCosigner struct {
	seed []byte
	key  ed25519.PrivateKey
}

func newSoftCosigner(seed []byte) (*softCosigner, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("a cosigning key seed of the wrong length")
	}
	s := append([]byte(nil), seed...)
	return &softCosigner{seed: s, key: ed25519.NewKeyFromSeed(s)}, nil
}

func (c *softCosigner) Public() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

func (c *softCosigner) SignEd25519(msg []byte) ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("the cosigning key was wiped")
	}
	return ed25519.Sign(c.key, msg), nil
}

func (c *softCosigner) Close() error {
	Wipe(c.seed)
	Wipe(c.key)
	c.seed, c.key = nil, nil
	return nil
}

// generateCosigner makes a cosigning key from rnd, for a card file or a
// simulated card.
func generateCosigner(rnd io.Reader) (*softCosigner, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, err
	}
	defer Wipe(seed)
	return newSoftCosigner(seed)
}

// CosignVKey is the cosignature/v1 verifier key (name+hash+base64(0x04‖key))
// of an officer's public key, as the roster lists it.
func CosignVKey(name string, pub ed25519.PublicKey) (string, error) {
	std, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(std)
}

// ParseCosignVKey reads a roster's cosigning key: its name and public key.
func ParseCosignVKey(vkey string) (string, ed25519.PublicKey, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return "", nil, fmt.Errorf("cosigning key %q: %v", vkey, err)
	}
	_, rest, _ := strings.Cut(vkey, "+")
	_, b64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return "", nil, fmt.Errorf("cosigning key %q: not a cosignature/v1 Ed25519 key", vkey)
	}
	// The key hash must be the one the name and key give.
	if want, _ := CosignVKey(v.Name(), raw[1:]); want != vkey {
		return "", nil, fmt.Errorf("cosigning key %q: its key hash does not match its name and key", vkey)
	}
	return v.Name(), ed25519.PublicKey(raw[1:]), nil
}

// CosignVerifier is the note verifier of a roster card's cosigning key.
func (c CardInfo) CosignVerifier() (note.Verifier, error) {
	if c.Key == "" {
		return nil, fmt.Errorf("card %s has no cosigning key on the roster", c.ID)
	}
	return fnote.NewVerifierForCosignatureV1(c.Key)
}

// HasCosignKeys reports whether the roster lists a cosigning key for any card.
func (r *Roster) HasCosignKeys() bool {
	if r == nil {
		return false
	}
	for _, c := range r.Cards {
		if c.Key != "" {
			return true
		}
	}
	return false
}

// validateKeys checks the cards' cosigning keys: each well formed, and no
// name or key used twice.
func (r *Roster) validateKeys() error {
	names, keys := map[string]string{}, map[string]string{}
	for _, c := range r.Cards {
		if c.Key == "" {
			continue
		}
		name, pub, err := ParseCosignVKey(c.Key)
		if err != nil {
			return fmt.Errorf("card %s: %v", c.ID, err)
		}
		if other, ok := names[name]; ok {
			return fmt.Errorf("cards %s and %s: one cosigning key name, %s", other, c.ID, name)
		}
		if other, ok := keys[string(pub)]; ok {
			return fmt.Errorf("cards %s and %s: one cosigning key", other, c.ID)
		}
		names[name], keys[string(pub)] = c.ID, c.ID
	}
	return nil
}

// CardByCosignKey returns the card whose cosigning key has the given name
// and key hash.
func (r *Roster) CardByCosignKey(name string, hash uint32) (CardInfo, note.Verifier, bool) {
	if r == nil {
		return CardInfo{}, nil, false
	}
	for _, c := range r.Cards {
		if c.Key == "" {
			continue
		}
		v, err := c.CosignVerifier()
		if err == nil && v.Name() == name && v.KeyHash() == hash {
			return c, v, true
		}
	}
	return CardInfo{}, nil, false
}

// checkCosigner checks that a card's cosigning key is the roster's.
func (r *Roster) checkCosigner(card Card) bool {
	info, _ := r.Card(card.ID)
	if info.Key == "" {
		return true
	}
	if card.Cosigner == nil {
		return false
	}
	_, pub, err := ParseCosignVKey(info.Key)
	return err == nil && pub.Equal(card.Cosigner.Public())
}

// CheckCosigner reports, for a card read to cosign, whether its key is the
// one the roster lists for it: a *RejectedError otherwise.
func (r *Roster) CheckCosigner(card Card) error {
	info, ok := r.Card(card.ID)
	switch {
	case !ok:
		return &RejectedError{card.ID, ReasonUnknown}
	case info.Key == "":
		return fmt.Errorf("card %s has no cosigning key on the roster", card.ID)
	case !r.checkCosigner(card):
		return &RejectedError{card.ID, ReasonWrongKey}
	}
	return nil
}

// CloseCard ends what a card read left open: it wipes the share and closes
// its cosigning key.
func CloseCard(c *Card) {
	Wipe(c.Value)
	if c.Cosigner != nil {
		c.Cosigner.Close()
		c.Cosigner = nil
	}
}
