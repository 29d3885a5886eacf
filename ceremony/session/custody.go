// Custody of the sealed items, and the contingencies the log triggers: the
// operations, and their interactions.

package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
)

type (
	// OpenBag opens the current step's item: the bag's serial as read
	// aloud (confirmed by a second typing when it is not the one on
	// record), the witness's word on its condition, or Unreachable when
	// the item cannot be got at.
	OpenBag struct {
		Serial      string
		Intact      bool
		Unreachable bool
	}
	// SealBag seals the current step's item in a new bag, its serial
	// typed twice alike.
	SealBag struct{ Serial string }
	// Invoke takes one of the contingencies the script plans for what the
	// log shows, with what happened; the witness confirmed it.
	Invoke struct{ ID, Reason string }
)

func (OpenBag) Busy() string { return "recording the bag" }
func (o OpenBag) run(ctx context.Context, s *Session) (string, error) {
	return "", s.OpenBag(ctx, o)
}

func (SealBag) Busy() string { return "recording the new bag" }
func (o SealBag) run(ctx context.Context, s *Session) (string, error) {
	return "", s.SealBag(ctx, o.Serial)
}

func (Invoke) Busy() string { return "taking the contingency" }
func (o Invoke) run(ctx context.Context, s *Session) (string, error) {
	return "", s.Invoke(ctx, o.ID, o.Reason)
}

// OpenBag records the current custody.open step's bag: opened, or an
// incident (a serial other than the one on record, a bag not intact, an
// item out of reach) that stops the step until a contingency is taken.
func (s *Session) OpenBag(ctx context.Context, o OpenBag) error {
	cur, _ := s.state.Current()
	if s.Next() != NextBagOpen {
		return fmt.Errorf("step %s opens no bag", cur.ID)
	}
	item, w := cur.Params["item"], s.view().confirmingWitness(cur)
	onRecord := s.state.Custody[item]
	serial := strings.TrimSpace(o.Serial)
	switch {
	case o.Unreachable:
		return s.append(ctx, event.Incident{Step: cur.ID, Item: item, Expected: onRecord, What: ceremony.IncidentUnreachable, Witness: w})
	case !ceremony.ValidBag(serial):
		return fmt.Errorf("%q is not a bag's serial: 3 to 32 letters, digits and dashes; read it again", serial)
	case onRecord != "" && serial != onRecord:
		return s.append(ctx, event.Incident{Step: cur.ID, Item: item, Expected: onRecord, Bag: serial, What: ceremony.IncidentSerial, Witness: w})
	case !o.Intact:
		return s.append(ctx, event.Incident{Step: cur.ID, Item: item, Expected: onRecord, Bag: serial, What: ceremony.IncidentNotIntact, Witness: w})
	}
	return s.append(ctx, event.BagOpened{Step: cur.ID, Item: item, Bag: serial, Expected: onRecord, Witness: w})
}

// SealBag records the current custody.seal step's new bag.
func (s *Session) SealBag(ctx context.Context, serial string) error {
	cur, _ := s.state.Current()
	if s.Next() != NextBagSeal {
		return fmt.Errorf("step %s seals no bag", cur.ID)
	}
	serial = strings.TrimSpace(serial)
	if !ceremony.ValidBag(serial) {
		return fmt.Errorf("%q is not a bag's serial: 3 to 32 letters, digits and dashes; read it again", serial)
	}
	return s.append(ctx, event.BagSealed{Step: cur.ID, Item: cur.Params["item"], Bag: serial})
}

// Invoke takes a contingency the script plans for the trigger the log
// shows. One that postpones logs the HSM out first, as an abort does.
func (s *Session) Invoke(ctx context.Context, id, reason string) error {
	cur, _ := s.state.Current()
	t := s.state.Triggered
	if t == nil {
		return errors.New("nothing the log shows calls for a contingency")
	}
	var c *ceremony.Contingency
	for _, p := range s.cfg.Script.Planned(t.Trigger, t.Item) {
		if p.ID == id {
			c = &p
		}
	}
	switch {
	case c == nil:
		return fmt.Errorf("%q is not a contingency the script plans for %s", id, t)
	case strings.TrimSpace(reason) == "":
		return errors.New("say what happened, and what was done")
	}
	if c.Then == ceremony.ThenAbort && s.cfg.Token != nil && s.cfg.Token.LoggedIn() {
		if err := s.cfg.Token.Logout(ctx); err != nil {
			return fmt.Errorf("log out of token %q before the ceremony is aborted: %w; try again", s.cfg.Token.Label(), err)
		}
	}
	w := s.view().triggerWitness()
	if err := s.append(ctx, event.Invoked{Step: cur.ID, Contingency: c.ID, Trigger: t.String(), Reason: strings.TrimSpace(reason), Witness: w, Then: c.Then}); err != nil {
		return err
	}
	if c.Then == ceremony.ThenAbort {
		s.forgetAtAbort()
	}
	return nil
}

