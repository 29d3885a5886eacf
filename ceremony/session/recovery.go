// Disaster recovery: the KSK backup at key generation, under a storage
// master key dealt to the recovery key share holders' cards, and its
// restoration onto another HSM under their quorum.

package session

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/miekg/dns"
)

// BackupName is the name a KSK backup has among a log's artefacts.
const BackupName = "ksk-backup.json"

type (
	// Backup wraps the token's keys under a new storage master key dealt
	// to the recovery holders' cards, sealed with their passphrases.
	Backup struct{ Passphrases map[string]string }
	// PresentRecoveryCard reads a recovery holder's card, with the secret
	// its holder typed.
	PresentRecoveryCard struct{ ID, Secret string }
)

func (Backup) Busy() string { return "backing the keys up" }
func (o Backup) run(ctx context.Context, s *Session) (string, error) {
	return "", s.Backup(ctx, o.Passphrases)
}

func (PresentRecoveryCard) Busy() string { return "reading the recovery card" }
func (o PresentRecoveryCard) run(ctx context.Context, s *Session) (string, error) {
	return "", s.PresentRecoveryCard(withSecret(ctx, o.Secret), o.ID)
}

// readBackup reads the backup on record from the log's artefacts, and the
// recovery holders' roster it holds.
func (s *Session) readBackup() error {
	if s.state.Backup == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(s.cfg.Log.Dir(), "artefacts", "sha256", s.state.Backup))
	if err != nil {
		return fmt.Errorf("the KSK backup on record is not in the log's artefacts: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, backup.MaxSize+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("the KSK backup on record: %w", err)
	}
	b, err := backup.Parse(data)
	if err != nil {
		return fmt.Errorf("the KSK backup on record: %w", err)
	}
	r, err := quorum.ParseRosterFile([]byte(b.Roster))
	if err == nil && r.Witnessed() {
		err = errors.New("a witnessed roster holds no shares")
	}
	if err != nil {
		return fmt.Errorf("the KSK backup on record: its recovery holders' roster: %w", err)
	}
	s.backup = b
	s.setRecoveryRoster(r)
	return nil
}

// dnskey is a KSK's DNSKEY record in the script's zone, with the profile's
// TTL.
func (s *Session) dnskey(pub crypto.PublicKey) (*dns.DNSKEY, error) {
	ttl := uint32(172800)
	if s.cfg.Profile != nil {
		ttl = s.cfg.Profile.TTL
	}
	return dnssec.NewDNSKEY(s.cfg.Script.Zone, pub, dnssec.FlagZone|dnssec.FlagSEP, ttl)
}

// keyRecord is a public key's DNSKEY key tag and SHA-256 DS digest.
func (s *Session) keyRecord(pub crypto.PublicKey) (int, string, error) {
	dk, err := s.dnskey(pub)
	if err != nil {
		return 0, "", err
	}
	tag, _ := dnssec.KeyTags(dk)
	return int(tag), strings.ToLower(dnssec.DS(dk).Digest), nil
}

