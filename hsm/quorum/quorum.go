// Package quorum is the crypto officers' M-of-N card quorum. The HSM's
// activation secret is split with verifiable secret sharing (Shamir shares
// with Feldman commitments, over ristretto255): each card holds one share and
// the roster publishes the commitments, so every card is checked the moment it
// is presented, and a forged, unknown, revoked or repeated card is refused by
// name. Once M valid cards are in, the secret is recovered, the token PIN is
// derived from it and every share is wiped.
package quorum

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

// GroupName is the prime-order group the shares live in.
const GroupName = "ristretto255"

var grp = group.Ristretto255

// Roster is the public part of a quorum: who holds which card, the threshold
// and the Feldman commitments to the secret. It belongs in the ceremony script.
type Roster struct {
	// Mode is "shares" (the default: the cards hold verifiable shares of
	// the HSM's activation secret) or "witnessed": the HSM enforces M-of-N
	// itself (AEP Keyper, Luna PED) and the console records each card it
	// accepts, with the card's serial and a witness's confirmation.
	Mode        string     `yaml:"mode,omitempty" json:"mode,omitempty"`
	Threshold   int        `yaml:"threshold" json:"threshold"`
	Group       string     `yaml:"group,omitempty" json:"group,omitempty"`
	Commitments []string   `yaml:"commitments,omitempty" json:"commitments,omitempty"` // base64 group elements, Threshold of them
	Cards       []CardInfo `yaml:"cards" json:"cards"`
	// Timeout, when set (a Go duration such as "15m"), is how long a partial
	// quorum lasts: cards accepted longer ago than this before the threshold
	// is reached expire, and the officers start again.
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// ExpiresAfter is the roster's Timeout; zero means partial quorums never
// expire.
func (r *Roster) ExpiresAfter() time.Duration {
	if r == nil {
		return 0
	}
	d, _ := time.ParseDuration(r.Timeout)
	return d
}

// CardInfo is one enrolled card.
type CardInfo struct {
	ID      string `yaml:"id" json:"id"` // the officer's role, e.g. CO1
	Holder  string `yaml:"holder" json:"holder"`
	Share   uint64 `yaml:"share,omitempty" json:"share,omitempty"` // the share's x coordinate
	Revoked bool   `yaml:"revoked,omitempty" json:"revoked,omitempty"`
	// Serial, in witnessed mode, is the card's serial number as the HSM
	// shows it; when set, the serial typed at the ceremony must match.
	Serial string `yaml:"serial,omitempty" json:"serial,omitempty"`
	// Key is the officer's Ed25519 cosigning key, which the card carries:
	// a cosignature/v1 verifier key (officer/CO1+hash+base64). With it the
	// officers present cosign the log's checkpoints.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
}

// Roster modes.
const (
	ModeShares    = "shares"
	ModeWitnessed = "witnessed"
)

// Witnessed reports whether the HSM enforces the quorum itself.
func (r *Roster) Witnessed() bool { return r != nil && r.Mode == ModeWitnessed }

// Card is what a card holds: its id and its secret share. It is secret.
type Card struct {
	ID    string
	Share uint64
	Value []byte // the share's scalar
	// Cosigner is the officer's cosigning key, open until CloseCard; nil
	// when the card carries none.
	Cosigner Cosigner
}

// Validate checks the roster's shape: a threshold within the number of cards,
// one commitment per coefficient, distinct ids and share numbers.
func (r *Roster) Validate() error {
	if r == nil {
		return errors.New("no roster: the script names no quorum")
	}
	switch r.Mode {
	case "", ModeShares:
	case ModeWitnessed:
		if err := r.validateWitnessed(); err != nil {
			return err
		}
		return r.validateKeys()
	default:
		return fmt.Errorf("quorum mode %q: want shares or witnessed", r.Mode)
	}
	if r.Group != GroupName {
		return fmt.Errorf("quorum group %q, want %q", r.Group, GroupName)
	}
	active := 0
	for _, c := range r.Cards {
		if !c.Revoked {
			active++
		}
	}
	if r.Threshold < 1 || r.Threshold > active {
		return fmt.Errorf("threshold %d with %d cards not revoked", r.Threshold, active)
	}
	if len(r.Commitments) != r.Threshold {
		return fmt.Errorf("%d commitments for threshold %d (want one per coefficient)", len(r.Commitments), r.Threshold)
	}
	if _, err := r.commitments(); err != nil {
		return err
	}
	if r.Timeout != "" {
		if d, err := time.ParseDuration(r.Timeout); err != nil || d <= 0 {
			return fmt.Errorf("quorum timeout %q: want a duration such as 15m", r.Timeout)
		}
	}
	ids, shares := map[string]bool{}, map[uint64]bool{}
	for _, c := range r.Cards {
		if c.ID == "" || c.Share == 0 {
			return fmt.Errorf("card %q: needs an id and a share number from 1", c.ID)
		}
		if ids[c.ID] || shares[c.Share] {
			return fmt.Errorf("card %s: id or share number used twice", c.ID)
		}
		ids[c.ID], shares[c.Share] = true, true
	}
	return r.validateKeys()
}

// validateWitnessed checks a witnessed roster: holders and card ids, no
// shares or commitments (the HSM holds the secret).
func (r *Roster) validateWitnessed() error {
	if r.Group != "" || len(r.Commitments) > 0 {
		return errors.New("a witnessed quorum has no group or commitments: the HSM enforces it")
	}
	active := 0
	ids := map[string]bool{}
	for _, c := range r.Cards {
		if c.ID == "" || c.Holder == "" {
			return fmt.Errorf("card %q: needs an id and a holder", c.ID)
		}
		if c.Share != 0 {
			return fmt.Errorf("card %s: a witnessed card holds no share", c.ID)
		}
		if ids[c.ID] {
			return fmt.Errorf("card %s: id used twice", c.ID)
		}
		ids[c.ID] = true
		if !c.Revoked {
			active++
		}
	}
	if r.Threshold < 1 || r.Threshold > active {
		return fmt.Errorf("threshold %d with %d cards not revoked", r.Threshold, active)
	}
	if r.Timeout != "" {
		if d, err := time.ParseDuration(r.Timeout); err != nil || d <= 0 {
			return fmt.Errorf("quorum timeout %q: want a duration such as 15m", r.Timeout)
		}
	}
	return nil
}

func (r *Roster) commitments() (secretsharing.SecretCommitment, error) {
	out := make(secretsharing.SecretCommitment, len(r.Commitments))
	for i, s := range r.Commitments {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("commitment %d: %v", i, err)
		}
		e := grp.NewElement()
		if err := e.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("commitment %d: not a %s element", i, GroupName)
		}
		out[i] = e
	}
	return out, nil
}

