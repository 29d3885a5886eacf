package ceremony

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/miekg/dns"
)

// ErrOutOfScript reports an entry that the script does not allow at that
// point: the log does not follow its script.
var ErrOutOfScript = errors.New("entry does not follow the script")

// Apply returns the state after the entry, or an error (wrapping
// ErrOutOfScript) saying why the script does not allow it here. It does not
// change s. Each kind of entry is applied by its own function, found in
// rules.
func Apply(s State, e *event.Entry) (State, error) {
	a := &applying{s: s, e: e}
	fail := func(err error) (State, error) {
		return s, fmt.Errorf("%w: entry %d (%s): %v", ErrOutOfScript, e.Seq, e.Kind(), err)
	}
	rule, ok := rules[e.Kind()]
	switch {
	case s.Script == nil:
		return fail(errors.New("no script"))
	case !s.Opened && e.Kind() != event.KindOpen:
		return fail(errors.New("the ceremony is not opened yet"))
	case s.Closed:
		return fail(errors.New("the ceremony is closed"))
	case !s.StoppedAt.IsZero() && e.Kind() != event.KindResumed:
		return fail(errors.New("the console is stopped: only a resume comes next"))
	case !ok:
		return fail(errors.New("unknown entry kind"))
	}
	if err := custodyGate(s, e.Kind()); err != nil {
		return fail(err)
	}
	n := s.clone()
	n.Last = e.Time
	a.n = &n
	a.cur, a.hasCur = s.Current()
	if err := rule(a, e.Event); err != nil {
		return fail(err)
	}
	return n, nil
}

// Replay folds every entry into the state of a ceremony following script.
func Replay(script *Script, entries []*event.Entry) (State, error) {
	s := NewState(script)
	for _, e := range entries {
		var err error
		if s, err = Apply(s, e); err != nil {
			return s, err
		}
	}
	return s, nil
}

// applying is one entry being applied: the state before (s), the state
// after (n, a copy the rule changes), and the step the entry comes at.
type applying struct {
	s      State
	n      *State
	e      *event.Entry
	cur    Step
	hasCur bool
}

// rule applies one kind of entry; an error says why the script does not
// allow it.
type rule func(a *applying, ev event.Event) error

// on adapts a kind's function to a rule.
func on[T event.Event](f func(a *applying, ev T) error) rule {
	return func(a *applying, ev event.Event) error { return f(a, ev.(T)) }
}

// rules holds the function that applies each kind of entry.
var rules = map[string]rule{
	event.KindOpen:            on(applyOpen),
	event.KindResumed:         on(applyResumed),
	event.KindStopped:         on(applyStopped),
	event.KindException:       on(applyException),
	event.KindChosen:          on(applyChosen),
	event.KindNotApplicable:   on(applyNotApplicable),
	event.KindStepRepeated:    on(applyRepeated),
	event.KindStepWitnessed:   on(applyWitnessed),
	event.KindStepConfirmed:   on(applyConfirmed),
	event.KindStepDone:        on(applyDone),
	event.KindCardPresented:   on(applyCardPresented),
	event.KindCardRejected:    on(applyCardRejected),
	event.KindCardWitnessed:   on(applyCardWitnessed),
	event.KindQuorumExpired:   on(applyQuorumExpired),
	event.KindQuorumReached:   on(applyQuorumReached),
	event.KindCosigned:        on(applyCosigned),
	event.KindHSMLogin:        on(applyHSMLogin),
	event.KindHSMLoginFailed:  on(applyHSMLoginFailed),
	event.KindHSMLogout:       on(applyHSMLogout),
	event.KindKeyGenerated:    on(applyKeyGenerated),
	event.KindCardsReshared:   on(applyCardsReshared),
	event.KindKSRLoaded:       on(applyKSRLoaded),
	event.KindKSRChecked:      on(applyKSRChecked),
	event.KindBundleSigned:    on(applyBundleSigned),
	event.KindSKRWritten:      on(applySKRWritten),
	event.KindZeroized:        on(applyZeroized),
	event.KindSignedIn:        on(applySignedIn),
	event.KindStepSkipped:     on(applySkipped),
	event.KindAborted:         on(applyAborted),
	event.KindClose:           on(applyClose),
	event.KindBagOpened:       on(applyBagOpened),
	event.KindBagSealed:       on(applyBagSealed),
	event.KindIncident:        on(applyIncident),
	event.KindInvoked:         on(applyInvoked),
	event.KindBackedUp:        on(applyBackedUp),
	event.KindRecoveryCard:    on(applyRecoveryCard),
	event.KindRecoveryRefused: on(applyRecoveryRefused),
	event.KindRecoveryReached: on(applyRecoveryReached),
	event.KindRestored:        on(applyRestored),
}

// onCurrent: the entry names the current step.
func (a *applying) onCurrent(step string) error {
	if !a.hasCur {
		return errors.New("every step is done")
	}
	if step != a.cur.ID {
		return fmt.Errorf("names step %q, but the current step is %s", step, a.cur.ID)
	}
	return nil
}