// triggerWitness is who confirms a contingency taken: the current step's
// first witness present, or else the IW.
func (st Snapshot) triggerWitness() string {
	cur, _ := st.Current()
	if w := st.confirmingWitness(cur); w != "" {
		return w
	}
	return "IW"
}

// RehearsalBag is the serial the unattended rehearsal reads on a bag not on
// record: the same for an item, a log and the bags handled so far, and
// another for each log.
func (st Snapshot) RehearsalBag(item string) string {
	d := sha256.Sum256([]byte(st.Setup.Origin + "\x00" + item + "\x00" + strconv.Itoa(len(st.Bags))))
	return fmt.Sprintf("RH-%X", d[:4])
}

// bagOpen asks the serial of the bag on the table, again when it is not the
// one on record (the same serial twice records the incident), and the
// witness's word on its condition; enter alone: the item cannot be reached.
func (st Snapshot) bagOpen(a []string) Reply {
	cur, _ := st.Current()
	item := cur.Params["item"]
	it, _ := st.Script.Item(item)
	onRecord, known := st.Custody[item]
	w := st.confirmingWitness(cur)
	auto := onRecord
	if !known {
		auto = st.RehearsalBag(item)
	}
	serial := &Ask{Label: "Bag serial: ", Prompt: fmt.Sprintf("Serial of the bag holding %s, as read aloud; enter alone: it cannot be reached", it.What),
		Hint: "enter to record · esc to cancel", Optional: true, Auto: auto}
	again := &Ask{Label: "Bag serial, again: ", Prompt: fmt.Sprintf("The serial of the bag holding %s, read and typed again", it.What), Hint: "enter to record · esc to cancel", Auto: auto}
	if len(a) == 0 {
		return Reply{Ask: serial}
	}
	first := strings.TrimSpace(a[0])
	if first == "" {
		if len(a) == 1 {
			return Reply{Ask: &Ask{Witness: w, Prompt: fmt.Sprintf("%s: %s cannot be reached (a safe that will not open)? That is an incident", w, it.What),
				Declined: "Not confirmed: read the bag's serial.", Auto: Yes, Confirms: "that " + item + " cannot be reached"}}
		}
		if a[1] != Yes {
			return Reply{Problem: "Not confirmed: read the bag's serial."}
		}
		return Reply{Op: OpenBag{Unreachable: true}}
	}
	if !ceremony.ValidBag(first) {
		return Reply{Ask: serial, Problem: fmt.Sprintf("%q is not a bag's serial (3 to 32 letters, digits and dashes); type it again", first), Retry: 1}
	}
	rest := a[1:]
	differs := known && first != onRecord
	if differs || !known {
		if len(rest) == 0 {
			if differs {
				again.Prompt = "That is not the serial on record: read the bag again and type it; the same serial again records an incident"
			}
			return Reply{Ask: again}
		}
		second := strings.TrimSpace(rest[0])
		switch {
		case known && second == onRecord:
			// A misread put right: the bag is the one on record.
			first, differs = second, false
		case second != first:
			return Reply{Ask: serial, Problem: "the two serials typed differ; read the bag again", Retry: 2}
		}
		rest = rest[1:]
	}
	if differs {
		if len(rest) == 0 {
			return Reply{Ask: &Ask{Witness: w, Prompt: fmt.Sprintf("%s: the bag holding %s reads %s, not the serial it was sealed in? That is an incident", w, item, first),
				Declined: "Not confirmed: read the bag's serial again.", Auto: Yes, Confirms: "the incident with " + item}}
		}
		if rest[0] != Yes {
			return Reply{Problem: "Not confirmed: read the bag's serial again."}
		}
		return Reply{Op: OpenBag{Serial: first}}
	}
	if len(rest) == 0 {
		return Reply{Ask: intactAsk(w, first)}
	}
	switch strings.TrimSpace(rest[0]) {
	case Yes:
		return Reply{Op: OpenBag{Serial: first, Intact: true}}
	case "n":
		return Reply{Op: OpenBag{Serial: first}}
	}
	return Reply{Ask: intactAsk(w, first), Problem: "answer y or n", Retry: 1}
}

