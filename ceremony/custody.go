package ceremony

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// BagEvent is one thing done to an item's bag in this ceremony, as logged.
type BagEvent struct {
	Step string
	Item string
	// What is "opened", "sealed", or an incident's kind ("serial differs",
	// "not intact", "unreachable").
	What     string
	Bag      string
	Expected string // the bag on record, for an opening or an incident
	Witness  string
	Time     time.Time
}

// Incident kinds, as custody.incident logs them.
const (
	IncidentSerial      = "serial differs"
	IncidentNotIntact   = "not intact"
	IncidentUnreachable = "unreachable"
)

// Trigger is a condition the log shows that a contingency plans for,
// waiting for one to be taken.
type Trigger struct {
	Trigger string // TriggerCustody or TriggerQuorumShort
	Item    string // the item, for a custody incident
	Step    string
}

// String is the trigger as contingency.invoked names it.
func (t Trigger) String() string {
	if t.Item != "" {
		return t.Trigger + " " + t.Item
	}
	return t.Trigger
}

// Invocation is a contingency taken for a trigger.
type Invocation struct {
	Step, Contingency, Trigger, Reason, Witness, Then string
	Time                                              time.Time
}

// OpeningRegister is the custody register a ceremony opens with: the one
// the previous ceremony left (nil: none), and each item of the script it
// does not hold with the bag the script records. An item that both the
// previous register and the script record must be in the same bag.
func OpeningRegister(s *Script, previous map[string]string) (map[string]string, error) {
	reg := maps.Clone(previous)
	for _, it := range s.Custody {
		if it.Bag == "" {
			continue
		}
		if was, ok := previous[it.ID]; ok && was != it.Bag {
			return nil, fmt.Errorf("%s: custody item %s: the script records bag %s, but the previous ceremony sealed it in bag %s; correct the script", s.Name, it.ID, it.Bag, was)
		}
		if reg == nil {
			reg = map[string]string{}
		}
		if _, ok := reg[it.ID]; !ok {
			reg[it.ID] = it.Bag
		}
	}
	return reg, nil
}

// custodyGate refuses, while a trigger waits for its contingency, every
// entry but the contingency, an exception, the HSM's logout, an abort and a
// stop or resume.
func custodyGate(s State, kind string) error {
	if s.Triggered == nil {
		return nil
	}
	switch kind {
	case event.KindInvoked, event.KindException, event.KindHSMLogout, event.KindAborted, event.KindStopped, event.KindResumed:
		return nil
	}
	return fmt.Errorf("step %s waits for a contingency planned for %s", s.Triggered.Step, s.Triggered)
}

// bagStep: the entry names the current step, a custody step of action
// for item, not yet done and not stopped by an incident.
func (a *applying) bagStep(step, action, item string) error {
	if err := a.inAction(step, action); err != nil {
		return err
	}
	if item != a.cur.Params["item"] {
		return fmt.Errorf("step %s handles item %s, not %q", a.cur.ID, a.cur.Params["item"], item)
	}
	if a.s.ActionDone() {
		return fmt.Errorf("step %s already %s", a.cur.ID, map[string]string{ActionBagOpen: "opened its bag", ActionBagSeal: "sealed its item"}[action])
	}
	return nil
}

// stepWitness: who is named confirms as one of the step's witnesses.
func (a *applying) stepWitness(w string) error {
	if !slices.Contains(a.cur.Witnesses, w) {
		return fmt.Errorf("%q is not a witness of step %s", w, a.cur.ID)
	}
	return nil
}

func applyBagOpened(a *applying, ev event.BagOpened) error {
	if err := a.bagStep(ev.Step, ActionBagOpen, ev.Item); err != nil {
		return err
	}
	if err := a.stepWitness(ev.Witness); err != nil {
		return err
	}
	onRecord, ok := a.s.Custody[ev.Item]
	switch {
	case !ValidBag(ev.Bag):
		return fmt.Errorf("bag %q is not a bag's serial", ev.Bag)
	case ok && ev.Expected != onRecord:
		return fmt.Errorf("names bag %q as on record for %s, but the register holds %s", ev.Expected, ev.Item, onRecord)
	case ok && ev.Bag != onRecord:
		return fmt.Errorf("opens %s from bag %s, but it was sealed in bag %s: that is an incident", ev.Item, ev.Bag, onRecord)
	case !ok && ev.Expected != "":
		return fmt.Errorf("names bag %s as on record for %s, which the register does not hold", ev.Expected, ev.Item)
	}
	a.n.Custody = maps.Clone(a.s.Custody)
	delete(a.n.Custody, ev.Item)
	a.n.Bags = append(a.n.Bags, BagEvent{Step: ev.Step, Item: ev.Item, What: "opened", Bag: ev.Bag, Expected: ev.Expected, Witness: ev.Witness, Time: a.e.Time})
	return nil
}