// inAction: the entry names the current step, whose action is action.
func (a *applying) inAction(step, action string) error {
	if err := a.onCurrent(step); err != nil {
		return err
	}
	if a.cur.Action != action {
		return fmt.Errorf("step %s is not a %s step", a.cur.ID, action)
	}
	return nil
}

// inQuorum: cards are presented in the quorum step, or again in the HSM
// login step after a restart lost the recovered secret.
func (a *applying) inQuorum(step string) error {
	if err := a.onCurrent(step); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	if cur.Action == ActionQuorum || ((cur.Action == ActionHSMLogin || s.NeedActivation) && !s.Quorum) {
		return nil
	}
	// After a restart the secret is gone: the old cards come again.
	if cur.Action == ActionReshare && !s.Quorum && !s.ActionDone() {
		return nil
	}
	return fmt.Errorf("step %s does not collect cards", cur.ID)
}

// passed moves past the current step without it being done.
func (a *applying) passed() {
	a.n.DoneAt = append(a.n.DoneAt, a.e.Time)
	a.n.Next++
	a.n.Confirmed, a.n.Witnessed = false, nil
}

// QuorumThreshold is a script's quorum threshold, or 0 without a quorum.
func QuorumThreshold(s *Script) int {
	if s.Quorum == nil {
		return 0
	}
	return s.Quorum.Threshold
}

func applyOpen(a *applying, ev event.Open) error {
	s := a.s
	if s.Opened {
		return errors.New("the ceremony is already open")
	}
	if ev.ScriptSHA256 != s.Script.Digest {
		return fmt.Errorf("opens script %s, but this script's SHA-256 is %s", ev.ScriptSHA256, s.Script.Digest)
	}
	if t := ev.QuorumThreshold; t != 0 && (s.Script.Quorum == nil || t != s.Script.Quorum.Threshold) {
		return fmt.Errorf("says %d officers' cards are needed, but the script's quorum says otherwise", t)
	}
	if ev.OfficerKeys != nil && !maps.Equal(ev.OfficerKeys, OfficerKeys(s.Script.Quorum)) {
		return errors.New("lists officer keys that are not the roster's cosigning keys")
	}
	if err := checkPreviousCitation(ev); err != nil {
		return err
	}
	for item, bag := range ev.Custody {
		if !validKeyLabel().MatchString(item) || !ValidBag(bag) {
			return fmt.Errorf("custody register: item %q in bag %q: not an item's id and a bag's serial", item, bag)
		}
	}
	a.n.Custody = maps.Clone(ev.Custody)
	if ev.Backup != "" && (!event.IsSHA256Hex(ev.Backup) || !a.cites(ev.Backup)) {
		return errors.New("names a backup on record that it does not cite")
	}
	a.n.Backup = ev.Backup
	if ev.PreviousOrigin != "" {
		a.n.Previous = &Previous{Origin: ev.PreviousOrigin, Size: ev.PreviousSize, Root: ev.PreviousRoot, SKR: ev.PreviousSKR}
	}
	a.n.Opened = true
	return nil
}

// checkPreviousCitation: an opening that cites a previous ceremony cites it
// whole (origin, key, size, root and the checkpoint), or not at all.
func checkPreviousCitation(ev event.Open) error {
	cites := ev.PreviousOrigin != "" || ev.PreviousVKey != "" || ev.PreviousSize != 0 || ev.PreviousRoot != "" || ev.PreviousCheckpoint != "" || ev.PreviousSKR != ""
	switch {
	case !cites:
		return nil
	case ev.PreviousOrigin == "" || ev.PreviousVKey == "" || ev.PreviousSize == 0:
		return errors.New("cites a previous ceremony without its origin, key or final checkpoint's size")
	case !event.IsSHA256Hex(ev.PreviousRoot) || !event.IsSHA256Hex(ev.PreviousCheckpoint) || (ev.PreviousSKR != "" && !event.IsSHA256Hex(ev.PreviousSKR)):
		return errors.New("cites a previous ceremony with a root, checkpoint or SKR digest that is not 64 lowercase hex digits")
	}
	return nil
}

func applyResumed(a *applying, ev event.Resumed) error {
	// Token sessions and the recovered secret never survive a restart:
	// the officers present their cards again before the HSM is used.
	s, n := a.s, a.n
	stopped := !s.StoppedAt.IsZero()
	switch {
	case ev.Unclean && stopped:
		return errors.New("says the console stopped unlogged, but its stop is logged")
	case ev.HSMLost && (!ev.Unclean || !s.HSM):
		return errors.New("says an HSM session was lost, but the log has no active HSM session then")
	case len(ev.CardsLost) > 0 && (!ev.Unclean || !slices.Equal(ev.CardsLost, s.Accepted)):
		return fmt.Errorf("says the cards %v were lost, but the log holds %v then", ev.CardsLost, s.Accepted)
	}
	n.StoppedAt = time.Time{}
	n.Resumes++
	n.HSM = false
	n.NeedActivation = (s.HSM || s.NeedActivation) && s.needsHSMAhead()
	if !s.HSMUsed || s.HSM || s.NeedActivation {
		n.Quorum, n.Accepted = false, nil
	}
	dropRecovery(s, n)
	return nil
}

