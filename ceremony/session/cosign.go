// The officers cosign the log: right after the quorum (each officer whose
// card was accepted cosigns the checkpoint that records it), and at the close
// (the officers present cosign the final checkpoint; one who has gone is
// recorded as absent).

package session

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyceremony/keyceremony/ceremony"
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
// in that order, and the officers with no key held.
func (s *Session) signersFor(ids []string) ([]note.Signer, []string, []string) {
	var signers []note.Signer
	var who, missing []string
	for _, id := range ids {
		c := s.held[id]
		info, _ := s.cfg.Script.Quorum.Card(id)
		if c == nil || info.Key == "" {
			missing = append(missing, id)
			continue
		}
		sg, err := transparency.NewCosigner(info.Key, c, s.cfg.Log.Now)
		if err != nil {
			missing = append(missing, id)
			continue
		}
		signers, who = append(signers, sg), append(who, id)
	}
	return signers, who, missing
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
	signers, who, _ := s.signersFor(st.Accepted)
	if len(signers) == 0 {
		return nil
	}
	done, failed, err := s.cosign(ctx, st.QuorumSize, signers, who)
	if err != nil {
		return err
	}
	cur, _ := st.Current()
	if len(done) > 0 {
		if err := s.append(ctx, ceremony.KindCosigned, map[string]any{"step": cur.ID, "size": st.QuorumSize, "point": "quorum", "cosigners": done}); err != nil {
			return err
		}
	}
	for _, f := range failed {
		if err := s.append(ctx, ceremony.KindException, map[string]any{"step": cur.ID,
			"text": "an officer's card could not cosign the quorum's checkpoint: " + f}); err != nil {
			return err
		}
	}
	return nil
}

// CosignExpected returns the officers expected to cosign the final
// checkpoint, once every step is done.
func (s *Session) CosignExpected() []string { return s.state.CosignExpected() }

// CosignReady returns the officers whose card is in for the final
// cosignature, and those recorded as absent.
func (s *Session) CosignReady() (ready, absent []string) {
	for _, id := range s.state.CosignExpected() {
		switch {
		case s.held[id] != nil:
			ready = append(ready, id)
		case s.absent[id]:
			absent = append(absent, id)
		}
	}
	return ready, absent
}

// FinalCosigners returns who cosigned the final checkpoint in this session,
// and what failed.
func (s *Session) FinalCosigners() (done, failed []string) { return s.finalDone, s.finalFailed }

// closing reports whether every step is done and the officers' final
// cosignature is what is left before the close.
func (s *Session) closing() bool {
	_, more := s.state.Current()
	return !more && !s.state.Closed && len(s.state.CosignExpected()) > 0
}

// closeCeremony closes the ceremony after its last step: at once when no
// officer is to cosign, or else once each expected officer has presented
// their card or been recorded absent (PresentCosigner, MarkAbsent).
func (s *Session) closeCeremony(ctx context.Context) error {
	if _, more := s.state.Current(); more || s.state.Closed {
		return nil
	}
	if s.closing() {
		return nil // the officers come to cosign first
	}
	return s.append(ctx, ceremony.KindClose, map[string]any{"exceptions": len(s.state.Exceptions), "resumes": s.state.Resumes})
}

// PresentCosigner reads an expected officer's card for the final
// cosignature (the holder's PIN or passphrase comes with ctx, as for the
// quorum) and checks its key against the roster. Once every expected officer
// is in or absent, the ceremony closes and the final checkpoint is cosigned.
func (s *Session) PresentCosigner(ctx context.Context, id string) error {
	if !s.closing() {
		return errors.New("the officers cosign once every step is done")
	}
	if !slices.Contains(s.state.CosignExpected(), id) {
		return fmt.Errorf("card %s: not one of this ceremony's officers (%v)", id, s.state.CosignExpected())
	}
	if s.absent[id] {
		return fmt.Errorf("card %s: its holder is recorded as absent", id)
	}
	if s.cfg.Cards == nil {
		return errors.New("no card reader")
	}
	card, err := s.cfg.Cards.Read(ctx, id)
	if err != nil {
		return fmt.Errorf("read card %s: %w; present it again", id, err)
	}
	quorum.Wipe(card.Value) // the share is not needed to cosign
	if err := s.cfg.Script.Quorum.CheckCosigner(card); err != nil {
		quorum.CloseCard(&card)
		return err
	}
	s.holdCosigner(id, card.Cosigner)
	return s.finishClose(ctx)
}

// MarkAbsent records that an expected officer has gone and will not cosign
// the final checkpoint; the close names them.
func (s *Session) MarkAbsent(ctx context.Context, id string) error {
	if !s.closing() {
		return errors.New("officers are recorded absent only at the final cosignature")
	}
	if !slices.Contains(s.state.CosignExpected(), id) {
		return fmt.Errorf("%s is not one of this ceremony's officers (%v)", id, s.state.CosignExpected())
	}
	if c := s.held[id]; c != nil {
		c.Close()
		delete(s.held, id)
	}
	if s.absent == nil {
		s.absent = map[string]bool{}
	}
	s.absent[id] = true
	return s.finishClose(ctx)
}

// finishClose closes the ceremony once every expected officer is in or
// absent: the close names both; then the officers present cosign the final
// checkpoint, which the log publishes with their cosignatures when it is
// closed.
func (s *Session) finishClose(ctx context.Context) error {
	expected := s.state.CosignExpected()
	var present, absent []string
	for _, id := range expected {
		switch {
		case s.held[id] != nil:
			present = append(present, id)
		case s.absent[id]:
			absent = append(absent, id)
		default:
			return nil // still waiting for this one
		}
	}
	defer s.dropCosigners()
	if present == nil {
		present = []string{}
	}
	if absent == nil {
		absent = []string{}
	}
	if err := s.append(ctx, ceremony.KindClose, map[string]any{"exceptions": len(s.state.Exceptions), "resumes": s.state.Resumes,
		"cosigners": present, "absent": absent}); err != nil {
		return err
	}
	signers, who, missing := s.signersFor(present)
	var err error
	s.finalDone, s.finalFailed, err = s.cosign(ctx, s.state.FinalSize, signers, who)
	if err != nil {
		return fmt.Errorf("the ceremony is closed, but its final checkpoint could not be cosigned: %w", err)
	}
	for _, id := range missing {
		s.finalFailed = append(s.finalFailed, id+": no cosigning key")
	}
	if len(s.finalFailed) > 0 {
		return fmt.Errorf("the ceremony is closed, but not every officer present cosigned the final checkpoint %d: %v", s.state.FinalSize, s.finalFailed)
	}
	return nil
}
