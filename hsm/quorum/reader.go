package quorum

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/group"
	"gopkg.in/yaml.v3"
)

// Reader reads crypto officers' cards: a smart-card reader, passphrase
// protected card files, or the demo's simulated cards.
type Reader interface {
	// Read asks for the card of the officer with the given id and returns
	// what it holds. The caller wipes Card.Value when done.
	Read(ctx context.Context, id string) (Card, error)
}

// ErrNoCard: no card was read (removed, not inserted, unknown to the reader).
var ErrNoCard = errors.New("no card read")

// Simulated is a Reader over cards held in memory, for rehearsals and tests.
// It can also make a forged card, to show that one is refused.
type Simulated struct {
	cards map[string]Card
}

// LoadSimulated reads simulated cards from YAML: cards: [{id, share, value}].
func LoadSimulated(data []byte) (*Simulated, error) {
	var doc struct {
		Cards []struct {
			ID    string `yaml:"id"`
			Share uint64 `yaml:"share"`
			Value string `yaml:"value"`
			Key   string `yaml:"key"` // the cosigning key's seed
		} `yaml:"cards"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("simulated cards: %w", err)
	}
	s := &Simulated{cards: map[string]Card{}}
	for _, c := range doc.Cards {
		v, err := base64.StdEncoding.DecodeString(c.Value)
		if err != nil {
			return nil, fmt.Errorf("simulated card %s: %v", c.ID, err)
		}
		card := Card{ID: c.ID, Share: c.Share, Value: v}
		if c.Key != "" {
			seed, err := base64.StdEncoding.DecodeString(c.Key)
			if err != nil {
				return nil, fmt.Errorf("simulated card %s: cosigning key: %v", c.ID, err)
			}
			if card.Cosigner, err = newSoftCosigner(seed); err != nil {
				return nil, fmt.Errorf("simulated card %s: %v", c.ID, err)
			}
		}
		s.cards[c.ID] = card
	}
	return s, nil
}

// SimulatedCardsYAML writes cards as LoadSimulated reads them, cosigning
// keys included: for rehearsal and test material only.
func SimulatedCardsYAML(cards []Card) ([]byte, error) {
	type card struct {
		ID    string `yaml:"id"`
		Share uint64 `yaml:"share"`
		Value string `yaml:"value"`
		Key   string `yaml:"key,omitempty"`
	}
	var cs []card
	for _, c := range cards {
		k := ""
		if sc, ok := c.Cosigner.(*softCosigner); ok {
			k = base64.StdEncoding.EncodeToString(sc.seed)
		}
		cs = append(cs, card{c.ID, c.Share, base64.StdEncoding.EncodeToString(c.Value), k})
	}
	return yaml.Marshal(map[string]any{"cards": cs})
}

// Read returns a copy of the simulated card.
func (s *Simulated) Read(_ context.Context, id string) (Card, error) {
	c, ok := s.cards[id]
	if !ok {
		return Card{}, fmt.Errorf("card %s: %w", id, ErrNoCard)
	}
	c.Value = bytes.Clone(c.Value)
	if sc, ok := c.Cosigner.(*softCosigner); ok {
		c.Cosigner, _ = newSoftCosigner(sc.seed)
	}
	return c, nil
}

// Forged returns a card that claims to be the given officer's, with the right
// share number but a share value of its own: the roster's commitments expose it.
func (s *Simulated) Forged(id string) Card {
	c := s.cards[id]
	v, _ := group.Ristretto255.RandomScalar(nil).MarshalBinary()
	key, _ := generateCosigner(rand.Reader)
	return Card{ID: id, Share: c.Share, Value: v, Cosigner: key}
}

// SecretReader is a Reader whose cards open only with what their holder
// types: a card file's passphrase or a smart card's PIN. The console asks the
// holder for it, masked, and passes it with WithSecret to Read.
type SecretReader interface {
	Reader
	// SecretName is what the holder types, for the prompt: "passphrase"
	// or "card PIN".
	SecretName() string
}

// Presence is a Reader that can tell which cards are inserted right now
// (media mounted, smart cards in readers), so the console shows them live.
type Presence interface {
	Inserted(ctx context.Context) (map[string]bool, error)
}

type secretKey struct{}

// WithSecret returns a context carrying the passphrase or PIN the holder just
// typed for the card read with it. It is never stored beyond that read.
func WithSecret(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, secretKey{}, secret)
}

// ErrNoSecret: a card that opens with its holder's passphrase or PIN was read
// without one.
var ErrNoSecret = errors.New("the card's holder has not typed the passphrase or PIN")

// SecretFromContext is the holder's secret passed with WithSecret; it is the
// prompt a SecretReader uses when it has no prompt of its own.
func SecretFromContext(ctx context.Context, id string) (string, error) {
	s, ok := ctx.Value(secretKey{}).(string)
	if !ok {
		return "", fmt.Errorf("card %s: %w", id, ErrNoSecret)
	}
	return s, nil
}