func applyStopped(a *applying, ev event.Stopped) error {
	s, n := a.s, a.n
	if !s.StoppedAt.IsZero() {
		return errors.New("the console is stopped already; a resume comes first")
	}
	if ev.HSMLoggedOut != s.HSM {
		if s.HSM {
			return errors.New("the console stopped with the HSM active and did not log it out")
		}
		return errors.New("says the HSM was logged out, but it was not active")
	}
	n.Stops++
	n.StoppedAt = a.e.Time
	dropRecovery(s, n)
	n.HSM = false
	n.NeedActivation = (s.HSM || s.NeedActivation) && s.needsHSMAhead()
	return nil
}

func applyException(a *applying, ev event.Exception) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	if ev.Text == "" {
		return errors.New("an exception needs its text")
	}
	a.n.Exceptions = append(a.n.Exceptions, Exception{Step: a.cur.ID, Text: ev.Text, Time: a.e.Time})
	a.n.Forged = ""
	return nil
}

func applyChosen(a *applying, ev event.ContingencyChosen) error {
	if err := a.inAction(ev.Step, ActionChoose); err != nil {
		return err
	}
	if a.s.Chosen != nil {
		return errors.New("the contingencies are already chosen")
	}
	chosen := map[string]bool{}
	for _, id := range ev.Chosen {
		if !slices.ContainsFunc(a.s.Script.Contingencies, func(c Contingency) bool { return c.ID == id }) {
			return fmt.Errorf("contingency %q is not one the script declares", id)
		}
		chosen[id] = true
	}
	a.n.Chosen = chosen
	return nil
}

func applyNotApplicable(a *applying, ev event.NotApplicable) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	cur := a.cur
	if cur.Applies(a.s.Chosen) {
		return fmt.Errorf("step %s applies: only a step tied to a contingency not chosen (when:) or chosen (unless:) is passed over", cur.ID)
	}
	a.n.Skipped = append(a.n.Skipped, Deviation{Kind: "not applicable", Step: cur.ID, Reason: "contingency " + cur.When + cur.Unless, Time: a.e.Time})
	a.passed()
	return nil
}

func applyRepeated(a *applying, ev event.StepRepeated) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s, n := a.s, a.n
	steps := s.Script.Steps()
	if s.Next == 0 || s.Next > len(steps) {
		return errors.New("no step was done yet to repeat")
	}
	prev := steps[s.Next-1]
	d := Deviation{Kind: "repeated", Step: prev.ID, Reason: ev.Reason, Witness: ev.Witness, Time: a.e.Time}
	switch {
	case ev.Repeat != prev.ID:
		return fmt.Errorf("repeats step %q; only the step just done, %s, can be repeated", ev.Repeat, prev.ID)
	case prev.Action != "":
		return fmt.Errorf("step %s has an action (%s) and cannot be repeated: record an exception", prev.ID, prev.Action)
	case s.StepBegun():
		return fmt.Errorf("step %s has begun; finish it before repeating step %s", a.cur.ID, prev.ID)
	case d.Reason == "":
		return errors.New("a repeated step needs its reason")
	case !slices.Contains(prev.Witnesses, d.Witness) && !(len(prev.Witnesses) == 0 && s.Script.HasRole(d.Witness) && d.Witness != prev.Role):
		return fmt.Errorf("step %s is repeated with %q's confirmation; a witness of the step confirms it", prev.ID, d.Witness)
	}
	for _, sk := range s.Skipped {
		if sk.Step == prev.ID {
			return fmt.Errorf("step %s was passed over, not done: it cannot be repeated", prev.ID)
		}
	}
	n.Repeated = append(n.Repeated, d)
	n.Next--
	n.DoneAt = n.DoneAt[:len(n.DoneAt)-1]
	n.Confirmed, n.Witnessed = false, nil
	return nil
}

func applyWitnessed(a *applying, ev event.StepWitnessed) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s, cur, w := a.s, a.cur, ev.Witness
	switch {
	case !s.ActionDone():
		return fmt.Errorf("step %s is witnessed before its action is done", cur.ID)
	case len(s.Witnessed) >= len(cur.Witnesses):
		return fmt.Errorf("step %s has no witness left to confirm it", cur.ID)
	case w != cur.Witnesses[len(s.Witnessed)]:
		return fmt.Errorf("step %s is confirmed by %q; %s confirms next", cur.ID, w, cur.Witnesses[len(s.Witnessed)])
	}
	if _, ok := s.Participants[w]; s.Participants != nil && !ok {
		return fmt.Errorf("step %s is confirmed by %s, who did not sign in", cur.ID, w)
	}
	a.n.Witnessed = append(a.n.Witnessed, w)
	return nil
}

