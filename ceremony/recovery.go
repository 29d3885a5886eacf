package ceremony

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// DefaultRecoveryThreshold is how many recovery key share holders' cards
// rebuild the storage master key when a key.backup step says nothing: 5
// (of 7), as IANA's root KSK backups are held.
const DefaultRecoveryThreshold = 5

// BackupThreshold is the recovery holders' threshold a key.backup step
// deals.
func BackupThreshold(st Step) int {
	if n, err := strconv.Atoi(st.Params["threshold"]); err == nil {
		return n
	}
	return DefaultRecoveryThreshold
}

// ReshareThreshold is how many of the new cards a cards.reshare step
// deals open the HSM (its threshold parameter, which the script's
// validation requires); 0 when it names none.
func ReshareThreshold(st Step) int {
	n, _ := strconv.Atoi(st.Params["threshold"])
	return n
}

// Recovery is the recovery holders' quorum of this ceremony, as logged.
type Recovery struct {
	Cards   []string // accepted, in order
	Reached bool
	// SMKCheck is the rebuilt storage master key's check value.
	SMKCheck string
}

// checkValue reports whether s reads as a storage master key's check
// value: six upper-case hex digits.
func checkValue(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// cites reports whether the entry cites an artefact with the SHA-256.
func (a *applying) cites(sha string) bool {
	return slices.ContainsFunc(a.e.Artefacts, func(x event.Artefact) bool { return x.SHA256 == sha })
}

func applyBackedUp(a *applying, ev event.BackedUp) error {
	if err := a.inAction(ev.Step, ActionBackup); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	switch {
	case !s.HSM:
		return errors.New("the keys are backed up before the HSM is logged in")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("the keys are backed up before the typed confirmation")
	case s.ActionDone():
		return fmt.Errorf("step %s already backed the keys up", cur.ID)
	case ev.Threshold != BackupThreshold(cur):
		return fmt.Errorf("deals %d of the recovery holders' cards, but the step says %d", ev.Threshold, BackupThreshold(cur))
	case len(ev.Holders) < ev.Threshold:
		return fmt.Errorf("%d recovery holders for a threshold of %d", len(ev.Holders), ev.Threshold)
	case !event.IsSHA256Hex(ev.BackupSHA256) || !a.cites(ev.BackupSHA256):
		return errors.New("does not cite the backup file it names")
	case !event.IsSHA256Hex(ev.RosterSHA256) || !a.cites(ev.RosterSHA256):
		return errors.New("does not cite the recovery holders' roster it names")
	case len(ev.Keys) == 0:
		return errors.New("backs up no key")
	case !checkValue(ev.SMKCheck):
		return fmt.Errorf("check value %q is not six hex digits", ev.SMKCheck)
	}
	for _, k := range ev.Keys {
		if !validKeyLabel().MatchString(k.Label) || !event.IsSHA256Hex(k.DSSHA256) {
			return fmt.Errorf("backs up a key %q with DS %q: not a key's label and a SHA-256 DS", k.Label, k.DSSHA256)
		}
	}
	for _, l := range ev.Kept {
		if !validKeyLabel().MatchString(l) {
			return fmt.Errorf("keeps out a key %q: not a key's label", l)
		}
	}
	seen := map[string]bool{}
	for _, h := range ev.Holders {
		if seen[h] {
			return fmt.Errorf("recovery card %s is dealt twice", h)
		}
		seen[h] = true
		if s.officerCard(h) {
			return fmt.Errorf("recovery card %s is a crypto officer's card: the recovery holders are a quorum of their own", h)
		}
	}
	for _, k := range s.Keys {
		if !slices.ContainsFunc(ev.Keys, func(b event.BackedUpKey) bool {
			return b.Label == k.Label && b.KeyTag == k.KeyTag && b.DSSHA256 == k.DS
		}) {
			return fmt.Errorf("KSK %s, generated at step %s, is not in the backup", k.Label, k.Step)
		}
	}
	a.n.Backup, a.n.BackedUp = ev.BackupSHA256, &ev
	return nil
}

func applyRecoveryCard(a *applying, ev event.RecoveryCard) error {
	if err := a.inRecovery(ev.Step); err != nil {
		return err
	}
	if slices.Contains(a.s.Recovery.Cards, ev.Card) {
		return fmt.Errorf("recovery card %s is already in", ev.Card)
	}
	if a.s.officerCard(ev.Card) {
		return fmt.Errorf("card %s is a crypto officer's, not a recovery holder's", ev.Card)
	}
	a.n.Recovery.Cards = append(slices.Clone(a.s.Recovery.Cards), ev.Card)
	return nil
}

func applyRecoveryRefused(a *applying, ev event.RecoveryRefused) error {
	if err := a.inRecovery(ev.Step); err != nil {
		return err
	}
	if ev.Reason == "" {
		return errors.New("a refused card needs the reason")
	}
	if ev.Reset {
		// The cards in so far rebuilt a key that is not the backup's:
		// they are dropped, and the holders start again.
		if len(a.s.Recovery.Cards) == 0 {
			return errors.New("drops the recovery cards, but none is in")
		}
		a.n.Recovery = Recovery{}
	}
	return nil
}

func applyRecoveryReached(a *applying, ev event.RecoveryReached) error {
	if err := a.inRecovery(ev.Step); err != nil {
		return err
	}
	r := a.s.Recovery
	switch {
	case !slices.Equal(ev.Cards, r.Cards):
		return fmt.Errorf("names the cards %v, but %v were accepted", ev.Cards, r.Cards)
	case ev.Threshold < 2 || len(ev.Cards) < ev.Threshold:
		return fmt.Errorf("%d cards for a threshold of %d", len(ev.Cards), ev.Threshold)
	case !checkValue(ev.SMKCheck):
		return errors.New("names no check value of the storage master key")
	}
	a.n.Recovery = Recovery{Cards: r.Cards, Reached: true, SMKCheck: ev.SMKCheck}
	return nil
}

// inRecovery: recovery cards come in the recovery.collect step, or again in
// the key.restore step after a stop lost the rebuilt key before every key
// was restored.
func (a *applying) inRecovery(step string) error {
	if err := a.onCurrent(step); err != nil {
		return err
	}
	if a.s.Recovery.Reached {
		return errors.New("the recovery quorum is reached already")
	}
	if a.cur.Action == ActionRecovery || (a.cur.Action == ActionRestore && !a.s.ActionDone()) {
		return nil
	}
	return fmt.Errorf("step %s does not collect recovery cards", a.cur.ID)
}

func applyRestored(a *applying, ev event.Restored) error {
	if err := a.inAction(ev.Step, ActionRestore); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	switch {
	case !s.HSM:
		return errors.New("a key is restored before the HSM is logged in")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("a key is restored before the typed confirmation")
	case !s.Recovery.Reached:
		return errors.New("a key is restored before the recovery holders rebuilt the storage master key")
	case s.Backup == "" || ev.BackupSHA256 != s.Backup:
		return fmt.Errorf("restores from backup %.16s…, but the backup on record is %.16s…", ev.BackupSHA256, s.Backup)
	case s.ActionDone():
		return fmt.Errorf("step %s already restored every key of the backup", cur.ID)
	case ev.Of < 1 || (len(s.Restored) > 0 && ev.Of != s.Restored[0].Of):
		return fmt.Errorf("says the backup holds %d keys", ev.Of)
	case ev.Sensitive != nil && !*ev.Sensitive, ev.Extractable != nil && *ev.Extractable:
		return fmt.Errorf("KSK %s was restored readable outside the HSM", ev.Label)
	case !validKeyLabel().MatchString(ev.Label) || !event.IsSHA256Hex(ev.DSSHA256):
		return fmt.Errorf("restores a key %q with DS %q: not a key's label and a SHA-256 DS", ev.Label, ev.DSSHA256)
	}
	if slices.ContainsFunc(s.Restored, func(r event.Restored) bool { return r.Label == ev.Label }) {
		return fmt.Errorf("KSK %s is restored twice", ev.Label)
	}
	a.n.Restored = append(slices.Clone(s.Restored), ev)
	return nil
}

// dropRecovery forgets a recovery quorum, or the cards of one partly in,
// whose shares or storage master key a stop lost before every key was
// restored: the holders present their cards again, and the keys not yet
// restored follow.
func dropRecovery(s State, n *State) {
	if len(s.Recovery.Cards) > 0 && (len(s.Restored) == 0 || len(s.Restored) < s.Restored[0].Of) {
		n.Recovery = Recovery{}
	}
}

// officerCard reports whether a card id is a crypto officer's: on the
// script's roster, or dealt to a new officer in this ceremony.
func (s State) officerCard(id string) bool {
	if _, ok := s.Script.Quorum.Card(id); ok {
		return true
	}
	return s.Reshared != nil && slices.Contains(s.Reshared.Cards, id)
}
