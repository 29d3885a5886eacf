package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// AutoStep does the next thing an unattended rehearsal does, and says what
// it did. In a quorum it presents, in turn, the first officer's card, the same
// card again, a forged card, and then the other officers' cards, so that every
// kind of refusal happens on every run; it types the confirmation exactly.
// A refused card is not an error here: refusing it is the point.
func (s *Session) AutoStep(ctx context.Context) (string, error) {
	switch s.Next() {
	case NextDone:
		return "", errors.New("the ceremony is closed")
	case NextCards:
		id, forged := s.autoCard()
		var err error
		if forged {
			err = s.PresentForged(ctx)
			id = "forged"
		} else {
			err = s.PresentCard(ctx, id)
		}
		if err != nil && !errors.Is(err, quorum.ErrRejected) {
			return "", err
		}
		if err != nil {
			return fmt.Sprintf("%s refused", cardLabel(id)), nil
		}
		return fmt.Sprintf("%s accepted", cardLabel(id)), nil
	case NextTyped:
		cur, _ := s.state.Current()
		return "typed " + cur.Confirm, s.Type(ctx, cur.Confirm)
	case NextCheckFailed:
		return "", errors.New("the KSR failed its checks: an unattended rehearsal stops here")
	case NextReshare:
		passes := map[string]string{}
		for _, h := range s.cfg.Reshare.Holders {
			passes[h.ID] = "rehearsal passphrase of " + h.ID
		}
		return "dealt the new cards", s.Reshare(ctx, passes)
	case NextWitness:
		w := s.NextWitnessRole()
		return w + " confirms", s.WitnessStep(ctx)
	case NextChoose:
		return "no contingency applies", s.Choose(ctx, nil)
	case NextCosign:
		st := s.state
		if !st.Closed {
			return "every officer is here: the ceremony is closed", s.CloseForCosign(ctx)
		}
		for _, id := range st.Present {
			if !contains(s.final.Cosigned, id) {
				if err := s.PresentCosigner(ctx, id); err != nil {
					return "", err
				}
				return fmt.Sprintf("card %s cosigned the final checkpoint", id), nil
			}
		}
		return "", errors.New("every officer present has cosigned")
	case NextSignIn:
		names := map[string]string{}
		for _, r := range s.cfg.Script.Roles {
			names[r.ID] = "Rehearsal " + r.Title
			if c, ok := s.cfg.Script.Quorum.Card(r.ID); ok {
				names[r.ID] = c.Holder
			}
		}
		return "signed everyone in", s.SignIn(ctx, names)
	}
	return "", s.Confirm(ctx)
}

// autoCard picks the next card of the unattended quorum: CO1, CO1 again, a
// forged one, then the remaining officers in roster order.
func (s *Session) autoCard() (id string, forged bool) {
	roster := s.cfg.Script.Quorum
	n := s.autoCards
	s.autoCards++
	switch n {
	case 0, 1:
		return roster.Cards[0].ID, false // the second time it is refused as a duplicate
	case 2:
		return roster.Cards[0].ID, true
	}
	for _, c := range roster.Cards {
		if !contains(s.state.Accepted, c.ID) && !c.Revoked {
			return c.ID, false
		}
	}
	return roster.Cards[0].ID, false
}

func cardLabel(id string) string {
	if id == "forged" {
		return "a forged card"
	}
	return "card " + id
}