func applyConfirmed(a *applying, ev event.StepConfirmed) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	cur := a.cur
	if cur.Confirm == "" {
		return fmt.Errorf("step %s needs no typed confirmation", cur.ID)
	}
	if ev.Typed != cur.Confirm {
		return fmt.Errorf("typed %q, the script asks for %q", ev.Typed, cur.Confirm)
	}
	a.n.Confirmed = true
	return nil
}

func applyDone(a *applying, ev event.StepDone) error {
	a.n.Forged = ""
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	if !s.ActionDone() {
		return fmt.Errorf("step %s (%s) is confirmed before its action is done", cur.ID, cur.Action)
	}
	if ev.Role != cur.Role || !slices.Equal(ev.Witnesses, cur.Witnesses) {
		return fmt.Errorf("step %s is done by %s witnessed by %v, but the entry names %q and %v", cur.ID, cur.Role, cur.Witnesses, ev.Role, ev.Witnesses)
	}
	if !cur.Applies(s.Chosen) {
		return fmt.Errorf("step %s does not apply with the contingencies chosen (%s%s)", cur.ID, cur.When, cur.Unless)
	}
	if !slices.Equal(s.Witnessed, cur.Witnesses) {
		return fmt.Errorf("step %s is done without its witnesses' confirmation (%v confirmed of %v)", cur.ID, s.Witnessed, cur.Witnesses)
	}
	if s.Participants != nil {
		for _, r := range append([]string{cur.Role}, cur.Witnesses...) {
			if _, ok := s.Participants[r]; !ok {
				return fmt.Errorf("step %s needs %s, who did not sign in: skip it, or record an exception and abort", cur.ID, r)
			}
		}
	}
	if cur.Action == ActionKSRLoad {
		a.n.KSR.Confirmed = true
	}
	a.passed()
	return nil
}

func applyCardRejected(a *applying, ev event.CardRejected) error {
	if err := a.inQuorum(ev.Step); err != nil {
		return err
	}
	if ev.Reason == "" {
		return errors.New("a rejected card needs its reason")
	}
	ce := CardEvent{Card: ev.Card, Time: a.e.Time, Reason: ev.Reason}
	info, known := a.s.Script.Quorum.Card(ev.Card)
	if ev.Holder != "" && (!known || ev.Holder != info.Holder) {
		return fmt.Errorf("card %s is named %q, but the roster names it %q", ev.Card, ev.Holder, info.Holder)
	}
	if known {
		ce.Holder = info.Holder // the name the card bears
	}
	a.n.Cards = append(a.n.Cards, ce)
	if ev.Reason == quorum.ReasonForged {
		a.n.Forged = ev.Card
	}
	return nil
}

func applyCardPresented(a *applying, ev event.CardPresented) error {
	if err := a.inQuorum(ev.Step); err != nil {
		return err
	}
	if a.s.Script.Quorum.Witnessed() {
		return fmt.Errorf("card %s is recorded as presented, but the script's quorum is witnessed: the HSM checks the cards", ev.Card)
	}
	return a.accept(CardEvent{Card: ev.Card, Holder: ev.Holder, Time: a.e.Time})
}

func applyCardWitnessed(a *applying, ev event.CardWitnessed) error {
	if err := a.inQuorum(ev.Step); err != nil {
		return err
	}
	s, cur, card := a.s, a.cur, ev.Card
	switch {
	case !s.Script.Quorum.Witnessed():
		return fmt.Errorf("card %s is recorded as witnessed, but the script's quorum holds shares: each card must be checked against the roster", card)
	case ev.Serial == "":
		return fmt.Errorf("card %s: a witnessed card needs the serial the HSM showed", card)
	case !slices.Contains(cur.Witnesses, ev.Witness):
		return fmt.Errorf("card %s is confirmed by %q, who does not witness step %s (%v)", card, ev.Witness, cur.ID, cur.Witnesses)
	}
	if _, ok := s.Participants[ev.Witness]; s.Participants != nil && !ok {
		return fmt.Errorf("card %s is confirmed by %s, who did not sign in", card, ev.Witness)
	}
	if info, ok := s.Script.Quorum.Card(card); ok && info.Serial != "" && info.Serial != ev.Serial {
		return fmt.Errorf("card %s has serial %s on the roster, but %s was recorded", card, info.Serial, ev.Serial)
	}
	return a.accept(CardEvent{Card: card, Holder: ev.Holder, Time: a.e.Time, Serial: ev.Serial, Witness: ev.Witness})
}

