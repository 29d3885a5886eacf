// The operations people ask of a session: what each interaction sends once
// its questions are answered, done by the session's owner (Driver).

package session

import (
	"context"

	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// Op is one operation on a session. Each says what it is doing while it
// runs, and does it on the session; the Driver runs them one at a time.
type Op interface {
	// Busy says what the operation is doing, while it runs.
	Busy() string
	// run does it, and says what was done when no entry says so.
	run(ctx context.Context, s *Session) (did string, err error)
}

type (
	// Confirm is the operator's enter: the step's action, or the step done.
	// What says what it does, while it runs.
	Confirm struct{ What string }
	// WitnessStep is the next witness's own key: they confirm the step.
	WitnessStep struct{}
	// TypeConfirmation is the irreversible action's word, typed.
	TypeConfirmation struct{ Text string }
	// Choose records the contingencies that apply, by id (none is a choice).
	Choose struct{ IDs []string }
	// SignIn records the participants present, by role.
	SignIn struct{ Names map[string]string }
	// Reshare deals the new officers' cards, sealed with their passphrases.
	Reshare struct{ Passphrases map[string]string }
	// CloseForCosign closes the ceremony after the roll call.
	CloseForCosign struct{}
	// PresentCard reads an officer's card, with the secret its holder typed.
	PresentCard struct{ ID, Secret string }
	// PresentCosigner reads a present officer's card to cosign the final
	// checkpoint, with the secret its holder typed.
	PresentCosigner struct{ ID, Secret string }
	// PresentForged presents a forged card (the rehearsal's simulated cards).
	PresentForged struct{}
	// WitnessCard records a card the HSM accepted, with the serial it shows,
	// as the witness confirms.
	WitnessCard struct{ ID, Serial string }
	// MarkAbsent marks an officer gone at the roll call (again: back), or,
	// after the close, as not cosigning.
	MarkAbsent struct{ ID string }
	// RecordException records a deviation at the current step.
	RecordException struct{ Text string }
	// Skip passes over the current step, the witness confirming.
	Skip struct{ Reason string }
	// Repeat does the step just done again, the witness confirming.
	Repeat struct{ Reason string }
	// Abort goes straight to the acts that always run.
	Abort struct{ Reason string }
	// ExpireQuorum ends a partial quorum past the roster's timeout, if any.
	ExpireQuorum struct{}
	// Poll reads which cards are in their readers and the HSM's PIN flags,
	// while the ceremony collects cards or activates the HSM.
	Poll struct{}
	// AutoStep is what the unattended rehearsal does next.
	AutoStep struct{}
	// Stop is the operator quitting before the close: an active HSM is
	// logged out, and the stop is logged.
	Stop struct{}
)

func (Stop) Busy() string { return "stopping the console" }
func (Stop) run(ctx context.Context, s *Session) (string, error) {
	return "the console is stopped", s.Stop(ctx)
}

func (o Confirm) Busy() string {
	if o.What == "" {
		return "working"
	}
	return o.What
}
func (Confirm) run(ctx context.Context, s *Session) (string, error) {
	return "", s.Confirm(ctx)
}

func (WitnessStep) Busy() string { return "the witness confirming" }
func (WitnessStep) run(ctx context.Context, s *Session) (string, error) {
	w := s.NextWitnessRole()
	return w + " confirmed", s.WitnessStep(ctx)
}

func (TypeConfirmation) Busy() string { return "checking the confirmation" }
func (o TypeConfirmation) run(ctx context.Context, s *Session) (string, error) {
	return "confirmed", s.Type(ctx, o.Text)
}

func (Choose) Busy() string { return "recording the contingencies" }
func (o Choose) run(ctx context.Context, s *Session) (string, error) {
	return "contingencies chosen", s.Choose(ctx, o.IDs)
}

func (SignIn) Busy() string { return "signing the participants in" }
func (o SignIn) run(ctx context.Context, s *Session) (string, error) {
	return "participants signed in", s.SignIn(ctx, o.Names)
}

func (Reshare) Busy() string { return "dealing the new cards" }
func (o Reshare) run(ctx context.Context, s *Session) (string, error) {
	return "new cards dealt", s.Reshare(ctx, o.Passphrases)
}

func (CloseForCosign) Busy() string { return "closing the ceremony" }
func (CloseForCosign) run(ctx context.Context, s *Session) (string, error) {
	return "ceremony closed: the officers present cosign its final checkpoint", s.CloseForCosign(ctx)
}

func (o PresentCard) Busy() string { return "reading card " + o.ID }
func (o PresentCard) run(ctx context.Context, s *Session) (string, error) {
	return "card " + o.ID + " accepted", s.PresentCard(withSecret(ctx, o.Secret), o.ID)
}

func (o PresentCosigner) Busy() string { return "reading card " + o.ID + " to cosign" }
func (o PresentCosigner) run(ctx context.Context, s *Session) (string, error) {
	return "card " + o.ID + " cosigned the final checkpoint", s.PresentCosigner(withSecret(ctx, o.Secret), o.ID)
}

func (PresentForged) Busy() string { return "reading a card" }
func (PresentForged) run(ctx context.Context, s *Session) (string, error) {
	return "card accepted", s.PresentForged(ctx)
}

func (o WitnessCard) Busy() string { return "recording card " + o.ID }
func (o WitnessCard) run(ctx context.Context, s *Session) (string, error) {
	return "card " + o.ID + " recorded", s.WitnessCard(ctx, o.ID, o.Serial)
}

func (o MarkAbsent) Busy() string { return "recording " + o.ID + " absent" }
func (o MarkAbsent) run(ctx context.Context, s *Session) (string, error) {
	return o.ID + " marked", s.MarkAbsent(ctx, o.ID)
}

func (RecordException) Busy() string { return "recording the exception" }
func (o RecordException) run(ctx context.Context, s *Session) (string, error) {
	return "exception recorded", s.Exception(ctx, o.Text)
}

func (Skip) Busy() string { return "skipping the step" }
func (o Skip) run(ctx context.Context, s *Session) (string, error) {
	return "step skipped", s.Skip(ctx, o.Reason)
}

func (Repeat) Busy() string { return "repeating the step" }
func (o Repeat) run(ctx context.Context, s *Session) (string, error) {
	return "step repeated", s.Repeat(ctx, o.Reason)
}

func (Abort) Busy() string { return "aborting the ceremony" }
func (o Abort) run(ctx context.Context, s *Session) (string, error) {
	return "ceremony aborted", s.Abort(ctx, o.Reason)
}

func (ExpireQuorum) Busy() string { return "partial quorum expiring" }
func (ExpireQuorum) run(ctx context.Context, s *Session) (string, error) {
	if expired, err := s.ExpireQuorum(ctx); expired || err != nil {
		return "partial quorum expired", err
	}
	return "", nil
}

func (Poll) Busy() string { return "" }
func (Poll) run(ctx context.Context, s *Session) (string, error) {
	s.poll(ctx)
	return "", nil
}

func (AutoStep) Busy() string { return "playing the ceremony" }
func (AutoStep) run(ctx context.Context, s *Session) (string, error) {
	return s.AutoStep(ctx)
}

// withSecret passes the secret a card's holder typed to the card reader.
func withSecret(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return quorum.WithSecret(ctx, secret)
}

// poll reads the devices while they matter: the cards' presence while
// cards are collected, the token's flags while its login is next.
func (s *Session) poll(ctx context.Context) {
	st := s.view()
	if p, ok := s.cfg.Cards.(quorum.Presence); ok && st.CollectingCards() {
		if in, err := p.Inserted(ctx); err == nil {
			s.inserted = in
		}
	}
	if st.LoggingIn() && !st.HSM {
		if info, ok := s.TokenInfo(); ok {
			s.token = &info
		}
	}
}
