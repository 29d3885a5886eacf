package ceremony

import (
	"maps"
	"slices"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// State is what the log says about a ceremony so far: a fold of its
// entries (Replay) and nothing else. The zero State is a ceremony not yet
// opened; Apply gives the next one.
type State struct {
	Script *Script

	Opened  bool
	Closed  bool
	Resumes int
	// Stops counts the console's logged stops; StoppedAt is when the last
	// one was logged, zero once it resumed (or if it never stopped).
	Stops     int
	StoppedAt time.Time
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
	// Forged is a card refused as forged whose exception is still to be
	// recorded: a security event the ceremony stops for.
	Forged   string
	Quorum   bool // the threshold was reached
	QuorumAt time.Time
	HSM      bool // the token is logged in
	HSMUsed  bool // it was logged in at some point
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
	// Custody is the register of sealed items now: item → bag serial. It
	// opens as entry 0 says and changes as bags are opened and sealed.
	Custody map[string]string
	// Bags are the bags opened and sealed, and the incidents, in order.
	Bags []BagEvent
	// Triggered is a condition a contingency plans for, shown by the log
	// and waiting for one to be taken; Invoked are those taken.
	Triggered *Trigger
	Invoked   []Invocation
	// Previous is the ceremony this one follows, as its opening cites it.
	Previous *Previous
	// Backup is the SHA-256 of the KSK backup on record: the one the
	// opening carried over, or the one this ceremony made (BackedUp).
	Backup   string
	BackedUp *event.BackedUp
	// Recovery is the recovery holders' quorum; Restored the keys
	// restored from the backup.
	Recovery Recovery
	Restored []event.Restored
}

// Previous is the ceremony a log follows: the previous log's origin and
// final checkpoint (size, root hex), and the SHA-256 of the SKR it wrote.
type Previous struct {
	Origin string
	Size   uint64
	Root   string
	SKR    string
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
	Results   []event.CheckResult
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
	case ActionBagOpen:
		// A contingency taken for its incident ends the opening: the item
		// goes on out of its bag, or the ceremony was aborted.
		return s.bagDone(st) || slices.ContainsFunc(s.Invoked, func(i Invocation) bool { return i.Step == st.ID })
	case ActionBackup:
		return s.BackedUp != nil
	case ActionRecovery:
		return s.Recovery.Reached
	case ActionRestore:
		return len(s.Restored) > 0 && len(s.Restored) == s.Restored[0].Of
	case ActionBagSeal:
		// After an abort an item not opened stays as it was: nothing to seal.
		return s.bagDone(st) || s.Aborted != nil && !slices.ContainsFunc(s.Bags, func(b BagEvent) bool { return b.Item == st.Params["item"] && b.What == "opened" })
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
	s.Bags = slices.Clone(s.Bags)
	s.Invoked = slices.Clone(s.Invoked)
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
