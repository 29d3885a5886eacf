package ceremony

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/miekg/dns"

	"github.com/keyceremony/keyceremony/transparency"
)

// Entry kinds the ceremony writes.
const (
	KindOpen           = transparency.KindOpen
	KindResumed        = "ceremony.resumed"
	KindStepDone       = "step.done"
	KindStepConfirmed  = "step.confirmed" // the typed confirmation of an irreversible action
	KindException      = "step.exception"
	KindCardPresented  = "card.presented"
	KindCardRejected   = "card.rejected"
	KindCardWitnessed  = "card.witnessed" // witnessed mode: the HSM accepted the card, a witness confirms
	KindQuorumReached  = "quorum.reached"
	KindQuorumExpired  = "quorum.expired" // a partial quorum timed out; the officers start again
	KindHSMLogin       = "hsm.login"
	KindHSMLogout      = "hsm.logout"
	KindHSMLoginFailed = "hsm.login_failed" // the token refused the PIN derived from the cards
	KindKSRLoaded      = "ksr.loaded"
	KindKSRChecked     = "ksr.checked"
	KindBundleSigned   = "bundle.signed"
	KindSKRWritten     = "skr.written"
	KindKeyGenerated   = "key.generated"          // a KSK made in the token: label, key tags, DS
	KindCardsReshared  = "cards.reshared"         // the quorum's secret dealt to new officers' cards
	KindStepSkipped    = "step.skipped"           // a step passed over, with the reason and a witness's confirmation
	KindAborted        = "ceremony.aborted"       // the ceremony goes straight to its always-run acts
	KindSignedIn       = "participants.signed_in" // who is present in each role
	KindZeroized       = "hsm.zeroized"           // every key of the token destroyed
	KindStepWitnessed  = "step.witnessed"         // a step's witness confirms it, with their own key
	KindStepRepeated   = "step.repeated"          // the step just done is done again, with the reason and a witness
	KindChosen         = "contingency.chosen"     // which of the script's contingencies apply
	KindNotApplicable  = "step.not_applicable"    // a step passed over because of the contingencies chosen
	KindClose          = transparency.KindClose
	KindCosigned       = "log.cosigned" // the officers of the quorum cosigned the checkpoint that records it
)

// ErrOutOfScript reports an entry that the script does not allow at that
// point: the log does not follow its script.
var ErrOutOfScript = errors.New("entry does not follow the script")

// State is what the log says about a ceremony so far. The zero State is a
// ceremony not yet opened; Apply gives the next one.
type State struct {
	Script *Script

	Opened  bool
	Closed  bool
	Resumes int
	// Next is the index (in Script.Steps()) of the step to do next.
	Next int
	// DoneAt holds when each done step was done, by index.
	DoneAt []time.Time
	// Confirmed is set once the current step's typed confirmation is logged.
	Confirmed bool
	// Witnessed are the current step's witnesses who confirmed it so far.
	Witnessed  []string
	Exceptions []Exception
	Cards      []CardEvent
	Accepted   []string // cards accepted into the quorum, in order
	// PartialSince is when the first card of the current partial quorum
	// was accepted.
	PartialSince time.Time
	Quorum       bool // the threshold was reached
	QuorumAt     time.Time
	HSM          bool // the token is logged in
	HSMUsed      bool // it was logged in at some point
	// NeedActivation: a restart logged the HSM out mid-ceremony; the cards
	// are presented again and the HSM logged in before it is used.
	NeedActivation bool
	// SigDigests are the SHA-256 of each bundle signature logged, in order.
	SigDigests []string
	// SignedAt is when the last bundle was signed (the SKR's timestamp).
	SignedAt time.Time
	KSR      *KSRState
	Signed   int // bundles signed
	// Answered are the KSRs answered before the current one, in a script
	// that signs more than one.
	Answered []Answered
	SKR      *Artefact
	// Keys are the KSKs generated in this ceremony, in order.
	Keys []GeneratedKey
	// Reshared is the officer replacement done in this ceremony.
	Reshared *Reshared
	// Skipped are the steps passed over without being done: skipped one by
	// one, or left out by an abort.
	Skipped []Deviation
	// Chosen are the contingencies chosen; nil before the choice.
	Chosen map[string]bool
	// Repeated are the steps done again.
	Repeated []Deviation
	// Aborted is set once the ceremony is aborted.
	Aborted *Deviation
	// Zeroized lists the keys destroyed by an hsm.zeroize step.
	Zeroized []string
	// ZeroizedAt is the step that zeroized the token.
	ZeroizedAt string
	// Participants are the names signed in per role; nil before the
	// sign-in, a role missing from it is absent.
	Participants map[string]string
	Last         time.Time // time of the last entry
	// Officers are the crypto officers whose cards were accepted in this
	// ceremony, in the order of their first acceptance: those expected to
	// cosign the final checkpoint.
	Officers []string
	// QuorumSize is the size of the log's checkpoint that records the
	// current quorum (the quorum.reached entry's index + 1), for its
	// cosignatures; QuorumCosigned is set once they are logged.
	QuorumSize     uint64
	QuorumCosigned bool
	// Cosigned are the checkpoints the officers cosigned, as logged: at
	// each quorum, and at the close.
	Cosigned []Cosigning
	// Present and Absent are the officers the close names as there to
	// cosign the final checkpoint, and as gone; FinalSize is the size of
	// the final checkpoint (the close entry's index + 1).
	Present, Absent []string
	FinalSize       uint64
	// FinalCosigned and FinalDeclined are not from the log: the console
	// sets them as the officers present cosign the final checkpoint after
	// the close, or one will not.
	FinalCosigned, FinalDeclined []string
}

