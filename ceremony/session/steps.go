// The people's part of a step: done, confirmed by its witnesses, typed,
// skipped, excepted; the sign-in; the abort.

package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
)

// done records the current step as done, and closes the ceremony after the
// last step.
func (s *Session) done(ctx context.Context, cur ceremony.Step) error {
	if err := s.append(ctx, event.StepDone{Step: cur.ID, Role: cur.Role, Witnesses: cur.Witnesses}); err != nil {
		return err
	}
	return s.closeCeremony(ctx)
}

// NextWitnessRole is the witness who confirms the current step next, or "".
func (s *Session) NextWitnessRole() string { return s.view().NextWitnessRole() }

// WitnessStep is a witness's own key: the step's next witness confirms it;
// after the last one the step is done (a step's witnesses confirm it in the
// script's order).
func (s *Session) WitnessStep(ctx context.Context) error {
	cur, _ := s.state.Current()
	if s.Next() != NextWitness {
		return fmt.Errorf("step %s waits for no witness now", cur.ID)
	}
	w := s.NextWitnessRole()
	if _, ok := s.state.Participants[w]; s.state.Participants != nil && !ok {
		return fmt.Errorf("step %s needs %s, who did not sign in: skip it, or abort", cur.ID, w)
	}
	if err := s.append(ctx, event.StepWitnessed{Step: cur.ID, Witness: w}); err != nil {
		return err
	}
	if s.Next() == NextConfirm {
		return s.done(ctx, cur)
	}
	return nil
}

// SignIn records who is present, by role (a role left out is absent). The
// sign-in step's acting role must be there; steps whose acting or
// witnessing role is absent cannot be done, only skipped or aborted.
func (s *Session) SignIn(ctx context.Context, names map[string]string) error {
	cur, _ := s.state.Current()
	if s.Next() != NextSignIn {
		return fmt.Errorf("step %s signs nobody in", cur.ID)
	}
	present := map[string]string{}
	for role, name := range names {
		if name = strings.TrimSpace(name); name != "" {
			present[role] = name
		}
	}
	if _, ok := present[cur.Role]; !ok {
		return fmt.Errorf("the %s, who leads the sign-in, must sign in", cur.Role)
	}
	var absent []string
	for _, r := range s.cfg.Script.Roles {
		if _, ok := present[r.ID]; !ok {
			absent = append(absent, r.ID)
		}
	}
	return s.append(ctx, event.SignedIn{Step: cur.ID, Participants: present, Absent: absent})
}

// SkipWitness is the role that confirms skipping the current step.
func (s *Session) SkipWitness() string { return s.view().SkipWitness() }

// Skip passes over the current step, which has no action, with the reason
// and the confirmation of SkipWitness (the caller asks for it).
func (s *Session) Skip(ctx context.Context, reason string) error {
	cur, ok := s.state.Current()
	switch {
	case !ok:
		return errors.New("every step is done")
	case cur.Action != "":
		return fmt.Errorf("step %s has an action (%s) and cannot be skipped: record an exception, or abort the ceremony", cur.ID, cur.Action)
	case strings.TrimSpace(reason) == "":
		return errors.New("give the reason for skipping")
	case s.SkipWitness() == "":
		return fmt.Errorf("step %s has no witness to confirm a skip", cur.ID)
	}
	return s.append(ctx, event.StepSkipped{Step: cur.ID, Reason: strings.TrimSpace(reason), Witness: s.SkipWitness()})
}