func applyBagSealed(a *applying, ev event.BagSealed) error {
	if err := a.bagStep(ev.Step, ActionBagSeal, ev.Item); err != nil {
		return err
	}
	if !ValidBag(ev.Bag) {
		return fmt.Errorf("bag %q is not a bag's serial", ev.Bag)
	}
	if was, ok := a.s.Custody[ev.Item]; ok {
		return fmt.Errorf("%s is sealed in bag %s already: open it before sealing it again", ev.Item, was)
	}
	for _, b := range a.s.Bags {
		if b.Bag == ev.Bag {
			return fmt.Errorf("bag %s was %s at step %s: a new bag has a new serial", ev.Bag, b.What, b.Step)
		}
	}
	for item, bag := range a.s.Custody {
		if bag == ev.Bag {
			return fmt.Errorf("bag %s holds %s: a new bag has a new serial", ev.Bag, item)
		}
	}
	a.n.Custody = maps.Clone(a.s.Custody)
	if a.n.Custody == nil {
		a.n.Custody = map[string]string{}
	}
	a.n.Custody[ev.Item] = ev.Bag
	a.n.Bags = append(a.n.Bags, BagEvent{Step: ev.Step, Item: ev.Item, What: "sealed", Bag: ev.Bag, Time: a.e.Time})
	return nil
}

func applyIncident(a *applying, ev event.Incident) error {
	if err := a.bagStep(ev.Step, ActionBagOpen, ev.Item); err != nil {
		return err
	}
	if err := a.stepWitness(ev.Witness); err != nil {
		return err
	}
	if a.s.Triggered != nil {
		return fmt.Errorf("the incident with %s already waits for its contingency", a.s.Triggered.Item)
	}
	onRecord := a.s.Custody[ev.Item]
	switch {
	case ev.Expected != onRecord:
		return fmt.Errorf("names bag %q as on record for %s, but the register holds %q", ev.Expected, ev.Item, onRecord)
	case ev.What == IncidentSerial && (onRecord == "" || ev.Bag == onRecord || !ValidBag(ev.Bag)):
		return fmt.Errorf("a serial that differs needs the bag on record and another serial read")
	case ev.What == IncidentNotIntact && (!ValidBag(ev.Bag) || onRecord != "" && ev.Bag != onRecord):
		return fmt.Errorf("a bag not intact needs the serial read, the one on record (another is a serial that differs)")
	case ev.What == IncidentUnreachable && ev.Bag != "":
		return fmt.Errorf("an item out of reach has no bag read")
	case ev.What != IncidentSerial && ev.What != IncidentNotIntact && ev.What != IncidentUnreachable:
		return fmt.Errorf("incident %q: want %q, %q or %q", ev.What, IncidentSerial, IncidentNotIntact, IncidentUnreachable)
	}
	a.n.Bags = append(a.n.Bags, BagEvent{Step: ev.Step, Item: ev.Item, What: ev.What, Bag: ev.Bag, Expected: ev.Expected, Witness: ev.Witness, Time: a.e.Time})
	a.n.Triggered = &Trigger{Trigger: TriggerCustody, Item: ev.Item, Step: ev.Step}
	return nil
}

func applyInvoked(a *applying, ev event.Invoked) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	t := a.s.Triggered
	if t == nil {
		return fmt.Errorf("contingency %s is taken, but the log shows nothing that triggers it", ev.Contingency)
	}
	if ev.Trigger != t.String() {
		return fmt.Errorf("names trigger %q, but the log shows %s", ev.Trigger, t)
	}
	i := slices.IndexFunc(a.s.Script.Planned(t.Trigger, t.Item), func(c Contingency) bool { return c.ID == ev.Contingency })
	if i < 0 {
		return fmt.Errorf("contingency %q is not one the script plans for %s", ev.Contingency, t)
	}
	c := a.s.Script.Planned(t.Trigger, t.Item)[i]
	switch {
	case ev.Then != c.Then:
		return fmt.Errorf("says contingency %s then %s, but the script plans %s", c.ID, ev.Then, c.Then)
	case ev.Reason == "":
		return errors.New("a contingency taken needs what happened")
	case !a.s.Script.HasRole(ev.Witness):
		return fmt.Errorf("witness %q is not a role of the script", ev.Witness)
	}
	n := a.n
	n.Triggered = nil
	n.Invoked = append(n.Invoked, Invocation{Step: ev.Step, Contingency: c.ID, Trigger: ev.Trigger, Reason: ev.Reason, Witness: ev.Witness, Then: c.Then, Time: a.e.Time})
	if c.Then == ThenAbort {
		return abortHere(a, fmt.Sprintf("contingency %s: %s", c.ID, ev.Reason))
	}
	if t.Trigger == TriggerCustody {
		// The step goes on: the item is out of its bag, as the incident
		// says, and the opening counts as done.
		n.Custody = maps.Clone(a.s.Custody)
		delete(n.Custody, t.Item)
		n.Bags = append(n.Bags, BagEvent{Step: ev.Step, Item: t.Item, What: "opened", Bag: lastBag(a.s.Bags, t.Item), Expected: a.s.Custody[t.Item], Witness: ev.Witness, Time: a.e.Time})
	}
	return nil
}