// accept takes a card into the quorum: an enrolled card, not revoked, not
// already accepted, within the partial quorum's timeout.
func (a *applying) accept(ev CardEvent) error {
	s, n, card := a.s, a.n, ev.Card
	if s.Quorum || len(s.Accepted) >= s.Script.Quorum.Threshold {
		return fmt.Errorf("card %s presented after the quorum was complete", card)
	}
	info, ok := s.Script.Quorum.Card(card)
	switch {
	case !ok:
		return fmt.Errorf("card %s is not enrolled", card)
	case info.Revoked:
		return fmt.Errorf("card %s is revoked", card)
	case slices.Contains(s.Accepted, card):
		return fmt.Errorf("card %s was already accepted", card)
	}
	// A second's grace: the console checks the timeout just before the
	// log stamps the entry.
	if d := s.Script.Quorum.ExpiresAfter(); d > 0 && len(s.Accepted) > 0 && a.e.Time.Sub(s.PartialSince) > d+time.Second {
		return fmt.Errorf("card %s accepted %s after the first card of the partial quorum, which expires after %s", card, a.e.Time.Sub(s.PartialSince).Round(time.Second), d)
	}
	ev.Accepted, ev.Holder = true, info.Holder
	n.Cards = append(n.Cards, ev)
	if len(s.Accepted) == 0 {
		n.PartialSince = a.e.Time
	}
	n.Accepted = append(n.Accepted, card)
	if !slices.Contains(n.Officers, card) {
		n.Officers = append(n.Officers, card)
	}
	return nil
}

func applyQuorumExpired(a *applying, ev event.QuorumExpired) error {
	if err := a.inQuorum(ev.Step); err != nil {
		return err
	}
	s := a.s
	d := s.Script.Quorum.ExpiresAfter()
	switch {
	case s.Quorum || len(s.Accepted) == 0:
		return errors.New("no partial quorum to expire")
	case d == 0:
		return errors.New("the script's quorum has no timeout")
	case a.e.Time.Sub(s.PartialSince) <= d:
		return fmt.Errorf("the partial quorum expired after %s, before its timeout of %s", a.e.Time.Sub(s.PartialSince).Round(time.Second), d)
	case !slices.Equal(ev.Cards, s.Accepted):
		return fmt.Errorf("names cards %v, the accepted cards are %v", ev.Cards, s.Accepted)
	}
	a.n.Accepted = nil
	return nil
}

func applyQuorumReached(a *applying, ev event.QuorumReached) error {
	if err := a.inQuorum(ev.Step); err != nil {
		return err
	}
	s := a.s
	if s.Quorum {
		return errors.New("the quorum is already reached")
	}
	if len(s.Accepted) != s.Script.Quorum.Threshold {
		return fmt.Errorf("%d cards accepted, the quorum is %d", len(s.Accepted), s.Script.Quorum.Threshold)
	}
	if !slices.Equal(ev.Cards, s.Accepted) {
		return fmt.Errorf("names cards %v, the accepted cards are %v", ev.Cards, s.Accepted)
	}
	a.n.Quorum, a.n.QuorumAt = true, a.e.Time
	a.n.QuorumSize, a.n.QuorumCosigned = a.e.Seq+1, false
	return nil
}

func applyCosigned(a *applying, ev event.Cosigned) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s, who := a.s, ev.Cosigners
	switch {
	case !s.Quorum || s.QuorumSize == 0:
		return errors.New("cosignatures logged with no quorum reached")
	case s.QuorumCosigned:
		return errors.New("the quorum's checkpoint is already cosigned")
	case ev.Point != "quorum":
		return fmt.Errorf("cosignatures at %q; entries record only the quorum's (the close records who cosigns the final checkpoint)", ev.Point)
	case ev.Size != s.QuorumSize:
		return fmt.Errorf("cosigned checkpoint %d, but the one that records the quorum is %d", ev.Size, s.QuorumSize)
	case len(who) == 0:
		return errors.New("names no cosigner")
	}
	for i, id := range who {
		if !slices.Contains(s.Accepted, id) {
			return fmt.Errorf("%s cosigned, but the quorum's accepted cards are %v", id, s.Accepted)
		}
		if slices.Contains(who[:i], id) {
			return fmt.Errorf("%s is named twice", id)
		}
	}
	a.n.QuorumCosigned = true
	a.n.Cosigned = append(a.n.Cosigned, Cosigning{Size: ev.Size, Point: "quorum", Cosigners: who, Time: a.e.Time})
	return nil
}

func applyHSMLogin(a *applying, ev event.HSMLogin) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s := a.s
	switch {
	case a.cur.Action != ActionHSMLogin && !s.NeedActivation:
		return fmt.Errorf("step %s does not activate the HSM", a.cur.ID)
	case !s.Quorum:
		return errors.New("the HSM is used before the quorum is reached")
	case s.HSM:
		return errors.New("the HSM is already logged in")
	}
	a.n.HSM, a.n.HSMUsed, a.n.NeedActivation = true, true, false
	return nil
}

func applyHSMLoginFailed(a *applying, ev event.HSMLoginFailed) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s := a.s
	if (a.cur.Action != ActionHSMLogin && !s.NeedActivation) || !s.Quorum || s.HSM {
		return errors.New("no HSM login was due")
	}
	// The token refused the PIN: the officers present their cards again;
	// in a script that plans for a failed HSM, its contingency is taken
	// first.
	a.n.Quorum, a.n.Accepted = false, nil
	if len(s.Script.Planned(TriggerHSMFailure, "")) > 0 {
		a.n.Triggered = &Trigger{Trigger: TriggerHSMFailure, Step: a.cur.ID}
	}
	return nil
}