// Abort ends the ceremony's work: every step up to the acts that always run
// (securing the equipment, closing) is left out, with the reason. Secrets
// held for later steps are wiped.
func (s *Session) Abort(ctx context.Context, reason string) error {
	cur, ok := s.state.Current()
	switch {
	case !ok:
		return errors.New("every step is done")
	case s.state.Aborted != nil:
		return errors.New("the ceremony is already aborted")
	case s.cfg.Script.Acts[cur.Act].Always:
		return fmt.Errorf("step %s is in an act that always runs (%s): there is nothing to abort; record an exception", cur.ID, s.cfg.Script.Acts[cur.Act].Title)
	case strings.TrimSpace(reason) == "":
		return errors.New("give the reason for aborting")
	}
	if s.cfg.Token != nil && s.cfg.Token.LoggedIn() {
		if err := s.cfg.Token.Logout(ctx); err != nil {
			return fmt.Errorf("log out of token %q before aborting: %w; try again", s.cfg.Token.Label(), err)
		}
	}
	if err := s.append(ctx, event.Aborted{Step: cur.ID, Reason: strings.TrimSpace(reason)}); err != nil {
		return err
	}
	s.forgetAtAbort()
	return nil
}

// forgetAtAbort forgets, once a ceremony is aborted, every secret and
// share it held: the PIN, the recovered secret, the storage master key,
// the cards collected and the officers' cosigning keys.
func (s *Session) forgetAtAbort() {
	s.wipePIN()
	s.wipeSecret()
	s.wipeRecovery()
	if s.collector != nil {
		s.collector.Wipe()
		s.collector = nil
	}
	s.dropCosigners()
}

// Exception records a deviation on the current step; the step stays open.
func (s *Session) Exception(ctx context.Context, text string) error {
	cur, ok := s.state.Current()
	if !ok {
		return errors.New("every step is done")
	}
	return s.append(ctx, event.Exception{Step: cur.ID, Text: text})
}

// Type is the operator's typed confirmation of an irreversible action. A
// mistyped confirmation is refused and nothing is logged.
func (s *Session) Type(ctx context.Context, typed string) error {
	cur, ok := s.state.Current()
	if !ok || cur.Confirm == "" {
		return errors.New("nothing to confirm by typing here")
	}
	if typed != cur.Confirm {
		return fmt.Errorf("typed %q; type %s exactly to go on", typed, cur.Confirm)
	}
	return s.append(ctx, event.StepConfirmed{Step: cur.ID, Typed: typed})
}

// RepeatWitness is the role that confirms repeating the step just done.
func (s *Session) RepeatWitness() string { return s.view().RepeatWitness() }

// Repeat does the step just done again (one without an action), with the
// reason and the confirmation of RepeatWitness (the caller asks for it).
func (s *Session) Repeat(ctx context.Context, reason string) error {
	cur, ok := s.state.Current()
	switch {
	case !ok:
		return errors.New("every step is done")
	case s.state.Next == 0:
		return errors.New("no step was done yet to repeat")
	case strings.TrimSpace(reason) == "":
		return errors.New("give the reason for repeating")
	case s.RepeatWitness() == "":
		return errors.New("the step just done has no witness to confirm a repeat")
	}
	prev := s.cfg.Script.Steps()[s.state.Next-1]
	if prev.Action != "" {
		return fmt.Errorf("step %s has an action (%s) and cannot be repeated: record an exception", prev.ID, prev.Action)
	}
	return s.append(ctx, event.StepRepeated{Step: cur.ID, Repeat: prev.ID, Reason: strings.TrimSpace(reason), Witness: s.RepeatWitness()})
}

// Choose records which of the script's contingencies apply (none is a
// choice); the steps tied to them run or are passed over accordingly.
func (s *Session) Choose(ctx context.Context, ids []string) error {
	cur, _ := s.state.Current()
	if s.Next() != NextChoose {
		return fmt.Errorf("step %s chooses no contingencies", cur.ID)
	}
	chosen := []string{}
	for _, id := range ids {
		known := false
		for _, c := range s.cfg.Script.Contingencies {
			known = known || c.ID == id
		}
		if !known {
			return fmt.Errorf("%q is not one of this script's contingencies", id)
		}
		chosen = append(chosen, id)
	}
	return s.append(ctx, event.ContingencyChosen{Step: cur.ID, Chosen: chosen})
}