// Card returns the enrolled card with the given id.
func (r *Roster) Card(id string) (CardInfo, bool) {
	if r == nil {
		return CardInfo{}, false
	}
	for _, c := range r.Cards {
		if c.ID == id {
			return c, true
		}
	}
	return CardInfo{}, false
}

// Named is a card's id with its holder's name, as people read it:
// "CO2 (Bjorn Lindqvist)"; the id alone for a card not on the roster.
func (r *Roster) Named(id string) string {
	if c, ok := r.Card(id); ok && c.Holder != "" {
		return id + " (" + c.Holder + ")"
	}
	return id
}

// Deal makes a new secret and splits it for the given cards: it returns the
// roster (with commitments) and the cards' secret contents.
func Deal(rnd io.Reader, threshold int, holders []CardInfo) (*Roster, []Card, error) {
	return deal(rnd, grp.RandomScalar(rnd), threshold, holders, 1)
}

// DealSecret is Deal that also returns the secret dealt, for a secret the
// caller uses at once (a storage master key derived from it) and wipes.
func DealSecret(rnd io.Reader, threshold int, holders []CardInfo) (*Roster, []Card, []byte, error) {
	s := grp.RandomScalar(rnd)
	defer s.SetUint64(0)
	secret, err := s.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	r, cards, err := deal(rnd, s, threshold, holders, 1)
	if err != nil {
		Wipe(secret)
		return nil, nil, nil, err
	}
	return r, cards, secret, nil
}

// DeriveSMK derives a storage master key (AES-256) from the secret the
// recovery key share holders' cards share. The key exists only while a
// backup is made or restored; it is never stored.
func DeriveSMK(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, "keyceremony storage master key", 32)
}