func applyHSMLogout(a *applying, ev event.HSMLogout) error {
	if err := a.inAction(ev.Step, ActionHSMLogout); err != nil {
		return err
	}
	a.n.HSM = false
	return nil
}

func applyKeyGenerated(a *applying, ev event.KeyGenerated) error {
	if err := a.inAction(ev.Step, ActionKeyGen); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	k := GeneratedKey{Step: cur.ID, Label: ev.Label, Algorithm: ev.Algorithm, KeyTag: ev.KeyTag, RevokedTag: ev.KeyTagRevoked, DS: ev.DSSHA256, Time: a.e.Time}
	want := cur.Params["algorithm"]
	if want == "" {
		want = "8"
	}
	switch {
	case !s.Quorum || !s.HSM:
		return errors.New("a key generated before the quorum activated the HSM")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("a key generated before the typed confirmation")
	case s.ActionDone():
		return fmt.Errorf("step %s already generated its key", cur.ID)
	case k.Label != cur.Params["label"]:
		return fmt.Errorf("generated key %q, the script asks for %q", k.Label, cur.Params["label"])
	case fmt.Sprint(k.Algorithm) != want:
		return fmt.Errorf("generated an algorithm %d key, the script asks for %s", k.Algorithm, want)
	}
	// The tags and the DS are recomputed from the DNSKEY the entry records.
	rr, err := dns.NewRR(ev.DNSKEY)
	dk, ok := rr.(*dns.DNSKEY)
	if err != nil || !ok || dk.Flags&dnssec.FlagSEP == 0 || int(dk.Algorithm) != k.Algorithm {
		return fmt.Errorf("the generated key's dnskey %q is not a KSK DNSKEY record of algorithm %d", ev.DNSKEY, k.Algorithm)
	}
	tag, revoked := dnssec.KeyTags(dk)
	if int(tag) != k.KeyTag || int(revoked) != k.RevokedTag || !strings.EqualFold(dnssec.DS(dk).Digest, k.DS) {
		return fmt.Errorf("key tag %d (%d revoked) and DS %s do not match the DNSKEY logged, which gives %d (%d) and %s",
			k.KeyTag, k.RevokedTag, k.DS, tag, revoked, strings.ToLower(dnssec.DS(dk).Digest))
	}
	a.n.Keys = append(a.n.Keys, k)
	return nil
}

func applyCardsReshared(a *applying, ev event.CardsReshared) error {
	if err := a.inAction(ev.Step, ActionReshare); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	r := &Reshared{Step: cur.ID, Cards: ev.Cards, Revoked: ev.Revoked, Threshold: ev.Threshold, Time: a.e.Time, NewSecret: ev.Secret == SecretNew}
	want := ReshareSecret(cur)
	got := ev.Secret
	if got == "" {
		got = SecretSame
	}
	var old []string
	for _, c := range s.Script.Quorum.Cards {
		old = append(old, c.ID)
	}
	first := s.Script.Quorum.Commitments[0]
	switch {
	case !s.Quorum:
		return errors.New("cards dealt again before the old cards' quorum recovered the secret")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("cards dealt again before the typed confirmation")
	case s.ActionDone():
		return fmt.Errorf("step %s already dealt the new cards", cur.ID)
	case fmt.Sprint(r.Threshold) != cur.Params["threshold"]:
		return fmt.Errorf("threshold %d, the script asks for %s", r.Threshold, cur.Params["threshold"])
	case len(r.Cards) < r.Threshold:
		return fmt.Errorf("%d new cards for a threshold of %d", len(r.Cards), r.Threshold)
	case !slices.Equal(r.Revoked, old):
		return fmt.Errorf("revokes %v; every card of the old roster (%v) must be revoked", r.Revoked, old)
	case got != want:
		return fmt.Errorf("deals the %s secret; the script's step %s deals the %s one", got, cur.ID, want)
	case want == SecretSame && ev.Commitment != first:
		return fmt.Errorf("the new roster's first commitment %s is not the old one's %s: the secret changed", ev.Commitment, first)
	case want == SecretNew && (ev.Commitment == first || ev.Commitment == ""):
		return errors.New("the new card set's first commitment is the old one's: the secret did not change")
	case want == SecretNew && !s.HSM:
		return errors.New("a new card set, and so a new PIN, while the HSM is not logged in")
	case len(a.e.Artefacts) != 1 || ev.RosterSHA256 != a.e.Artefacts[0].SHA256:
		return errors.New("the new roster is cited as the entry's one artefact, with its SHA-256")
	}
	for _, c := range r.Cards {
		if slices.Contains(old, c) {
			return fmt.Errorf("new card %s has an id of the old roster", c)
		}
	}
	r.Roster = Artefact{Name: a.e.Artefacts[0].Name, SHA256: a.e.Artefacts[0].SHA256}
	a.n.Reshared = r
	return nil
}

