// The crypto officers' cards: presented and checked against the roster,
// recorded as the HSM accepts them (witnessed mode), expired, and dealt
// again to new officers.

package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/durable"
)

// PresentCard reads an officer's card and checks it against the roster; a
// refused card is logged by name with the reason. At the threshold the secret
// is recovered, the token PIN derived and the shares wiped.
func (s *Session) PresentCard(ctx context.Context, id string) error {
	if s.cfg.Script.Quorum.Witnessed() {
		return errors.New("the HSM checks the cards itself (witnessed quorum): record each card it accepts, with its serial, as the witness confirms")
	}
	card, err := s.cfg.Cards.Read(ctx, id)
	if err != nil {
		return fmt.Errorf("read card %s: %w; present it again", id, err)
	}
	return s.present(ctx, card)
}

// PresentForged presents a forged card claiming to be the first officer not
// yet accepted (the demo shows that one is refused).
func (s *Session) PresentForged(ctx context.Context) error {
	sim, ok := s.cfg.Cards.(*quorum.Simulated)
	if !ok {
		return errors.New("forged cards exist only among simulated cards")
	}
	for _, c := range s.cfg.Script.Quorum.Cards {
		if !contains(s.state.Accepted, c.ID) {
			return s.present(ctx, sim.Forged(c.ID))
		}
	}
	return errors.New("every card is accepted")
}

// ExpireQuorum ends a partial quorum older than the roster's timeout: it
// logs quorum.expired, wipes the shares held, and the officers start again.
// It reports whether it did; the console calls it on its clock tick, and
// every card presentation calls it first.
func (s *Session) ExpireQuorum(ctx context.Context) (bool, error) {
	d := s.cfg.Script.Quorum.ExpiresAfter()
	st := s.state
	if d == 0 || st.Quorum || len(st.Accepted) == 0 || !st.CollectingCards() {
		return false, nil
	}
	if s.cfg.Log.Now().Sub(st.PartialSince) <= d+time.Millisecond { // entry times have millisecond precision
		return false, nil
	}
	cur, _ := st.Current()
	if err := s.append(ctx, event.QuorumExpired{Step: cur.ID, Cards: st.Accepted, Timeout: d.String()}); err != nil {
		return false, err
	}
	if s.collector != nil {
		s.collector.Wipe()
		s.collector = nil
	}
	s.dropCosigners()
	return true, nil
}

// Witness returns the role that confirms cards in the current step of a
// witnessed quorum.
func (s *Session) Witness() string { return s.view().CardWitness() }

// WitnessCard records, in witnessed mode, a card the HSM accepted: its id,
// its serial as the operator typed it from the HSM's display, and the
// witness's confirmation (the caller asks for it first). At the threshold
// the quorum is reached; the HSM was activated by its own cards, so no
// secret passes through the console.
func (s *Session) WitnessCard(ctx context.Context, id, serial string) error {
	q := s.cfg.Script.Quorum
	if !q.Witnessed() {
		return errors.New("this quorum holds shares: present the card, it is checked against the roster")
	}
	cur, _ := s.state.Current()
	if f := s.state.Forged; f != "" {
		return fmt.Errorf("a forged card bearing %s's name was refused: record an exception (x) before any other card", f)
	}
	if !s.state.CollectingCards() {
		return fmt.Errorf("no cards are collected at step %s", cur.ID)
	}
	if s.Witness() == "" {
		return fmt.Errorf("step %s: none of its witnesses (%v) signed in to confirm the cards", cur.ID, cur.Witnesses)
	}
	serial = strings.TrimSpace(serial)
	if serial == "" {
		return fmt.Errorf("card %s: type the serial the HSM shows for it", id)
	}
	info, ok := q.Card(id)
	switch {
	case !ok:
		return fmt.Errorf("card %s is not on the roster", id)
	case info.Revoked:
		return fmt.Errorf("card %s is revoked on this roster: the HSM must not accept it; record an exception", id)
	case contains(s.state.Accepted, id):
		return fmt.Errorf("card %s is already recorded", id)
	case info.Serial != "" && info.Serial != serial:
		return fmt.Errorf("card %s has serial %s on the roster, not %s: check the HSM's display and type it again", id, info.Serial, serial)
	}
	if _, err := s.ExpireQuorum(ctx); err != nil {
		return err
	}
	if err := s.append(ctx, event.CardWitnessed{Step: cur.ID, Card: id, Holder: info.Holder,
		Serial: serial, Witness: s.Witness()}); err != nil {
		return err
	}
	if len(s.state.Accepted) < q.Threshold {
		return nil
	}
	return s.append(ctx, event.QuorumReached{Step: cur.ID, Cards: s.state.Accepted, Threshold: q.Threshold})
}