// FinalPending reports whether an officer the close names present has yet
// to cosign the final checkpoint (or to be given up on).
func (s State) FinalPending() bool {
	for _, id := range s.Present {
		if !slices.Contains(s.FinalCosigned, id) && !slices.Contains(s.FinalDeclined, id) {
			return true
		}
	}
	return false
}

// Cosigning is a checkpoint the officers cosigned, as an entry records it.
type Cosigning struct {
	Size      uint64
	Point     string // "quorum" or "close"
	Cosigners []string
	Time      time.Time
}

// CosignExpected returns the officers expected to cosign the final
// checkpoint: those whose card was accepted in this ceremony and carries a
// cosigning key on the roster. A witnessed quorum's cards are the HSM's: the
// console never reads them, so they cosign nothing.
func (s State) CosignExpected() []string {
	q := s.Script.Quorum
	if q == nil || q.Witnessed() {
		return nil
	}
	var out []string
	for _, id := range s.Officers {
		if c, ok := q.Card(id); ok && c.Key != "" {
			out = append(out, id)
		}
	}
	return out
}

// Deviation is a step skipped, or the abort that left steps out.
type Deviation struct {
	Kind    string // "skipped" or "aborted"
	Step    string
	Reason  string
	Witness string
	Time    time.Time
}

// Reshared is a cards.reshare step's result: the new cards, the old ones
// revoked, and the new roster as an artefact.
type Reshared struct {
	Step      string
	Cards     []string
	Revoked   []string
	Threshold int
	Roster    Artefact
	Time      time.Time
	// NewSecret: a fresh secret was dealt and the HSM's PIN changed to it
	// (secret: new), rather than the old secret re-dealt.
	NewSecret bool
}

// GeneratedKey is a KSK generated in a key.generate step.
type GeneratedKey struct {
	Step       string
	Label      string
	Algorithm  int
	KeyTag     int
	RevokedTag int
	DS         string // SHA-256 DS digest, hex
	Time       time.Time
}

// Exception is a deviation the witness records: the step stays open.
type Exception struct {
	Step string
	Text string
	Time time.Time
}

// CardEvent is a card presented in the quorum step.
type CardEvent struct {
	Card     string
	Holder   string
	Accepted bool
	Reason   string // why it was rejected
	Time     time.Time
	// Serial and Witness: in witnessed mode, the card's serial as typed
	// and the role that confirmed the HSM accepted it.
	Serial  string
	Witness string
}

// Answered is a KSR signed and its SKR written.
type Answered struct {
	KSR KSRState
	SKR Artefact
}

// KSRState is what is known of the loaded KSR.
type KSRState struct {
	Artefact
	Step      string // the ksr.load step that loaded it
	ID        string
	Bundles   int
	Confirmed bool // its hash was confirmed against the one sent out of band
	Checked   bool
	ChecksOK  bool
	Results   []CheckResult
}

// CheckResult is one policy check's result as logged.
type CheckResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pass, warn or fail
	Detail string `json:"detail,omitempty"`
}

// Artefact is a file an entry cites.
type Artefact struct {
	Name   string
	SHA256 string
}

// Current returns the step to do next, or false when all are done.
func (s State) Current() (Step, bool) {
	steps := s.Script.Steps()
	if s.Next >= len(steps) {
		return Step{}, false
	}
	return steps[s.Next], true
}

// StepBegun reports whether the current step has begun: a witness
// confirmed it, its confirmation was typed, or its action did something.
func (s State) StepBegun() bool {
	cur, ok := s.Current()
	if !ok {
		return false
	}
	return len(s.Witnessed) > 0 || s.Confirmed || (cur.Action != "" && (s.ActionDone() || len(s.Accepted) > 0))
}

// ActionDone reports whether the current step's action has done its work, so
// that the step itself can be confirmed.
func (s State) ActionDone() bool {
	st, ok := s.Current()
	if !ok {
		return false
	}
	switch st.Action {
	case ActionQuorum:
		return s.Quorum
	case ActionHSMLogin:
		return s.HSM
	case ActionKSRLoad:
		return s.KSR != nil && s.KSR.Step == st.ID
	case ActionKSRCheck:
		return s.KSR != nil && s.KSR.Checked && s.KSR.ChecksOK
	case ActionKSRSign:
		return s.KSR != nil && s.Signed == s.KSR.Bundles && s.Signed > 0
	case ActionSKRWrite:
		return s.SKR != nil
	case ActionHSMLogout:
		// After an abort before the HSM was used there is nothing to log out.
		return !s.HSM && (s.HSMUsed || s.Aborted != nil)
	case ActionKeyGen:
		return len(s.Keys) > 0 && s.Keys[len(s.Keys)-1].Step == st.ID
	case ActionReshare:
		return s.Reshared != nil && s.Reshared.Step == st.ID
	case ActionSignIn:
		return s.Participants != nil
	case ActionZeroize:
		return s.ZeroizedAt == st.ID
	case ActionChoose:
		return s.Chosen != nil
	}
	return true
}