// Reshare deals the secret that old's cards recovered to a new set of
// holders, for crypto officer replacement: the new roster holds the new
// cards, numbered after the old ones, and lists every old card as revoked,
// so an old card is refused by name. The secret, and so the token PIN, stay
// the same; the first commitment of both rosters is equal, which anyone can
// check. New cards need ids the old roster does not use.
func Reshare(rnd io.Reader, secret []byte, old *Roster, threshold int, holders []CardInfo) (*Roster, []Card, error) {
	if err := old.Validate(); err != nil {
		return nil, nil, err
	}
	s := grp.NewScalar()
	if err := s.UnmarshalBinary(secret); err != nil {
		return nil, nil, fmt.Errorf("the recovered secret: %w", err)
	}
	defer s.SetUint64(0)
	c, _ := old.commitments()
	if !grp.NewElement().MulGen(s).IsEqual(c[0]) {
		return nil, nil, errors.New("the secret is not the old roster's")
	}
	return redeal(rnd, s, old, threshold, holders)
}

// Provision deals a new card set with a fresh secret, for a new key or a new
// HSM: the old cards are listed as revoked and the new ones numbered after
// them, as Reshare does, but the first commitment changes, and the token's
// PIN must be changed to the one the new secret derives (returned, for the
// caller to set and wipe). old must be the roster whose secret opens the
// token now: the caller proves that by having logged in with it.
func Provision(rnd io.Reader, old *Roster, threshold int, holders []CardInfo) (*Roster, []Card, []byte, error) {
	if err := old.Validate(); err != nil {
		return nil, nil, nil, err
	}
	s := grp.RandomScalar(rnd)
	defer s.SetUint64(0)
	secret, err := s.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	r, cards, err := redeal(rnd, s, old, threshold, holders)
	if err != nil {
		Wipe(secret)
		return nil, nil, nil, err
	}
	return r, cards, secret, nil
}

// redeal splits secret for holders, numbering their shares after old's
// cards, which the new roster lists as revoked.
func redeal(rnd io.Reader, s group.Scalar, old *Roster, threshold int, holders []CardInfo) (*Roster, []Card, error) {
	var next uint64 = 1
	for _, oc := range old.Cards {
		if oc.Share >= next {
			next = oc.Share + 1
		}
		for _, h := range holders {
			if h.ID == oc.ID {
				return nil, nil, fmt.Errorf("card id %s is on the old roster; a new card needs a new id", h.ID)
			}
		}
	}
	r, cards, err := deal(rnd, s, threshold, holders, next)
	if err != nil {
		return nil, nil, err
	}
	for _, oc := range old.Cards {
		oc.Revoked = true
		r.Cards = append(r.Cards, oc)
	}
	return r, cards, r.Validate()
}

func deal(rnd io.Reader, secret group.Scalar, threshold int, holders []CardInfo, first uint64) (*Roster, []Card, error) {
	if threshold < 1 || threshold > len(holders) {
		return nil, nil, fmt.Errorf("threshold %d with %d cards", threshold, len(holders))
	}
	ss := secretsharing.New(rnd, uint(threshold-1), secret)
	r := &Roster{Threshold: threshold, Group: GroupName}
	for _, c := range ss.CommitSecret() {
		b, err := c.MarshalBinaryCompress()
		if err != nil {
			return nil, nil, err
		}
		r.Commitments = append(r.Commitments, base64.StdEncoding.EncodeToString(b))
	}
	var cards []Card
	for i, h := range holders {
		h.Share = first + uint64(i)
		h.Revoked = false
		key, err := generateCosigner(rnd)
		if err != nil {
			return nil, nil, err
		}
		if h.Key, err = CosignVKey(CosignKeyName(h.ID), key.Public()); err != nil {
			return nil, nil, err
		}
		r.Cards = append(r.Cards, h)
		sh := ss.ShareWithID(grp.NewScalar().SetUint64(h.Share))
		v, err := sh.Value.MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		cards = append(cards, Card{ID: h.ID, Share: h.Share, Value: v, Cosigner: key})
	}
	return r, cards, r.Validate()
}

// Reasons a card is refused.
const (
	ReasonUnknown   = "unknown"   // not enrolled in the roster
	ReasonRevoked   = "revoked"   // enrolled, but revoked
	ReasonDuplicate = "duplicate" // already accepted in this quorum
	ReasonForged    = "forged"    // its share does not match the roster's commitments
	ReasonWrongKey  = "wrong-key" // its cosigning key is not the one the roster lists
)

