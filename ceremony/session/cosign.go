// The officers cosign the log: right after the quorum (each officer whose
// card was accepted cosigns the checkpoint that records it), and at the close
// (the officers present cosign the final checkpoint; one who has gone is
// recorded as absent).

package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
	"golang.org/x/mod/sumdb/note"
)

// holdCosigner keeps an accepted card's cosigning key until the quorum's
// checkpoint is cosigned.
func (s *Session) holdCosigner(id string, c quorum.Cosigner) {
	if c == nil {
		return
	}
	if s.held == nil {
		s.held = map[string]quorum.Cosigner{}
	}
	if old := s.held[id]; old != nil {
		old.Close()
	}
	s.held[id] = c
}

// dropCosigners closes every cosigning key held.
func (s *Session) dropCosigners() {
	for id, c := range s.held {
		c.Close()
		delete(s.held, id)
	}
}

// signersFor returns note signers for the held keys of the given officers,
// in that order, and whose they are (an officer with no key held is left
// out).
func (s *Session) signersFor(ids []string) ([]note.Signer, []string) {
	var signers []note.Signer
	var who []string
	for _, id := range ids {
		c := s.held[id]
		info, _ := s.cfg.Script.Quorum.Card(id)
		if c == nil || info.Key == "" {
			continue
		}
		sg, err := transparency.NewCosigner(info.Key, c, s.cfg.Log.Now)
		if err != nil {
			continue
		}
		signers, who = append(signers, sg), append(who, id)
	}
	return signers, who
}

// cosign has each signer cosign the checkpoint of the given size, one at a
// time so that one card's failure does not stop the others, and returns who
// did and what failed.
// The log failing (no checkpoint, a full disk) is an error: the ceremony
// stops there as for any entry the log cannot take.
func (s *Session) cosign(ctx context.Context, size uint64, signers []note.Signer, who []string) ([]string, []string, error) {
	var done, failed []string
	if _, err := s.cfg.Log.AwaitCheckpoint(ctx, size-1); err != nil {
		return nil, nil, fmt.Errorf("cosign checkpoint %d: %w", size, err)
	}
	for i, sg := range signers {
		if _, err := s.cfg.Log.Cosign(size, []note.Signer{sg}); errors.Is(err, transparency.ErrCosignerFailed) {
			failed = append(failed, fmt.Sprintf("%s: %v", who[i], err))
			continue
		} else if err != nil {
			return done, failed, err
		}
		done = append(done, who[i])
	}
	return done, failed, nil
}

// cosignQuorum: each officer whose card was accepted cosigns the checkpoint
// that records the quorum, with the key held since the card was read; the
// entry that follows records who did. A card that could not sign is an
// exception at the step, by name.
func (s *Session) cosignQuorum(ctx context.Context) error {
	defer s.dropCosigners()
	st := s.state
	if !st.Quorum || st.QuorumCosigned || !s.cfg.Script.Quorum.HasCosignKeys() {
		return nil
	}
	signers, who := s.signersFor(st.Accepted)
	if len(signers) == 0 {
		return nil
	}
	done, failed, err := s.cosign(ctx, st.QuorumSize, signers, who)
	if err != nil {
		return err
	}
	cur, _ := st.Current()
	if len(done) > 0 {
		if err := s.append(ctx, event.Cosigned{Step: cur.ID, Size: st.QuorumSize, Point: "quorum", Cosigners: done}); err != nil {
			return err
		}
	}
	for _, f := range failed {
		if err := s.append(ctx, event.Exception{Step: cur.ID,
			Text: "an officer's card could not cosign the quorum's checkpoint: " + f}); err != nil {
			return err
		}
	}
	return nil
}

// CosignExpected returns the officers expected to cosign the final
// checkpoint, once every step is done.
func (s *Session) CosignExpected() []string { return s.state.CosignExpected() }

// FinalFailures says why officers' cards could not cosign the final
// checkpoint in this session, by officer.
func (s *Session) FinalFailures() map[string]string { return s.final.Failed }

// rollCall reports whether every step is done and the close, with its roll
// call of the officers present, is what is left.
func (s *Session) rollCall() bool {
	_, more := s.state.Current()
	return !more && !s.state.Closed && len(s.state.CosignExpected()) > 0
}