func (s State) clone() State {
	s.DoneAt = slices.Clone(s.DoneAt)
	s.Exceptions = slices.Clone(s.Exceptions)
	s.Cards = slices.Clone(s.Cards)
	s.Accepted = slices.Clone(s.Accepted)
	s.SigDigests = slices.Clone(s.SigDigests)
	s.Answered = slices.Clone(s.Answered)
	s.Keys = slices.Clone(s.Keys)
	s.Witnessed = slices.Clone(s.Witnessed)
	s.Skipped = slices.Clone(s.Skipped)
	s.Repeated = slices.Clone(s.Repeated)
	s.Chosen = maps.Clone(s.Chosen)
	s.Officers = slices.Clone(s.Officers)
	s.Cosigned = slices.Clone(s.Cosigned)
	if s.KSR != nil {
		k := *s.KSR
		k.Results = slices.Clone(k.Results)
		s.KSR = &k
	}
	if s.SKR != nil {
		a := *s.SKR
		s.SKR = &a
	}
	return s
}

// needsHSMAhead reports whether a step from the current one on still needs
// the HSM logged in: signing, or writing an SKR whose signatures a restart
// took from memory.
func (s State) needsHSMAhead() bool {
	answered := s.SKR != nil // the current KSR's SKR is written
	for i, st := range s.Script.Steps()[s.Next:] {
		switch {
		case st.Action == ActionKSRLoad:
			answered = false // a further KSR to sign
		case (st.Action == ActionKSRSign || st.Action == ActionSKRWrite) && !answered:
			return true
		case (st.Action == ActionKeyGen || st.Action == ActionZeroize) && !(i == 0 && s.ActionDone()):
			return true
		}
	}
	return false
}

// CollectingCards reports whether cards can be presented now: in the quorum
// step, or to activate the HSM again after a restart.
func (s State) CollectingCards() bool {
	st, ok := s.Current()
	if !ok || s.Quorum {
		return false
	}
	return st.Action == ActionQuorum || st.Action == ActionHSMLogin || s.NeedActivation || (st.Action == ActionReshare && !s.ActionDone())
}

// NewState is the state of a ceremony that follows script, before its log
// is opened.
func NewState(script *Script) State { return State{Script: script} }