// lastBag is the serial last read for an item in this ceremony.
func lastBag(bags []BagEvent, item string) string {
	for i := len(bags) - 1; i >= 0; i-- {
		if bags[i].Item == item {
			return bags[i].Bag
		}
	}
	return ""
}

// quorumShort: at the sign-in, with a contingency planned for it, fewer
// crypto officers signed in than the quorum needs.
func quorumShort(s *Script, participants map[string]string) bool {
	if s.Quorum == nil || len(s.Planned(TriggerQuorumShort, "")) == 0 {
		return false
	}
	n := 0
	for role := range participants {
		if _, ok := s.Quorum.Card(role); ok {
			n++
		}
	}
	return n < s.Quorum.Threshold
}

// bagDone: a custody step's action is done.
func (s State) bagDone(st Step) bool {
	want := "opened"
	if st.Action == ActionBagSeal {
		want = "sealed"
	}
	return slices.ContainsFunc(s.Bags, func(b BagEvent) bool { return b.Step == st.ID && b.Item == st.Params["item"] && b.What == want })
}

// IncidentWords say what a custody incident was, for people.
func IncidentWords(b BagEvent) string {
	switch b.What {
	case IncidentUnreachable:
		return fmt.Sprintf("%s cannot be reached (sealed in bag %s)", b.Item, b.Expected)
	case IncidentNotIntact:
		return fmt.Sprintf("%s's bag %s is not intact", b.Item, b.Bag)
	case IncidentSerial:
		return fmt.Sprintf("%s's bag reads %s, not %s as sealed", b.Item, b.Bag, b.Expected)
	}
	return b.Item + ": " + b.What
}

// CustodyLine is one item of the register as the console shows it.
type CustodyLine struct {
	Item, What string
	// State says where the item stands: sealed, out of its bag, an incident.
	State string
	// Incident: the last thing done to its bag was an incident.
	Incident bool
}

// CustodyLines are the script's items (and any other the register holds),
// each with where it stands now. A bag on record is not named before it is
// opened: the serial is read from the bag, not from the screen.
func (s State) CustodyLines() []CustodyLine {
	var out []CustodyLine
	seen := map[string]bool{}
	line := func(id, what string) {
		seen[id] = true
		l := CustodyLine{Item: id, What: what}
		last := -1
		for i, b := range s.Bags {
			if b.Item == id {
				last = i
			}
		}
		bag, onRecord := s.Custody[id]
		switch {
		case last >= 0 && s.Bags[last].What == "opened":
			l.State = fmt.Sprintf("opened at step %s, from bag %s", s.Bags[last].Step, s.Bags[last].Bag)
		case last >= 0 && s.Bags[last].What == "sealed":
			l.State = fmt.Sprintf("sealed at step %s in bag %s", s.Bags[last].Step, s.Bags[last].Bag)
		case last >= 0:
			l.State, l.Incident = "INCIDENT: "+IncidentWords(s.Bags[last]), true
		case onRecord && slices.ContainsFunc(s.Script.Steps(), func(st Step) bool { return st.Action == ActionBagOpen && st.Params["item"] == id }):
			l.State = "sealed; its serial on record is compared when read"
		case onRecord:
			l.State = "sealed in bag " + bag + ", not handled in this ceremony"
		default:
			l.State = "no bag on record: its serial is recorded when opened"
		}
		out = append(out, l)
	}
	for _, it := range s.Script.Custody {
		line(it.ID, it.What)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Custody)) {
		if !seen[id] {
			line(id, "")
		}
	}
	return out
}
