package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// autoPlayer is the unattended rehearsal's progress: how many cards it has
// presented.
type autoPlayer struct{ cards int }

// AutoStep does the next thing an unattended rehearsal does, and says what
// it did. It answers what the ceremony waits for (its main interaction)
// with each question's rehearsal answer. In a quorum it presents, in turn,
// the first officer's card, the same card again, a forged card, and then
// the other officers' cards, so that every kind of refusal happens on
// every run. A refused card is not an error here: refusing it is the point.
func (s *Session) AutoStep(ctx context.Context) (string, error) {
	st := s.view()
	next := st.Awaiting()
	switch next {
	case NextDone:
		return "", errors.New("the ceremony is closed")
	case NextCheckFailed:
		return "", errors.New("the KSR failed its checks: an unattended rehearsal stops here")
	}
	main, ok := st.Main()
	if !ok {
		return "", fmt.Errorf("the rehearsal has nothing to answer at step %s", st.CurrentStep().ID)
	}
	var first []string
	did := ""
	switch {
	case next == NextCards:
		id, forged := s.auto.card(st)
		if forged {
			err := s.PresentForged(ctx)
			if err == nil {
				return "a forged card accepted", nil
			}
			if errors.Is(err, quorum.ErrRejected) {
				return "a forged card refused", nil
			}
			return "", err
		}
		first, did = []string{cardNumber(st, id)}, "card "+id+" accepted"
	case next == NextCosign && st.Closed:
		for _, id := range st.Present {
			if !contains(st.Final.Cosigned, id) {
				first, did = []string{cardNumber(st, id)}, "card "+id+" cosigned the final checkpoint"
				break
			}
		}
		if first == nil {
			return "", errors.New("every officer present has cosigned")
		}
	case next == NextCosign:
		did = "every officer is here: the ceremony is closed"
	case next == NextTyped:
		did = "typed " + st.CurrentStep().Confirm
	case next == NextReshare:
		did = "dealt the new cards"
	case next == NextWitness:
		did = st.NextWitnessRole() + " confirms"
	case next == NextChoose:
		did = "no contingency applies"
	case next == NextSignIn:
		did = "signed everyone in"
	case next == NextBagOpen:
		did = "opened the bag of " + st.CurrentStep().Params["item"]
	case next == NextBagSeal:
		did = "sealed " + st.CurrentStep().Params["item"] + " in a new bag"
	case next == NextTrigger:
		did = "took a planned contingency"
	case next == NextBackup:
		did = "backed the keys up"
	case next == NextRecoveryCards:
		id := s.auto.recoveryCard(st)
		first, did = []string{id}, "recovery card "+id+" presented"
	}
	o, err := Answer(main, first)
	if err != nil {
		return "", err
	}
	if _, err := o.run(ctx, s); err != nil {
		var re *quorum.RejectedError
		if next == NextCards && errors.As(err, &re) {
			return "card " + re.Card + " refused", nil
		}
		return "", err
	}
	return did, nil
}

// Answer plays an interaction through with each question's rehearsal
// answer, after the answers given, and returns the operation it sends.
func Answer(i Interaction, answers []string) (Op, error) {
	for n := 0; n < 100; n++ {
		r := i.Next(answers)
		switch {
		case r.Op != nil:
			return r.Op, nil
		case r.Problem != "" || r.Ask == nil:
			return nil, fmt.Errorf("the rehearsal's answers to %q were not taken: %s", i.Help, r.Problem)
		}
		answers = append(answers, r.Ask.Auto)
	}
	return nil, fmt.Errorf("%q asks without end", i.Help)
}

// recoveryCard picks the next recovery card: the holders not yet
// accepted, in roster order, by number.
func (a *autoPlayer) recoveryCard(st Snapshot) string {
	q := st.Setup.RecoveryRoster
	if q == nil {
		return "1"
	}
	for i, c := range q.Cards {
		if !contains(st.Recovery.Cards, c.ID) && !c.Revoked {
			return strconv.Itoa(i + 1)
		}
	}
	return "1"
}

// card picks the next card of the unattended quorum: CO1, CO1 again, a
// forged one (among simulated cards), then the remaining officers in
// roster order.
func (a *autoPlayer) card(st Snapshot) (id string, forged bool) {
	roster := st.Script.Quorum
	n := a.cards
	a.cards++
	switch {
	case n < 2:
		return roster.Cards[0].ID, false // the second time it is refused as a duplicate
	case n == 2 && st.Setup.Simulated:
		return roster.Cards[0].ID, true
	}
	for _, c := range roster.Cards {
		if !contains(st.Accepted, c.ID) && !c.Revoked {
			return c.ID, false
		}
	}
	return roster.Cards[0].ID, false
}

// cardNumber is a card's number on the roster, as people type it.
func cardNumber(st Snapshot, id string) string {
	for i, c := range st.Script.Quorum.Cards {
		if c.ID == id {
			return strconv.Itoa(i + 1)
		}
	}
	return ""
}