func (s *Session) present(ctx context.Context, card quorum.Card) error {
	defer quorum.Wipe(card.Value)
	kept := false // an accepted card's cosigning key is kept for the quorum's checkpoint
	defer func() {
		if !kept && card.Cosigner != nil {
			card.Cosigner.Close()
		}
	}()
	cur, _ := s.state.Current()
	if f := s.state.Forged; f != "" {
		return fmt.Errorf("a forged card bearing %s's name was refused: record an exception (x) before any other card", f)
	}
	if !s.state.CollectingCards() {
		return fmt.Errorf("no cards are collected at step %s", cur.ID)
	}
	if _, err := s.ExpireQuorum(ctx); err != nil {
		return err
	}
	if s.collector == nil {
		c, err := quorum.NewCollector(s.cfg.Script.Quorum)
		if err != nil {
			return err
		}
		s.collector = c
	}
	info, _ := s.cfg.Script.Quorum.Card(card.ID)
	if err := s.collector.Present(card); err != nil {
		var re *quorum.RejectedError
		if !errors.As(err, &re) {
			return err
		}
		rejected := event.CardRejected{Step: cur.ID, Card: card.ID, Reason: re.Reason}
		if info, ok := s.cfg.Script.Quorum.Card(card.ID); ok {
			rejected.Holder = info.Holder
		}
		if lerr := s.append(ctx, rejected); lerr != nil {
			return lerr
		}
		return err
	}
	if err := s.append(ctx, event.CardPresented{Step: cur.ID, Card: card.ID, Holder: info.Holder}); err != nil {
		s.collector.Drop(card.ID) // not logged, so not accepted: present it again
		return err
	}
	kept = true
	s.holdCosigner(card.ID, card.Cosigner)
	if !s.collector.Reached() {
		return nil
	}
	secret, err := s.collector.Recover()
	s.collector = nil
	if err != nil {
		return fmt.Errorf("recover the activation secret: %w", err)
	}
	pin, err := quorum.DerivePIN(secret, s.cfg.Token.Label())
	if s.reshareAhead() {
		s.wipeSecret()
		s.secret = secret
	} else {
		quorum.Wipe(secret)
	}
	if err != nil {
		return err
	}
	s.wipePIN()
	s.pin = pin
	if err := s.append(ctx, event.QuorumReached{Step: cur.ID, Cards: s.state.Accepted, Threshold: s.cfg.Script.Quorum.Threshold}); err != nil {
		s.dropCosigners()
		return err
	}
	return s.cosignQuorum(ctx)
}

// reshareAhead reports whether a cards.reshare step, not yet done, is the
// current step or comes later.
func (s *Session) reshareAhead() bool {
	for i, st := range s.cfg.Script.Steps()[s.state.Next:] {
		if st.Action == ceremony.ActionReshare && !(i == 0 && s.state.ActionDone()) {
			return true
		}
	}
	return false
}

func (s *Session) wipeSecret() {
	quorum.Wipe(s.secret)
	s.secret = nil
}

// wipeRecovery forgets the storage master key a recovery rebuilt and the
// recovery cards' shares held.
func (s *Session) wipeRecovery() {
	quorum.Wipe(s.smk)
	s.smk = nil
	if s.recovery != nil {
		s.recovery.Wipe()
		s.recovery = nil
	}
}