// ErrRejected wraps the reason a card was refused.
var ErrRejected = errors.New("card rejected")

// RejectedError says which card was refused and why.
type RejectedError struct {
	Card   string
	Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("card %s rejected: %s", e.Card, e.Reason)
}

func (e *RejectedError) Unwrap() error { return ErrRejected }

// Collector gathers cards until the threshold is reached. It holds the
// accepted shares until Recover or Wipe.
type Collector struct {
	roster   *Roster
	commits  secretsharing.SecretCommitment
	accepted []secretsharing.Share
	ids      []string
}

// NewCollector starts collecting cards for a roster.
func NewCollector(r *Roster) (*Collector, error) {
	if r.Witnessed() {
		return nil, errors.New("a witnessed quorum has no shares to collect: the HSM checks the cards")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, _ := r.commitments()
	return &Collector{roster: r, commits: c}, nil
}

// Present checks a card against the roster and keeps its share if it is
// valid. A refusal is a *RejectedError naming the card and the reason.
func (c *Collector) Present(card Card) error {
	info, ok := c.roster.Card(card.ID)
	switch {
	case !ok:
		return &RejectedError{card.ID, ReasonUnknown}
	case info.Revoked:
		return &RejectedError{card.ID, ReasonRevoked}
	}
	for _, id := range c.ids {
		if id == card.ID {
			return &RejectedError{card.ID, ReasonDuplicate}
		}
	}
	v := grp.NewScalar()
	if card.Share != info.Share || v.UnmarshalBinary(card.Value) != nil {
		return &RejectedError{card.ID, ReasonForged}
	}
	sh := secretsharing.Share{ID: grp.NewScalar().SetUint64(info.Share), Value: v}
	if !secretsharing.Verify(uint(c.roster.Threshold-1), sh, c.commits) {
		return &RejectedError{card.ID, ReasonForged}
	}
	if !c.roster.checkCosigner(card) {
		return &RejectedError{card.ID, ReasonWrongKey}
	}
	c.accepted = append(c.accepted, sh)
	c.ids = append(c.ids, card.ID)
	return nil
}

// Accepted returns the ids of the accepted cards, in order.
func (c *Collector) Accepted() []string { return append([]string(nil), c.ids...) }

// Reached reports whether enough valid cards are in.
func (c *Collector) Reached() bool { return len(c.accepted) >= c.roster.Threshold }

// Recover rebuilds the secret from the accepted shares and wipes them. The
// caller must wipe the returned secret when done with it.
func (c *Collector) Recover() ([]byte, error) {
	defer c.Wipe()
	if !c.Reached() {
		return nil, fmt.Errorf("%d of %d cards", len(c.accepted), c.roster.Threshold)
	}
	s, err := secretsharing.Recover(uint(c.roster.Threshold-1), c.accepted)
	if err != nil {
		return nil, err
	}
	b, err := s.MarshalBinary()
	defer s.SetUint64(0)
	if err != nil {
		return nil, err
	}
	// The commitment to the constant term is g^secret: check it.
	if !grp.NewElement().MulGen(s).IsEqual(c.commits[0]) {
		Wipe(b)
		return nil, errors.New("recovered secret does not match the roster's commitment")
	}
	return b, nil
}

// Drop forgets the share of one accepted card, which must be presented again.
func (c *Collector) Drop(id string) {
	for i, v := range c.ids {
		if v == id {
			c.accepted[i].Value.SetUint64(0)
			c.accepted = append(c.accepted[:i], c.accepted[i+1:]...)
			c.ids = append(c.ids[:i], c.ids[i+1:]...)
			return
		}
	}
}

// Wipe forgets every accepted share.
func (c *Collector) Wipe() {
	for i := range c.accepted {
		c.accepted[i].Value.SetUint64(0)
	}
	c.accepted, c.ids = nil, nil
}

// Wipe overwrites a secret byte slice with zeros.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// DerivePIN derives a token's PIN from the recovered activation secret, bound
// to the token's label, as hex. The PIN itself is never stored anywhere.
func DerivePIN(secret []byte, tokenLabel string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, "keyceremony token PIN: "+tokenLabel, 16)
	if err != nil {
		return nil, err
	}
	out := make([]byte, hex.EncodedLen(len(k)))
	hex.Encode(out, k)
	Wipe(k)
	return out, nil
}