func intactAsk(w, bag string) *Ask {
	return &Ask{Prompt: fmt.Sprintf("%s: is bag %s intact, with no tear and no sign of tampering? y or n", w, bag), Label: w + ", bag intact (y/n): ",
		Hint: "y: intact · n: an incident · esc to cancel", Choices: "y/n", Auto: Yes}
}

// bagSeal asks the new bag's serial twice.
func (st Snapshot) bagSeal(a []string) Reply {
	cur, _ := st.Current()
	item := cur.Params["item"]
	it, _ := st.Script.Item(item)
	auto := st.RehearsalBag(item)
	serial := &Ask{Label: "New bag serial: ", Prompt: fmt.Sprintf("Serial of the new bag sealing %s, as read aloud", it.What), Hint: "enter to record · esc to cancel", Auto: auto}
	switch len(a) {
	case 0:
		return Reply{Ask: serial}
	case 1:
		if s := strings.TrimSpace(a[0]); !ceremony.ValidBag(s) {
			return Reply{Ask: serial, Problem: fmt.Sprintf("%q is not a bag's serial (3 to 32 letters, digits and dashes); type it again", s), Retry: 1}
		}
		return Reply{Ask: &Ask{Label: "New bag serial, again: ", Prompt: fmt.Sprintf("The serial of the new bag sealing %s, read and typed again", it.What), Hint: "enter to record · esc to cancel", Auto: auto}}
	}
	if strings.TrimSpace(a[0]) != strings.TrimSpace(a[1]) {
		return Reply{Ask: serial, Problem: "the two serials typed differ; read the bag again", Retry: 2}
	}
	return Reply{Op: SealBag{Serial: a[0]}}
}

// TriggerWords say, for people, what the log shows that calls for a
// contingency.
func (st Snapshot) TriggerWords() string {
	t := st.Triggered
	if t == nil {
		return ""
	}
	switch t.Trigger {
	case ceremony.TriggerQuorumShort:
		return fmt.Sprintf("fewer crypto officers signed in than the %d the quorum needs", st.Script.Quorum.Threshold)
	case ceremony.TriggerHSMFailure:
		return "the HSM refused its activation"
	}
	for i := len(st.Bags) - 1; i >= 0; i-- {
		if b := st.Bags[i]; b.Item == t.Item {
			return ceremony.IncidentWords(b)
		}
	}
	return t.String()
}

// invoke asks which planned contingency is taken, what happened, and the
// witness's confirmation.
func (st Snapshot) invoke(a []string) Reply {
	t := *st.Triggered
	planned := st.Script.Planned(t.Trigger, t.Item)
	ids := make([]string, len(planned))
	for i, c := range planned {
		ids[i] = c.ID
	}
	w := st.triggerWitness()
	which := &Ask{Label: "Contingency: ", Prompt: "Which planned contingency is taken: " + strings.Join(ids, ", "), Choices: strings.Join(ids, ", "),
		Hint: "its id, then enter · esc to cancel", Auto: ids[0]}
	if len(a) == 0 {
		return Reply{Ask: which}
	}
	id := strings.TrimSpace(a[0])
	var c *ceremony.Contingency
	for i := range planned {
		if planned[i].ID == id {
			c = &planned[i]
		}
	}
	if c == nil {
		return Reply{Ask: which, Problem: fmt.Sprintf("%q is not one of the planned contingencies (%s)", id, strings.Join(ids, ", ")), Retry: 1}
	}
	if len(a) == 1 {
		return Reply{Ask: &Ask{Label: "What happened: ", Prompt: "What happened, and what was done", Hint: "enter, then the witness confirms · esc to cancel",
			Auto: "Rehearsal: " + st.TriggerWords() + "; contingency " + c.ID + " taken as planned"}}
	}
	reason := strings.TrimSpace(a[1])
	if reason == "" {
		return Reply{}
	}
	then := "the ceremony goes on"
	if c.Then == ceremony.ThenAbort {
		then = "the ceremony is ABORTED"
	}
	if len(a) == 2 {
		return Reply{Ask: &Ask{Witness: w, Prompt: fmt.Sprintf("%s: take contingency %s (%s); %s?", w, c.ID, c.Text, then), Declined: "Not confirmed: no contingency is taken.",
			Auto: Yes, Confirms: "contingency " + c.ID}}
	}
	if a[2] != Yes {
		return Reply{Problem: "Not confirmed: no contingency is taken."}
	}
	return Reply{Op: Invoke{ID: c.ID, Reason: reason}}
}