func applyKSRLoaded(a *applying, ev event.KSRLoaded) error {
	if err := a.inAction(ev.Step, ActionKSRLoad); err != nil {
		return err
	}
	s, n, arts := a.s, a.n, a.e.Artefacts
	if len(arts) != 1 || ev.SHA256 != arts[0].SHA256 {
		return errors.New("a loaded KSR cites its file and its SHA-256")
	}
	// hash#1: from the script, or given to the console and logged.
	for _, want := range []string{expectedSHA256(a.cur), ev.ExpectedSHA256} {
		if want != "" && !strings.EqualFold(want, ev.SHA256) {
			return fmt.Errorf("the KSR loaded has SHA-256 %s, but hash#1 is %s", ev.SHA256, want)
		}
	}
	if s.KSR != nil {
		// A script that signs more than one KSR: the last is answered.
		if s.SKR == nil {
			return errors.New("a KSR is loaded before the last one's SKR is written")
		}
		n.Answered = append(n.Answered, Answered{KSR: *s.KSR, SKR: *s.SKR})
		n.Signed, n.SigDigests, n.SignedAt, n.SKR = 0, nil, time.Time{}, nil
	}
	n.KSR = &KSRState{Artefact: Artefact{Name: arts[0].Name, SHA256: arts[0].SHA256}, Step: a.cur.ID, ID: ev.KSRID, Bundles: ev.Bundles}
	return nil
}

func applyKSRChecked(a *applying, ev event.KSRChecked) error {
	if err := a.inAction(ev.Step, ActionKSRCheck); err != nil {
		return err
	}
	s := a.s
	if s.KSR == nil || !s.KSR.Confirmed {
		return errors.New("the KSR is checked before its hash was confirmed")
	}
	if ev.SHA256 != s.KSR.SHA256 {
		return fmt.Errorf("checks KSR %s, the loaded one is %s", ev.SHA256, s.KSR.SHA256)
	}
	ok := len(ev.Results) > 0
	for _, r := range ev.Results {
		switch r.Status {
		case "fail":
			ok = false
		case "pass", "warn":
		default:
			return fmt.Errorf("check %s has status %q (want pass, warn or fail)", r.ID, r.Status)
		}
	}
	a.n.KSR.Checked, a.n.KSR.ChecksOK, a.n.KSR.Results = true, ok, ev.Results
	return nil
}

func applyBundleSigned(a *applying, ev event.BundleSigned) error {
	if err := a.inAction(ev.Step, ActionKSRSign); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	switch {
	case !s.Quorum || !s.HSM:
		return errors.New("signing before the quorum activated the HSM")
	case s.KSR == nil || !s.KSR.Confirmed:
		return errors.New("signing before the KSR hash was confirmed")
	case !s.KSR.Checked || !s.KSR.ChecksOK:
		return errors.New("signing a KSR that did not pass its checks")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("signing before the typed confirmation")
	case ev.Bundle != s.Signed+1 || s.Signed >= s.KSR.Bundles:
		return fmt.Errorf("bundle %d signed, expected bundle %d of %d", ev.Bundle, s.Signed+1, s.KSR.Bundles)
	case ev.BundleID == "" || !event.IsSHA256Hex(ev.SigSHA256):
		return errors.New("a signed bundle names its id and its signature's SHA-256")
	}
	a.n.Signed++
	a.n.SignedAt = a.e.Time
	a.n.SigDigests = append(a.n.SigDigests, ev.SigSHA256)
	return nil
}

func applySKRWritten(a *applying, ev event.SKRWritten) error {
	if err := a.inAction(ev.Step, ActionSKRWrite); err != nil {
		return err
	}
	s := a.s
	if s.KSR == nil || s.Signed != s.KSR.Bundles || s.Signed == 0 {
		return errors.New("the SKR is written before every bundle is signed")
	}
	if len(a.e.Artefacts) != 1 {
		return errors.New("a written SKR cites its file")
	}
	a.n.SKR = &Artefact{Name: a.e.Artefacts[0].Name, SHA256: a.e.Artefacts[0].SHA256}
	return nil
}

func applyZeroized(a *applying, ev event.Zeroized) error {
	if err := a.inAction(ev.Step, ActionZeroize); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	switch {
	case !s.Quorum || !s.HSM:
		return errors.New("the HSM is zeroized before the quorum activated it")
	case cur.Confirm != "" && !s.Confirmed:
		return errors.New("the HSM is zeroized before the typed confirmation")
	case s.ActionDone():
		return fmt.Errorf("step %s already zeroized the HSM", cur.ID)
	case ev.Remaining != 0:
		return fmt.Errorf("%d keys remain after zeroizing: the HSM is not empty", ev.Remaining)
	}
	a.n.Zeroized, a.n.ZeroizedAt = ev.Destroyed, cur.ID
	return nil
}