// Backup wraps every key of the token under a new storage master key, deals
// the key to the recovery holders' new cards (threshold of the step), writes
// their card files and roster, and logs the backup with both as artefacts.
// The storage master key is wiped before it returns.
func (s *Session) Backup(ctx context.Context, passphrases map[string]string) error {
	cur, _ := s.state.Current()
	rc := s.cfg.RecoveryDeal
	if s.Next() != NextBackup {
		return fmt.Errorf("step %s backs nothing up now", cur.ID)
	}
	w, ok := s.cfg.Token.(hsm.Wrapper)
	lister, lok := s.cfg.Token.(hsm.Lister)
	if !ok || !lok {
		return fmt.Errorf("token %q cannot wrap its keys for a backup", s.cfg.Token.Label())
	}
	if len(rc.Holders) == 0 || rc.RosterPath == "" || rc.CardsDir == "" {
		return errors.New("no recovery holders, roster path or card folder: give them to the ceremony (run --recovery-holders, --recovery-roster, --recovery-cards)")
	}
	for _, h := range rc.Holders {
		if len(passphrases[h.ID]) < 8 {
			return fmt.Errorf("recovery card %s (%s): a passphrase of at least 8 characters", h.ID, h.Holder)
		}
	}
	if _, err := os.Stat(rc.RosterPath); err == nil {
		return fmt.Errorf("%s exists; a roster is never overwritten: move it and back up again", rc.RosterPath)
	}
	labels, err := lister.KeyLabels(ctx)
	if err != nil {
		return err
	}
	if len(labels) == 0 {
		return fmt.Errorf("token %q holds no key to back up", s.cfg.Token.Label())
	}
	roster, cards, secret, err := quorum.DealSecret(rand.Reader, ceremony.BackupThreshold(cur), rc.Holders)
	if err != nil {
		return err
	}
	defer wipeCards(cards)
	smk, err := quorum.DeriveSMK(secret)
	quorum.Wipe(secret)
	if err != nil {
		return err
	}
	defer quorum.Wipe(smk)
	check, err := backup.CheckValue(smk)
	if err != nil {
		return err
	}
	rb, err := quorum.MarshalRosterFile(roster)
	if err != nil {
		return err
	}
	b := backup.File{Format: backup.Format, Mechanism: backup.Mechanism, SMKCheck: check, Token: s.cfg.Token.Label(), Roster: string(rb)}
	ev := event.BackedUp{Step: cur.ID, Token: s.cfg.Token.Label(), SMKCheck: check, Threshold: roster.Threshold}
	attrs, hasAttrs := s.cfg.Token.(hsm.Attributer)
	for _, label := range labels {
		if hasAttrs {
			if _, extractable, _, err := attrs.PrivateAttributes(label); err == nil && !extractable {
				// A key made never to leave the token stays out of the
				// backup, and the log says so; a KSK generated here must
				// be in it.
				if slices.ContainsFunc(s.state.Keys, func(k ceremony.GeneratedKey) bool { return k.Label == label }) {
					return fmt.Errorf("KSK %s, generated in this ceremony, is not extractable: the profile's token must be backup_capable: true for a key.backup step; nothing was logged", label)
				}
				ev.Kept = append(ev.Kept, label)
				continue
			}
		}
		k, err := s.cfg.Token.Key(ctx, label)
		if err != nil {
			return err
		}
		wrapped, err := w.WrapKSK(ctx, label, smk)
		if err != nil {
			return fmt.Errorf("%w; nothing was logged: back up again once it is mended", err)
		}
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			return err
		}
		tag, ds, err := s.keyRecord(k.Public())
		if err != nil {
			return err
		}
		b.Keys = append(b.Keys, backup.Key{Label: label, Public: der, Wrapped: wrapped})
		ev.Keys = append(ev.Keys, event.BackedUpKey{Label: label, KeyTag: tag, DSSHA256: ds})
	}
	if len(b.Keys) == 0 {
		return fmt.Errorf("token %q holds no key that can be backed up (none is extractable): generate backup-capable keys (the profile's backup_capable: true)", s.cfg.Token.Label())
	}
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	// Until the backup is logged, the new cards and roster are removed on
	// any failure: shares of a key that wrapped the KSKs are not left
	// behind unlogged.
	written, err := quorum.WriteCardFiles(rc.CardsDir, cards, passphrases, rc.WorkFactor)
	logged := false
	defer func() {
		if !logged {
			for _, p := range written {
				os.Remove(p)
			}
			if written != nil {
				os.Remove(rc.RosterPath)
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("%w; nothing was logged, and the new card files are removed: back up again", err)
	}
	if err := s.cfg.Disk.WriteFile(rc.RosterPath, rb, 0o644, durable.New); err != nil {
		return fmt.Errorf("write the recovery holders' roster: %w; nothing was logged, and the new card files are removed: back up again", err)
	}
	bref, err := s.cfg.Log.StoreArtefact(BackupName, data)
	if err != nil {
		return err
	}
	rref, err := s.cfg.Log.StoreArtefact(filepath.Base(rc.RosterPath), rb)
	if err != nil {
		return err
	}
	for _, c := range cards {
		ev.Holders = append(ev.Holders, c.ID)
	}
	ev.BackupSHA256, ev.RosterSHA256 = bref.SHA256, rref.SHA256
	if err := s.append(ctx, ev, bref, rref); err != nil {
		return err
	}
	logged = true
	s.backup = &b
	s.setRecoveryRoster(roster)
	return nil
}

// setRecoveryRoster changes the setup's recovery roster in a new Setup:
// snapshots handed out share the one they were made with, which never
// changes.
func (s *Session) setRecoveryRoster(r *quorum.Roster) {
	setup := *s.setup
	setup.RecoveryRoster = r
	s.setup = &setup
}

// PresentRecoveryCard reads a recovery holder's card and checks it against
// the backup's roster. At the threshold it rebuilds the storage master key,
// which must have the backup's check value, and holds it for key.restore.
func (s *Session) PresentRecoveryCard(ctx context.Context, id string) error {
	cur, _ := s.state.Current()
	if s.Next() != NextRecoveryCards {
		return fmt.Errorf("no recovery cards are collected at step %s", cur.ID)
	}
	if s.backup == nil {
		return errors.New("no KSK backup is on record: a recovery follows the ceremony that made one (--previous-log)")
	}
	if s.cfg.RecoveryCards == nil {
		return errors.New("no recovery cards to read: give their folder (run --recovery-cards DIR)")
	}
	roster := s.setup.RecoveryRoster
	refuse := func(reason string) error {
		if err := s.append(ctx, event.RecoveryRefused{Step: cur.ID, Card: id, Reason: reason}); err != nil {
			return err
		}
		return fmt.Errorf("recovery card %s refused: %s", id, reason)
	}
	if _, ok := roster.Card(id); !ok {
		return refuse("not a card of the backup's recovery roster")
	}
	card, err := s.cfg.RecoveryCards.Read(ctx, id)
	if err != nil {
		return fmt.Errorf("read recovery card %s: %w; present it again", id, err)
	}
	defer quorum.Wipe(card.Value)
	if s.recovery == nil {
		if s.recovery, err = quorum.NewCollector(roster); err != nil {
			return err
		}
	}
	if err := s.recovery.Present(card); err != nil {
		var re *quorum.RejectedError
		if errors.As(err, &re) {
			return refuse(re.Reason)
		}
		return err
	}
	info, _ := roster.Card(id)
	if err := s.append(ctx, event.RecoveryCard{Step: cur.ID, Card: id, Holder: info.Holder}); err != nil {
		s.recovery.Drop(id)
		return err
	}
	if !s.recovery.Reached() {
		return nil
	}
	secret, err := s.recovery.Recover()
	s.recovery = nil
	if err != nil {
		return err
	}
	smk, err := quorum.DeriveSMK(secret)
	quorum.Wipe(secret)
	if err != nil {
		return err
	}
	check, err := backup.CheckValue(smk)
	if err != nil || check != s.backup.SMKCheck {
		quorum.Wipe(smk)
		why := fmt.Sprintf("the storage master key they rebuild has check value %s, not the backup's %s", check, s.backup.SMKCheck)
		if err := s.append(ctx, event.RecoveryRefused{Step: cur.ID, Card: id, Reason: why, Reset: true}); err != nil {
			return err
		}
		return fmt.Errorf("%s: these cards do not open this backup; the holders start again", why)
	}
	if err := s.append(ctx, event.RecoveryReached{Step: cur.ID, Cards: slices.Clone(s.state.Recovery.Cards), Threshold: roster.Threshold, SMKCheck: check}); err != nil {
		quorum.Wipe(smk)
		return err
	}
	s.smk = smk
	return nil
}

// restore unwraps each key of the backup on record into the token, each
// checked against the profile's inventory by key tag and DS, and logs it;
// the storage master key is wiped once every key is in.
func (s *Session) restore(ctx context.Context, cur ceremony.Step) error {
	w, ok := s.cfg.Token.(hsm.Wrapper)
	if !ok {
		return fmt.Errorf("token %q cannot unwrap a backup", s.cfg.Token.Label())
	}
	if s.smk == nil {
		return errors.New("the storage master key is not here: the recovery holders present their cards again")
	}
	for _, k := range s.backup.Keys {
		if slices.ContainsFunc(s.state.Restored, func(r event.Restored) bool { return r.Label == k.Label }) {
			continue
		}
		pub, err := k.PublicKey()
		if err != nil {
			return err
		}
		tag, ds, err := s.keyRecord(pub)
		if err != nil {
			return err
		}
		if s.cfg.Profile != nil {
			for _, rec := range s.cfg.Profile.KSKs {
				if rec.Label == k.Label && (int(rec.KeyTag) != tag || !strings.EqualFold(rec.DSSHA256, ds)) {
					return fmt.Errorf("KSK %s in the backup has key tag %d and DS %.16s…, but the inventory says %d and %.16s…: not restored; record an exception", k.Label, tag, ds, rec.KeyTag, rec.DSSHA256)
				}
			}
		}
		if had, err := s.cfg.Token.Key(ctx, k.Label); err == nil && hsm.SamePublic(had.Public(), pub) {
			// Restored before its entry could be logged (the log's disk
			// failed): the key is there, and the entry is what is left.
		} else if _, err := w.UnwrapKSK(ctx, k.Label, s.smk, k.Wrapped, pub, false); err != nil {
			return fmt.Errorf("%w; nothing was logged for %s", err, k.Label)
		}
		ev := event.Restored{Step: cur.ID, Token: s.cfg.Token.Label(), Label: k.Label, KeyTag: tag, DSSHA256: ds, BackupSHA256: s.state.Backup, Of: len(s.backup.Keys)}
		if pa, ok := s.cfg.Token.(hsm.Attributer); ok {
			if sensitive, extractable, _, err := pa.PrivateAttributes(k.Label); err == nil {
				ev.Sensitive, ev.Extractable = &sensitive, &extractable
			}
		}
		if err := s.append(ctx, ev); err != nil {
			return err
		}
	}
	quorum.Wipe(s.smk)
	s.smk = nil
	return nil
}

// recoveryCard is a recovery holder's card presented by its number on the
// backup's roster, with the passphrase its holder types.
func (st Snapshot) recoveryCard() Interaction {
	q := st.Setup.RecoveryRoster
	i := Interaction{Key: KeyCard, Help: "present recovery card", Main: true, Inline: true}
	if q == nil {
		i.Prompt = "no KSK backup is on record"
		i.next = func([]string) Reply {
			return Reply{Problem: "no KSK backup is on record: a recovery follows the ceremony that made one"}
		}
		return i
	}
	first := Ask{Card: true, Prompt: "Recovery card", Choices: fmt.Sprintf("1-%d", len(q.Cards))}
	i.Prompt = first.Prompt
	i.next = func(a []string) Reply {
		if len(a) == 0 {
			return Reply{Ask: &first}
		}
		n := CardNumber(strings.TrimSpace(a[0]), len(q.Cards))
		if n == 0 {
			return Reply{Problem: fmt.Sprintf("%q is not a recovery card's number", strings.TrimSpace(a[0]))}
		}
		info := q.Cards[n-1]
		if len(a) == 1 {
			return Reply{Ask: holderSecret(fmt.Sprintf("passphrase of recovery card %s (%s)", info.ID, info.Holder), info.ID)}
		}
		return Reply{Op: PresentRecoveryCard{ID: info.ID, Secret: a[1]}}
	}
	return i
}

// recoveryPassphrases asks each recovery holder for their new card's
// passphrase, twice.
func (st Snapshot) recoveryPassphrases(a []string) Reply {
	return cardPassphrases(st.Setup.RecoveryHolders, a, recoveryPassAsk, func(p map[string]string) Op { return Backup{Passphrases: p} })
}

// recoveryPassAsk asks a recovery holder for their new card's passphrase.
func recoveryPassAsk(h quorum.CardInfo, again bool) *Ask {
	a := newPassAsk(h, again)
	what := fmt.Sprintf("passphrase for new recovery card %s (%s)", h.ID, h.Holder)
	if again {
		what += ", again"
	}
	a.Prompt, a.Label = what, "The recovery holder types the "+what+", then enter."
	a.Hint = "nothing typed is shown · esc to cancel the backup"
	return a
}