// Reshare deals the secret the old cards recovered to the new officers,
// each card file sealed with the passphrase its holder typed; writes the
// new roster, which revokes every old card; and logs it. With secret: same
// the secret and the token's PIN stay the same (both rosters' first
// commitment is equal); with secret: new a fresh secret is dealt and the
// logged-in token's PIN changed to the one it derives, so that only the new
// cards open the HSM from then on.
func (s *Session) Reshare(ctx context.Context, passphrases map[string]string) error {
	cur, _ := s.state.Current()
	rc := s.cfg.Reshare
	if s.Next() != NextReshare {
		return fmt.Errorf("step %s deals no new cards now", cur.ID)
	}
	if s.secret == nil {
		return errors.New("the activation secret is not here: the old officers present their cards first")
	}
	if len(rc.Holders) == 0 || rc.RosterPath == "" || rc.CardsDir == "" {
		return errors.New("no new holders, roster path or card folder: give them to the ceremony (run --new-holders, --new-roster, --new-cards)")
	}
	for _, h := range rc.Holders {
		if len(passphrases[h.ID]) < 8 {
			return fmt.Errorf("new card %s (%s): a passphrase of at least 8 characters", h.ID, h.Holder)
		}
	}
	threshold := ceremony.ReshareThreshold(cur)
	old := s.cfg.Script.Quorum
	fresh := ceremony.ReshareSecret(cur) == ceremony.SecretNew
	var (
		roster         *quorum.Roster
		cards          []quorum.Card
		oldPIN, newPIN []byte
		setter         hsm.PINSetter
	)
	if fresh {
		// A new card set: a fresh secret, and the token's PIN changed to
		// the one it derives, in the session the old cards opened.
		var ok bool
		if setter, ok = s.cfg.Token.(hsm.PINSetter); !ok {
			return fmt.Errorf("token %q cannot change its PIN here; provision the cards with its own tools", s.cfg.Token.Label())
		}
		if !s.cfg.Token.LoggedIn() {
			return fmt.Errorf("token %q is not logged in: activate it first (the new PIN is set in the session the old cards opened)", s.cfg.Token.Label())
		}
		r, c, secret, err := quorum.Provision(rand.Reader, old, threshold, rc.Holders)
		if err != nil {
			return err
		}
		roster, cards = r, c
		defer wipeCards(cards)
		newPIN, err = quorum.DerivePIN(secret, s.cfg.Token.Label())
		quorum.Wipe(secret)
		if err != nil {
			return err
		}
		defer quorum.Wipe(newPIN)
		if oldPIN, err = quorum.DerivePIN(s.secret, s.cfg.Token.Label()); err != nil {
			return err
		}
		defer quorum.Wipe(oldPIN)
	} else {
		r, c, err := quorum.Reshare(rand.Reader, s.secret, old, threshold, rc.Holders)
		if err != nil {
			return err
		}
		roster, cards = r, c
		defer wipeCards(cards)
	}
	rb, err := quorum.MarshalRosterFile(roster)
	if err != nil {
		return err
	}
	if _, err := os.Stat(rc.RosterPath); err == nil {
		return fmt.Errorf("%s exists; a roster is never overwritten: move it and deal again", rc.RosterPath)
	}
	if _, err := quorum.WriteCardFiles(rc.CardsDir, cards, passphrases, rc.WorkFactor); err != nil {
		return fmt.Errorf("%w; nothing was logged: remove the new card files and deal again", err)
	}
	var ids, revoked []string
	for _, c := range cards {
		ids = append(ids, c.ID)
	}
	if err := s.cfg.Disk.WriteFile(rc.RosterPath, rb, 0o644, durable.New); err != nil {
		return fmt.Errorf("write the new roster: %w; nothing was logged: remove the new card files and deal again", err)
	}
	for _, c := range old.Cards {
		revoked = append(revoked, c.ID)
	}
	ref, err := s.cfg.Log.StoreArtefact(filepath.Base(rc.RosterPath), rb)
	if err != nil {
		return err
	}
	secretField := ceremony.SecretSame
	if fresh {
		// Last, the token, once the new cards, the roster and its copy in
		// the log are on disk. Between this and the log entry below, the
		// token opens only with the new cards: a crash there leaves the log
		// one entry behind the token, and the new roster says so.
		if err := setter.SetPIN(ctx, oldPIN, newPIN); err != nil {
			return fmt.Errorf("%w; the token refused the change, so its PIN is the old one and nothing was logged: remove the new card files and roster and deal again", err)
		}
		secretField = ceremony.SecretNew
	}
	ev := event.CardsReshared{Step: cur.ID, Threshold: threshold, Cards: ids,
		Revoked: revoked, Commitment: roster.Commitments[0], RosterSHA256: ref.SHA256, Secret: secretField}
	if err := s.append(ctx, ev, ref); err != nil {
		if !fresh {
			return err
		}
		// The log did not take it: put the old PIN back, so that the token
		// and the log agree again.
		if rerr := setter.SetPIN(ctx, newPIN, oldPIN); rerr != nil {
			return fmt.Errorf("%w; and the token's PIN could not be set back (%v): the token now opens only with the new cards: keep them and their roster, and record an exception", err, rerr)
		}
		return fmt.Errorf("%w; the token's PIN was set back to the old cards' and nothing was logged: remove the new card files and roster and deal again", err)
	}
	s.wipeSecret()
	loginAhead := false
	for _, st := range s.cfg.Script.Steps()[s.state.Next:] {
		loginAhead = loginAhead || st.Action == ceremony.ActionHSMLogin
	}
	if !loginAhead || fresh {
		s.wipePIN() // no HSM login follows, or the PIN changed: the PIN derived at the quorum goes too
	}
	return nil
}

func wipeCards(cards []quorum.Card) {
	for _, c := range cards {
		quorum.Wipe(c.Value)
	}
}

// ReshareConfig says who the new crypto officers are and where their card
// files and the new roster go (never overwritten).
type ReshareConfig struct {
	Holders    []quorum.CardInfo
	RosterPath string
	CardsDir   string
	WorkFactor int // scrypt log2 N of the card files; 0 for the default
}