// Apply returns the state after the entry, or an error (wrapping
// ErrOutOfScript) saying why the script does not allow it here. It does not
// change s.
func Apply(s State, e *transparency.Entry) (State, error) {
	fail := func(format string, args ...any) (State, error) {
		return s, fmt.Errorf("%w: entry %d (%s): %s", ErrOutOfScript, e.Seq, e.Kind, fmt.Sprintf(format, args...))
	}
	if s.Script == nil {
		return fail("no script")
	}
	if !s.Opened && e.Kind != KindOpen {
		return fail("the ceremony is not opened yet")
	}
	if s.Closed {
		return fail("the ceremony is closed")
	}
	n := s.clone()
	n.Last = e.Time
	cur, hasCur := s.Current()
	stepField := e.Field("step")
	onCurrent := func() error {
		if !hasCur {
			return errors.New("every step is done")
		}
		if stepField != cur.ID {
			return fmt.Errorf("names step %q, but the current step is %s", stepField, cur.ID)
		}
		return nil
	}
	inAction := func(action string) error {
		if err := onCurrent(); err != nil {
			return err
		}
		if cur.Action != action {
			return fmt.Errorf("step %s is not a %s step", cur.ID, action)
		}
		return nil
	}
	// Cards are presented in the quorum step, or again in the HSM login step
	// after a restart lost the recovered secret.
	inQuorum := func() error {
		if err := onCurrent(); err != nil {
			return err
		}
		if cur.Action == ActionQuorum || ((cur.Action == ActionHSMLogin || s.NeedActivation) && !s.Quorum) {
			return nil
		}
		// After a restart the secret is gone: the old cards come again.
		if cur.Action == ActionReshare && !s.Quorum && !s.ActionDone() {
			return nil
		}
		return fmt.Errorf("step %s does not collect cards", cur.ID)
	}
	switch e.Kind {
	case KindOpen:
		if s.Opened {
			return fail("the ceremony is already open")
		}
		if d := e.Field("script_sha256"); d != s.Script.Digest {
			return fail("opens script %s, but this script's SHA-256 is %s", d, s.Script.Digest)
		}
		if raw, ok := e.Fields["officer_keys"]; ok {
			var keys map[string]string
			if err := json.Unmarshal(raw, &keys); err != nil || !maps.Equal(keys, OfficerKeys(s.Script.Quorum)) {
				return fail("lists officer keys that are not the roster's cosigning keys")
			}
		}
		n.Opened = true
	case KindResumed:
		// Token sessions and the recovered secret never survive a restart:
		// the officers present their cards again before the HSM is used.
		n.Resumes++
		n.HSM = false
		n.NeedActivation = (s.HSM || s.NeedActivation) && s.needsHSMAhead()
		if !s.HSMUsed || s.HSM || s.NeedActivation {
			n.Quorum, n.Accepted = false, nil
		}
	case KindException:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if e.Field("text") == "" {
			return fail("an exception needs its text")
		}
		n.Exceptions = append(n.Exceptions, Exception{Step: cur.ID, Text: e.Field("text"), Time: e.Time})
	case KindChosen:
		if err := inAction(ActionChoose); err != nil {
			return fail("%v", err)
		}
		if s.Chosen != nil {
			return fail("the contingencies are already chosen")
		}
		chosen := map[string]bool{}
		for _, id := range fieldStrings(e, "chosen") {
			if !slices.ContainsFunc(s.Script.Contingencies, func(c Contingency) bool { return c.ID == id }) {
				return fail("contingency %q is not one the script declares", id)
			}
			chosen[id] = true
		}
		n.Chosen = chosen
	case KindNotApplicable:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if cur.Applies(s.Chosen) {
			return fail("step %s applies: only a step tied to a contingency not chosen (when:) or chosen (unless:) is passed over", cur.ID)
		}
		n.Skipped = append(n.Skipped, Deviation{Kind: "not applicable", Step: cur.ID, Reason: "contingency " + cur.When + cur.Unless, Time: e.Time})
		n.DoneAt = append(n.DoneAt, e.Time)
		n.Next++
		n.Confirmed, n.Witnessed = false, nil
	case KindStepRepeated:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		steps := s.Script.Steps()
		if s.Next == 0 || s.Next > len(steps) {
			return fail("no step was done yet to repeat")
		}
		prev := steps[s.Next-1]
		d := Deviation{Kind: "repeated", Step: prev.ID, Reason: e.Field("reason"), Witness: e.Field("witness"), Time: e.Time}
		switch {
		case e.Field("repeat") != prev.ID:
			return fail("repeats step %q; only the step just done, %s, can be repeated", e.Field("repeat"), prev.ID)
		case prev.Action != "":
			return fail("step %s has an action (%s) and cannot be repeated: record an exception", prev.ID, prev.Action)
		case s.StepBegun():
			return fail("step %s has begun; finish it before repeating step %s", cur.ID, prev.ID)
		case d.Reason == "":
			return fail("a repeated step needs its reason")
		case !slices.Contains(prev.Witnesses, d.Witness) && !(len(prev.Witnesses) == 0 && s.Script.HasRole(d.Witness) && d.Witness != prev.Role):
			return fail("step %s is repeated with %q's confirmation; a witness of the step confirms it", prev.ID, d.Witness)
		}
		for _, sk := range s.Skipped {
			if sk.Step == prev.ID {
				return fail("step %s was passed over, not done: it cannot be repeated", prev.ID)
			}
		}
		n.Repeated = append(n.Repeated, d)
		n.Next--
		n.DoneAt = n.DoneAt[:len(n.DoneAt)-1]
		n.Confirmed, n.Witnessed = false, nil
	case KindStepWitnessed:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		w := e.Field("witness")
		switch {
		case !s.ActionDone():
			return fail("step %s is witnessed before its action is done", cur.ID)
		case len(s.Witnessed) >= len(cur.Witnesses):
			return fail("step %s has no witness left to confirm it", cur.ID)
		case w != cur.Witnesses[len(s.Witnessed)]:
			return fail("step %s is confirmed by %q; %s confirms next", cur.ID, w, cur.Witnesses[len(s.Witnessed)])
		}
		if _, ok := s.Participants[w]; s.Participants != nil && !ok {
			return fail("step %s is confirmed by %s, who did not sign in", cur.ID, w)
		}
		n.Witnessed = append(n.Witnessed, w)
	case KindStepConfirmed:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if cur.Confirm == "" {
			return fail("step %s needs no typed confirmation", cur.ID)
		}
		if e.Field("typed") != cur.Confirm {
			return fail("typed %q, the script asks for %q", e.Field("typed"), cur.Confirm)
		}
		n.Confirmed = true
	case KindStepDone:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if !s.ActionDone() {
			return fail("step %s (%s) is confirmed before its action is done", cur.ID, cur.Action)
		}
		if e.Field("role") != cur.Role || !slices.Equal(fieldStrings(e, "witnesses"), cur.Witnesses) {
			return fail("step %s is done by %s witnessed by %v, but the entry names %q and %v", cur.ID, cur.Role, cur.Witnesses, e.Field("role"), fieldStrings(e, "witnesses"))
		}
		if !cur.Applies(s.Chosen) {
			return fail("step %s does not apply with the contingencies chosen (%s%s)", cur.ID, cur.When, cur.Unless)
		}
		if !slices.Equal(s.Witnessed, cur.Witnesses) {
			return fail("step %s is done without its witnesses' confirmation (%v confirmed of %v)", cur.ID, s.Witnessed, cur.Witnesses)
		}
		if s.Participants != nil {
			for _, r := range append([]string{cur.Role}, cur.Witnesses...) {
				if _, ok := s.Participants[r]; !ok {
					return fail("step %s needs %s, who did not sign in: skip it, or record an exception and abort", cur.ID, r)
				}
			}
		}
		if cur.Action == ActionKSRLoad {
			n.KSR.Confirmed = true
		}
		n.DoneAt = append(n.DoneAt, e.Time)
		n.Next++
		n.Confirmed, n.Witnessed = false, nil
	case KindCardPresented, KindCardRejected, KindCardWitnessed:
		if err := inQuorum(); err != nil {
			return fail("%v", err)
		}
		card := e.Field("card")
		ev := CardEvent{Card: card, Holder: e.Field("holder"), Time: e.Time}
		witnessed := s.Script.Quorum.Witnessed()
		switch {
		case e.Kind == KindCardWitnessed && !witnessed:
			return fail("card %s is recorded as witnessed, but the script's quorum holds shares: each card must be checked against the roster", card)
		case e.Kind == KindCardPresented && witnessed:
			return fail("card %s is recorded as presented, but the script's quorum is witnessed: the HSM checks the cards", card)
		case e.Kind == KindCardWitnessed:
			ev.Serial, ev.Witness = e.Field("serial"), e.Field("witness")
			if ev.Serial == "" {
				return fail("card %s: a witnessed card needs the serial the HSM showed", card)
			}
			if !slices.Contains(cur.Witnesses, ev.Witness) {
				return fail("card %s is confirmed by %q, who does not witness step %s (%v)", card, ev.Witness, cur.ID, cur.Witnesses)
			}
			if _, ok := s.Participants[ev.Witness]; s.Participants != nil && !ok {
				return fail("card %s is confirmed by %s, who did not sign in", card, ev.Witness)
			}
			if info, ok := s.Script.Quorum.Card(card); ok && info.Serial != "" && info.Serial != ev.Serial {
				return fail("card %s has serial %s on the roster, but %s was recorded", card, info.Serial, ev.Serial)
			}
		}
		if e.Kind == KindCardRejected {
			ev.Reason = e.Field("reason")
			if ev.Reason == "" {
				return fail("a rejected card needs its reason")
			}
			n.Cards = append(n.Cards, ev)
			break
		}
		if s.Quorum || len(s.Accepted) >= s.Script.Quorum.Threshold {
			return fail("card %s presented after the quorum was complete", card)
		}
		info, ok := s.Script.Quorum.Card(card)
		switch {
		case !ok:
			return fail("card %s is not enrolled", card)
		case info.Revoked:
			return fail("card %s is revoked", card)
		case slices.Contains(s.Accepted, card):
			return fail("card %s was already accepted", card)
		}
		// A second's grace: the console checks the timeout just before the
		// log stamps the entry.
		if d := s.Script.Quorum.ExpiresAfter(); d > 0 && len(s.Accepted) > 0 && e.Time.Sub(s.PartialSince) > d+time.Second {
			return fail("card %s accepted %s after the first card of the partial quorum, which expires after %s", card, e.Time.Sub(s.PartialSince).Round(time.Second), d)
		}
		ev.Accepted, ev.Holder = true, info.Holder
		n.Cards = append(n.Cards, ev)
		if len(s.Accepted) == 0 {
			n.PartialSince = e.Time
		}
		n.Accepted = append(n.Accepted, card)
		if !slices.Contains(n.Officers, card) {
			n.Officers = append(n.Officers, card)
		}
	case KindQuorumExpired:
		if err := inQuorum(); err != nil {
			return fail("%v", err)
		}
		d := s.Script.Quorum.ExpiresAfter()
		switch {
		case s.Quorum || len(s.Accepted) == 0:
			return fail("no partial quorum to expire")
		case d == 0:
			return fail("the script's quorum has no timeout")
		case e.Time.Sub(s.PartialSince) <= d:
			return fail("the partial quorum expired after %s, before its timeout of %s", e.Time.Sub(s.PartialSince).Round(time.Second), d)
		case !slices.Equal(fieldStrings(e, "cards"), s.Accepted):
			return fail("names cards %v, the accepted cards are %v", fieldStrings(e, "cards"), s.Accepted)
		}
		n.Accepted = nil
	case KindQuorumReached:
		if err := inQuorum(); err != nil {
			return fail("%v", err)
		}
		if s.Quorum {
			return fail("the quorum is already reached")
		}
		if len(s.Accepted) != s.Script.Quorum.Threshold {
			return fail("%d cards accepted, the quorum is %d", len(s.Accepted), s.Script.Quorum.Threshold)
		}
		if cards := fieldStrings(e, "cards"); !slices.Equal(cards, s.Accepted) {
			return fail("names cards %v, the accepted cards are %v", cards, s.Accepted)
		}
		n.Quorum, n.QuorumAt = true, e.Time
		n.QuorumSize, n.QuorumCosigned = e.Seq+1, false
	case KindCosigned:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		var size uint64
		if raw, ok := e.Fields["size"]; ok {
			json.Unmarshal(raw, &size)
		}
		who := fieldStrings(e, "cosigners")
		switch {
		case !s.Quorum || s.QuorumSize == 0:
			return fail("cosignatures logged with no quorum reached")
		case s.QuorumCosigned:
			return fail("the quorum's checkpoint is already cosigned")
		case e.Field("point") != "quorum":
			return fail("cosignatures at %q; entries record only the quorum's (the close records who cosigns the final checkpoint)", e.Field("point"))
		case size != s.QuorumSize:
			return fail("cosigned checkpoint %d, but the one that records the quorum is %d", size, s.QuorumSize)
		case len(who) == 0:
			return fail("names no cosigner")
		}
		for i, id := range who {
			if !slices.Contains(s.Accepted, id) {
				return fail("%s cosigned, but the quorum's accepted cards are %v", id, s.Accepted)
			}
			if slices.Contains(who[:i], id) {
				return fail("%s is named twice", id)
			}
		}
		n.QuorumCosigned = true
		n.Cosigned = append(n.Cosigned, Cosigning{Size: size, Point: "quorum", Cosigners: who, Time: e.Time})
	case KindHSMLogin:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if cur.Action != ActionHSMLogin && !s.NeedActivation {
			return fail("step %s does not activate the HSM", cur.ID)
		}
		if !s.Quorum {
			return fail("the HSM is used before the quorum is reached")
		}
		if s.HSM {
			return fail("the HSM is already logged in")
		}
		n.HSM, n.HSMUsed, n.NeedActivation = true, true, false
	case KindHSMLoginFailed:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if (cur.Action != ActionHSMLogin && !s.NeedActivation) || !s.Quorum || s.HSM {
			return fail("no HSM login was due")
		}
		// The token refused the PIN: the officers present their cards again.
		n.Quorum, n.Accepted = false, nil
	case KindHSMLogout:
		if err := inAction(ActionHSMLogout); err != nil {
			return fail("%v", err)
		}
		n.HSM = false
	case KindKeyGenerated:
		if err := inAction(ActionKeyGen); err != nil {
			return fail("%v", err)
		}
		k := GeneratedKey{Step: cur.ID, Label: e.Field("label"), Algorithm: fieldInt(e, "algorithm"), KeyTag: fieldInt(e, "key_tag"),
			RevokedTag: fieldInt(e, "key_tag_revoked"), DS: e.Field("ds_sha256"), Time: e.Time}
		want := cur.Params["algorithm"]
		if want == "" {
			want = "8"
		}
		switch {
		case !s.Quorum || !s.HSM:
			return fail("a key generated before the quorum activated the HSM")
		case cur.Confirm != "" && !s.Confirmed:
			return fail("a key generated before the typed confirmation")
		case s.ActionDone():
			return fail("step %s already generated its key", cur.ID)
		case k.Label != cur.Params["label"]:
			return fail("generated key %q, the script asks for %q", k.Label, cur.Params["label"])
		case fmt.Sprint(k.Algorithm) != want:
			return fail("generated an algorithm %d key, the script asks for %s", k.Algorithm, want)
		}
		// The tags and the DS are recomputed from the DNSKEY the entry records.
		rr, err := dns.NewRR(e.Field("dnskey"))
		dk, ok := rr.(*dns.DNSKEY)
		if err != nil || !ok || dk.Flags&dnssec.FlagSEP == 0 || int(dk.Algorithm) != k.Algorithm {
			return fail("the generated key's dnskey %q is not a KSK DNSKEY record of algorithm %d", e.Field("dnskey"), k.Algorithm)
		}
		tag, revoked := dnssec.KeyTags(dk)
		if int(tag) != k.KeyTag || int(revoked) != k.RevokedTag || !strings.EqualFold(dnssec.DS(dk).Digest, k.DS) {
			return fail("key tag %d (%d revoked) and DS %s do not match the DNSKEY logged, which gives %d (%d) and %s",
				k.KeyTag, k.RevokedTag, k.DS, tag, revoked, strings.ToLower(dnssec.DS(dk).Digest))
		}
		n.Keys = append(n.Keys, k)
	case KindCardsReshared:
		if err := inAction(ActionReshare); err != nil {
			return fail("%v", err)
		}
		r := &Reshared{Step: cur.ID, Cards: fieldStrings(e, "cards"), Revoked: fieldStrings(e, "revoked"), Threshold: fieldInt(e, "threshold"), Time: e.Time,
			NewSecret: e.Field("secret") == SecretNew}
		want := ReshareSecret(cur)
		got := e.Field("secret")
		if got == "" {
			got = SecretSame
		}
		var old []string
		for _, c := range s.Script.Quorum.Cards {
			old = append(old, c.ID)
		}
		switch {
		case !s.Quorum:
			return fail("cards dealt again before the old cards' quorum recovered the secret")
		case cur.Confirm != "" && !s.Confirmed:
			return fail("cards dealt again before the typed confirmation")
		case s.ActionDone():
			return fail("step %s already dealt the new cards", cur.ID)
		case fmt.Sprint(r.Threshold) != cur.Params["threshold"]:
			return fail("threshold %d, the script asks for %s", r.Threshold, cur.Params["threshold"])
		case len(r.Cards) < r.Threshold:
			return fail("%d new cards for a threshold of %d", len(r.Cards), r.Threshold)
		case !slices.Equal(r.Revoked, old):
			return fail("revokes %v; every card of the old roster (%v) must be revoked", r.Revoked, old)
		case got != want:
			return fail("deals the %s secret; the script's step %s deals the %s one", got, cur.ID, want)
		case want == SecretSame && e.Field("commitment") != s.Script.Quorum.Commitments[0]:
			return fail("the new roster's first commitment %s is not the old one's %s: the secret changed", e.Field("commitment"), s.Script.Quorum.Commitments[0])
		case want == SecretNew && (e.Field("commitment") == s.Script.Quorum.Commitments[0] || e.Field("commitment") == ""):
			return fail("the new card set's first commitment is the old one's: the secret did not change")
		case want == SecretNew && !s.HSM:
			return fail("a new card set, and so a new PIN, while the HSM is not logged in")
		case len(e.Artefacts) != 1 || e.Field("roster_sha256") != e.Artefacts[0].SHA256:
			return fail("the new roster is cited as the entry's one artefact, with its SHA-256")
		}
		for _, c := range r.Cards {
			if slices.Contains(old, c) {
				return fail("new card %s has an id of the old roster", c)
			}
		}
		r.Roster = Artefact{Name: e.Artefacts[0].Name, SHA256: e.Artefacts[0].SHA256}
		n.Reshared = r
	case KindKSRLoaded:
		if err := inAction(ActionKSRLoad); err != nil {
			return fail("%v", err)
		}
		if len(e.Artefacts) != 1 || e.Field("sha256") != e.Artefacts[0].SHA256 {
			return fail("a loaded KSR cites its file and its SHA-256")
		}
		// hash#1: from the script, or given to the console and logged.
		for _, want := range []string{expectedSHA256(cur), e.Field("expected_sha256")} {
			if want != "" && !strings.EqualFold(want, e.Field("sha256")) {
				return fail("the KSR loaded has SHA-256 %s, but hash#1 is %s", e.Field("sha256"), want)
			}
		}
		if s.KSR != nil {
			// A script that signs more than one KSR: the last is answered.
			if s.SKR == nil {
				return fail("a KSR is loaded before the last one's SKR is written")
			}
			n.Answered = append(n.Answered, Answered{KSR: *s.KSR, SKR: *s.SKR})
			n.Signed, n.SigDigests, n.SignedAt, n.SKR = 0, nil, time.Time{}, nil
		}
		n.KSR = &KSRState{Artefact: Artefact{Name: e.Artefacts[0].Name, SHA256: e.Artefacts[0].SHA256}, Step: cur.ID,
			ID: e.Field("ksr_id"), Bundles: fieldInt(e, "bundles")}
	case KindKSRChecked:
		if err := inAction(ActionKSRCheck); err != nil {
			return fail("%v", err)
		}
		if s.KSR == nil || !s.KSR.Confirmed {
			return fail("the KSR is checked before its hash was confirmed")
		}
		if e.Field("sha256") != s.KSR.SHA256 {
			return fail("checks KSR %s, the loaded one is %s", e.Field("sha256"), s.KSR.SHA256)
		}
		var results []CheckResult
		if raw, ok := e.Fields["results"]; ok {
			if err := json.Unmarshal(raw, &results); err != nil {
				return fail("results: %v", err)
			}
		}
		ok := len(results) > 0
		for _, r := range results {
			switch r.Status {
			case "fail":
				ok = false
			case "pass", "warn":
			default:
				return fail("check %s has status %q (want pass, warn or fail)", r.ID, r.Status)
			}
		}
		n.KSR.Checked, n.KSR.ChecksOK, n.KSR.Results = true, ok, results
	case KindBundleSigned:
		if err := inAction(ActionKSRSign); err != nil {
			return fail("%v", err)
		}
		switch {
		case !s.Quorum || !s.HSM:
			return fail("signing before the quorum activated the HSM")
		case s.KSR == nil || !s.KSR.Confirmed:
			return fail("signing before the KSR hash was confirmed")
		case !s.KSR.Checked || !s.KSR.ChecksOK:
			return fail("signing a KSR that did not pass its checks")
		case cur.Confirm != "" && !s.Confirmed:
			return fail("signing before the typed confirmation")
		case fieldInt(e, "bundle") != s.Signed+1 || s.Signed >= s.KSR.Bundles:
			return fail("bundle %d signed, expected bundle %d of %d", fieldInt(e, "bundle"), s.Signed+1, s.KSR.Bundles)
		case e.Field("bundle_id") == "" || !isHex64(e.Field("sig_sha256")):
			return fail("a signed bundle names its id and its signature's SHA-256")
		}
		n.Signed++
		n.SignedAt = e.Time
		n.SigDigests = append(n.SigDigests, e.Field("sig_sha256"))
	case KindSKRWritten:
		if err := inAction(ActionSKRWrite); err != nil {
			return fail("%v", err)
		}
		if s.KSR == nil || s.Signed != s.KSR.Bundles || s.Signed == 0 {
			return fail("the SKR is written before every bundle is signed")
		}
		if len(e.Artefacts) != 1 {
			return fail("a written SKR cites its file")
		}
		n.SKR = &Artefact{Name: e.Artefacts[0].Name, SHA256: e.Artefacts[0].SHA256}
	case KindZeroized:
		if err := inAction(ActionZeroize); err != nil {
			return fail("%v", err)
		}
		switch {
		case !s.Quorum || !s.HSM:
			return fail("the HSM is zeroized before the quorum activated it")
		case cur.Confirm != "" && !s.Confirmed:
			return fail("the HSM is zeroized before the typed confirmation")
		case s.ActionDone():
			return fail("step %s already zeroized the HSM", cur.ID)
		case fieldInt(e, "remaining") != 0:
			return fail("%d keys remain after zeroizing: the HSM is not empty", fieldInt(e, "remaining"))
		}
		n.Zeroized, n.ZeroizedAt = fieldStrings(e, "destroyed"), cur.ID
	case KindSignedIn:
		if err := inAction(ActionSignIn); err != nil {
			return fail("%v", err)
		}
		if s.Participants != nil {
			return fail("the participants are already signed in")
		}
		var names map[string]string
		if err := json.Unmarshal(e.Fields["participants"], &names); err != nil || len(names) == 0 {
			return fail("a sign-in names the participants by role")
		}
		for role, name := range names {
			if !s.Script.HasRole(role) || strings.TrimSpace(name) == "" {
				return fail("signs in %q as %q: every name is for a declared role", name, role)
			}
		}
		if _, ok := names[cur.Role]; !ok {
			return fail("the sign-in's own acting role %s is absent", cur.Role)
		}
		n.Participants = names
	case KindStepSkipped:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		d := Deviation{Kind: "skipped", Step: cur.ID, Reason: e.Field("reason"), Witness: e.Field("witness"), Time: e.Time}
		switch {
		case cur.Action != "":
			return fail("step %s has an action (%s) and cannot be skipped: record an exception, or abort the ceremony", cur.ID, cur.Action)
		case d.Reason == "":
			return fail("a skipped step needs its reason")
		case len(cur.Witnesses) > 0 && !slices.Contains(cur.Witnesses, d.Witness):
			return fail("step %s is skipped with %q's confirmation; it is witnessed by %v", cur.ID, d.Witness, cur.Witnesses)
		case len(cur.Witnesses) == 0 && (d.Witness == "" || d.Witness == cur.Role || !s.Script.HasRole(d.Witness)):
			return fail("step %s is skipped with %q's confirmation; a declared role other than %s confirms it", cur.ID, d.Witness, cur.Role)
		}
		if _, ok := s.Participants[d.Witness]; s.Participants != nil && !ok {
			return fail("step %s is skipped with the confirmation of %s, who did not sign in", cur.ID, d.Witness)
		}
		if !cur.Applies(s.Chosen) {
			return fail("step %s does not apply; it is passed over as step.not_applicable", cur.ID)
		}
		n.Skipped = append(n.Skipped, d)
		n.DoneAt = append(n.DoneAt, e.Time)
		n.Next++
		n.Confirmed, n.Witnessed = false, nil
	case KindAborted:
		if err := onCurrent(); err != nil {
			return fail("%v", err)
		}
		if s.Aborted != nil {
			return fail("the ceremony is already aborted")
		}
		if e.Field("reason") == "" {
			return fail("an abort needs its reason")
		}
		d := Deviation{Kind: "aborted", Step: cur.ID, Reason: e.Field("reason"), Time: e.Time}
		n.Aborted = &d
		// The console logs the HSM out before it logs the abort.
		n.HSM, n.NeedActivation = false, false
		// Every step up to the next always-run act is left out.
		steps := s.Script.Steps()
		for n.Next < len(steps) && !s.Script.Acts[steps[n.Next].Act].Always {
			n.Skipped = append(n.Skipped, Deviation{Kind: "aborted", Step: steps[n.Next].ID, Reason: d.Reason, Time: e.Time})
			n.DoneAt = append(n.DoneAt, e.Time)
			n.Next++
		}
		n.Confirmed, n.Witnessed = false, nil
	case KindClose:
		if hasCur {
			return fail("the ceremony closes with step %s still to do", cur.ID)
		}
		if s.HSM {
			return fail("the ceremony closes with the HSM logged in")
		}
		present, absent := fieldStrings(e, "cosigners"), fieldStrings(e, "absent")
		expected := s.CosignExpected()
		all := append(slices.Clone(present), absent...)
		for i, id := range all {
			if !slices.Contains(expected, id) {
				return fail("names %s to cosign, who is not an officer of this ceremony with a cosigning key (%v)", id, expected)
			}
			if slices.Contains(all[:i], id) {
				return fail("names %s twice", id)
			}
		}
		if len(all) != len(expected) {
			return fail("names %v present and %v absent; every officer of the ceremony (%v) is one or the other", present, absent, expected)
		}
		n.Present, n.Absent, n.FinalSize = present, absent, e.Seq+1
		if len(present) > 0 {
			n.Cosigned = append(n.Cosigned, Cosigning{Size: e.Seq + 1, Point: "close", Cosigners: present, Time: e.Time})
		}
		n.Closed = true
	default:
		return fail("unknown entry kind")
	}
	return n, nil
}

func expectedSHA256(st Step) string {
	if st.Expect == nil {
		return ""
	}
	return st.Expect.SHA256
}

// Replay folds every entry into the state of a ceremony following script.
func Replay(script *Script, entries []*transparency.Entry) (State, error) {
	s := NewState(script)
	for _, e := range entries {
		var err error
		if s, err = Apply(s, e); err != nil {
			return s, err
		}
	}
	return s, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func fieldStrings(e *transparency.Entry, name string) []string {
	var v []string
	if raw, ok := e.Fields[name]; ok {
		json.Unmarshal(raw, &v)
	}
	return v
}

func fieldInt(e *transparency.Entry, name string) int {
	var v int
	if raw, ok := e.Fields[name]; ok {
		json.Unmarshal(raw, &v)
	}
	return v
}