// closeCeremony closes the ceremony after its last step: at once when no
// officer is to cosign; otherwise the roll call comes first (MarkAbsent,
// then CloseForCosign).
func (s *Session) closeCeremony(ctx context.Context) error {
	if _, more := s.state.Current(); more || s.state.Closed || s.rollCall() {
		return nil
	}
	return s.append(ctx, event.Close{Exceptions: len(s.state.Exceptions), Resumes: s.state.Resumes})
}

// MarkAbsent, at the roll call before the close, records that an officer of
// the ceremony has gone: the close names them absent. After the close it
// records that a present officer will not cosign after all (their card
// fails, or they had to leave); nothing more can be logged then, and verify
// reports them as present but not cosigned.
func (s *Session) MarkAbsent(_ context.Context, id string) error {
	st := s.state
	switch {
	case st.Closed && slices.Contains(st.Present, id) && !slices.Contains(s.final.Cosigned, id):
		if !slices.Contains(s.final.Declined, id) {
			s.final.Declined = append(s.final.Declined, id)
		}
		return nil
	case st.Closed:
		return fmt.Errorf("%s is not an officer still to cosign the final checkpoint", id)
	case !s.rollCall():
		return errors.New("officers are recorded absent at the close, once every step is done")
	case !slices.Contains(st.CosignExpected(), id):
		return fmt.Errorf("%s is not one of this ceremony's officers (%v)", id, st.CosignExpected())
	}
	if s.absent == nil {
		s.absent = map[string]bool{}
	}
	s.absent[id] = !s.absent[id] // marked again: here after all
	return nil
}

// CloseForCosign closes the ceremony after the roll call: the close names
// the officers present, who then cosign the final checkpoint one by one
// (PresentCosigner), and those absent.
func (s *Session) CloseForCosign(ctx context.Context) error {
	if !s.rollCall() {
		return errors.New("the ceremony closes once every step is done")
	}
	present, absent := []string{}, []string{}
	for _, id := range s.state.CosignExpected() {
		if s.absent[id] {
			absent = append(absent, id)
		} else {
			present = append(present, id)
		}
	}
	return s.append(ctx, event.Close{Exceptions: len(s.state.Exceptions), Resumes: s.state.Resumes,
		Cosigners: present, Absent: absent})
}

// PresentCosigner reads a present officer's card once the ceremony is
// closed (the holder's PIN or passphrase comes with ctx, as for the quorum),
// checks its key against the roster, and has it cosign the final checkpoint
// there and then: one card at a time, so one reader is enough.
func (s *Session) PresentCosigner(ctx context.Context, id string) error {
	st := s.state
	switch {
	case !st.Closed:
		return errors.New("the officers cosign the final checkpoint once the close is logged")
	case !slices.Contains(st.Present, id):
		return fmt.Errorf("card %s: not an officer the close names present (%v)", id, st.Present)
	case slices.Contains(s.final.Cosigned, id):
		return fmt.Errorf("card %s has cosigned the final checkpoint already", id)
	case s.cfg.Cards == nil:
		return errors.New("no card reader")
	}
	card, err := s.cfg.Cards.Read(ctx, id)
	if err != nil {
		return fmt.Errorf("read card %s: %w; present it again", id, err)
	}
	defer quorum.CloseCard(&card) // the share is not needed to cosign
	if err := s.cfg.Script.Quorum.CheckCosigner(card); err != nil {
		return err
	}
	info, _ := s.cfg.Script.Quorum.Card(id)
	sg, err := transparency.NewCosigner(info.Key, card.Cosigner, s.cfg.Log.Now)
	if err != nil {
		return err
	}
	_, failed, err := s.cosign(ctx, st.FinalSize, []note.Signer{sg}, []string{id})
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		if s.final.Failed == nil {
			s.final.Failed = map[string]string{}
		}
		s.final.Failed[id] = failed[0]
		return errors.New(failed[0])
	}
	delete(s.final.Failed, id)
	s.final.Cosigned = append(s.final.Cosigned, id)
	return nil
}

// readFinalCosigned reads who has cosigned a closed ceremony's final
// checkpoint, from checkpoints/<size>, for a console started again before
// every officer present had.
func (s *Session) readFinalCosigned() {
	st := s.state
	if !st.Closed || len(st.Present) == 0 {
		return
	}
	data, err := os.ReadFile(filepath.Join(s.cfg.Log.Dir(), "checkpoints", strconv.FormatUint(st.FinalSize, 10)))
	if err != nil {
		return
	}
	s.final.Cosigned = audit.ReadCosignatures(s.cfg.Script.Quorum, data, st.FinalSize, nil).Valid
}