func applySignedIn(a *applying, ev event.SignedIn) error {
	if err := a.inAction(ev.Step, ActionSignIn); err != nil {
		return err
	}
	s := a.s
	if s.Participants != nil {
		return errors.New("the participants are already signed in")
	}
	if len(ev.Participants) == 0 {
		return errors.New("a sign-in names the participants by role")
	}
	for role, name := range ev.Participants {
		if !s.Script.HasRole(role) || strings.TrimSpace(name) == "" {
			return fmt.Errorf("signs in %q as %q: every name is for a declared role", name, role)
		}
	}
	if _, ok := ev.Participants[a.cur.Role]; !ok {
		return fmt.Errorf("the sign-in's own acting role %s is absent", a.cur.Role)
	}
	a.n.Participants = ev.Participants
	if quorumShort(s.Script, ev.Participants) {
		a.n.Triggered = &Trigger{Trigger: TriggerQuorumShort, Step: a.cur.ID}
	}
	return nil
}

func applySkipped(a *applying, ev event.StepSkipped) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	s, cur := a.s, a.cur
	d := Deviation{Kind: "skipped", Step: cur.ID, Reason: ev.Reason, Witness: ev.Witness, Time: a.e.Time}
	switch {
	case cur.Action != "":
		return fmt.Errorf("step %s has an action (%s) and cannot be skipped: record an exception, or abort the ceremony", cur.ID, cur.Action)
	case d.Reason == "":
		return errors.New("a skipped step needs its reason")
	case len(cur.Witnesses) > 0 && !slices.Contains(cur.Witnesses, d.Witness):
		return fmt.Errorf("step %s is skipped with %q's confirmation; it is witnessed by %v", cur.ID, d.Witness, cur.Witnesses)
	case len(cur.Witnesses) == 0 && (d.Witness == "" || d.Witness == cur.Role || !s.Script.HasRole(d.Witness)):
		return fmt.Errorf("step %s is skipped with %q's confirmation; a declared role other than %s confirms it", cur.ID, d.Witness, cur.Role)
	}
	if _, ok := s.Participants[d.Witness]; s.Participants != nil && !ok {
		return fmt.Errorf("step %s is skipped with the confirmation of %s, who did not sign in", cur.ID, d.Witness)
	}
	if !cur.Applies(s.Chosen) {
		return fmt.Errorf("step %s does not apply; it is passed over as step.not_applicable", cur.ID)
	}
	a.n.Skipped = append(a.n.Skipped, d)
	a.passed()
	return nil
}

func applyAborted(a *applying, ev event.Aborted) error {
	if err := a.onCurrent(ev.Step); err != nil {
		return err
	}
	if ev.Reason == "" {
		return errors.New("an abort needs its reason")
	}
	return abortHere(a, ev.Reason)
}

// abortHere aborts the ceremony at the current step: every step up to the
// next act that always runs is left out.
func abortHere(a *applying, reason string) error {
	s, n := a.s, a.n
	if s.Aborted != nil {
		return errors.New("the ceremony is already aborted")
	}
	n.Triggered = nil
	d := Deviation{Kind: "aborted", Step: a.cur.ID, Reason: reason, Time: a.e.Time}
	n.Aborted = &d
	// The console logs the HSM out before it logs the abort.
	n.HSM, n.NeedActivation = false, false
	// Every step up to the next always-run act is left out.
	steps := s.Script.Steps()
	for n.Next < len(steps) && !s.Script.Acts[steps[n.Next].Act].Always {
		n.Skipped = append(n.Skipped, Deviation{Kind: "aborted", Step: steps[n.Next].ID, Reason: d.Reason, Time: a.e.Time})
		n.DoneAt = append(n.DoneAt, a.e.Time)
		n.Next++
	}
	n.Confirmed, n.Witnessed = false, nil
	return nil
}

func applyClose(a *applying, ev event.Close) error {
	s := a.s
	if a.hasCur {
		return fmt.Errorf("the ceremony closes with step %s still to do", a.cur.ID)
	}
	if s.HSM {
		return errors.New("the ceremony closes with the HSM logged in")
	}
	present, absent := ev.Cosigners, ev.Absent
	expected := s.CosignExpected()
	all := append(slices.Clone(present), absent...)
	for i, id := range all {
		if !slices.Contains(expected, id) {
			return fmt.Errorf("names %s to cosign, who is not an officer of this ceremony with a cosigning key (%v)", id, expected)
		}
		if slices.Contains(all[:i], id) {
			return fmt.Errorf("names %s twice", id)
		}
	}
	if len(all) != len(expected) {
		return fmt.Errorf("names %v present and %v absent; every officer of the ceremony (%v) is one or the other", present, absent, expected)
	}
	final := a.e.Seq + 1
	a.n.Present, a.n.Absent, a.n.FinalSize = present, absent, final
	if len(present) > 0 {
		a.n.Cosigned = append(a.n.Cosigned, Cosigning{Size: final, Point: "close", Cosigners: present, Time: a.e.Time})
	}
	a.n.Closed = true
	return nil
}

func expectedSHA256(st Step) string {
	if st.Expect == nil {
		return ""
	}
	return st.Expect.SHA256
}
