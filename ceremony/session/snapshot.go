package session

import (
	"maps"
	"slices"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// Snapshot is the ceremony as the session holds it at one moment, for
// people to see and to answer: the log's state, what the session knows
// besides (the final cosignatures, the officers marked gone at the roll
// call, the devices), and what it was given. Nothing in it changes after it
// is taken, so the console, the line-by-line mode and the rehearsal may
// hold it while the session goes on.
type Snapshot struct {
	ceremony.State
	Final Final
	// Gone are the officers marked as gone at the roll call, before the
	// close names them absent.
	Gone []string
	// LogSize is how many entries the log holds.
	LogSize uint64
	// Inserted are the cards in their readers, for readers that can tell
	// and once read (Poll); nil otherwise.
	Inserted map[string]bool
	// Token is the HSM's identity and PIN flags, read before its login
	// (Poll); nil when not read or the token cannot tell.
	Token *hsm.TokenInfo
	// SKRPath is where the SKR of the KSR being answered is written.
	SKRPath string
	// Setup is what the session was given.
	Setup *Setup
	// Resumed says, in words, the resume this session logged when it
	// opened: where, and what an unlogged stop lost; "" for a new log.
	Resumed string
}

// Setup is what a session is given and keeps for its life. Snapshots share
// it: a Setup handed out is never changed (a change makes a new one).
type Setup struct {
	// SecretName is what a card's holder types to open it ("passphrase",
	// "card PIN"), or "" for cards that ask nothing.
	SecretName string
	// Simulated: the rehearsal's simulated cards, among which a forged
	// one can be shown.
	Simulated bool
	// NewHolders are the officers a cards.reshare step deals new cards to.
	NewHolders []quorum.CardInfo
	// RecoveryHolders are those a key.backup step deals recovery cards to;
	// RecoveryRoster is the roster of the backup on record.
	RecoveryHolders []quorum.CardInfo
	RecoveryRoster  *quorum.Roster
	// Origin is the log's origin (the rehearsal's bag serials differ from
	// one log to the next).
	Origin string
}

// Final is how the officers present at the close stand with the final
// checkpoint: its cosignatures are in the checkpoint, not in an entry, and
// nothing is logged after the close.
type Final struct {
	Cosigned []string // their cosignatures are stored, in the order made
	Declined []string // recorded here as not cosigning; verify reports them
	// Failed says why a card could not cosign, by officer, until it does.
	Failed map[string]string
}

// Snapshot returns the ceremony as it stands now.
func (s *Session) Snapshot() Snapshot {
	sn := s.view()
	sn.Final = Final{Cosigned: slices.Clone(sn.Final.Cosigned), Declined: slices.Clone(sn.Final.Declined), Failed: maps.Clone(sn.Final.Failed)}
	sn.Gone = slices.Clone(sn.Gone)
	sn.Inserted = maps.Clone(sn.Inserted)
	if sn.Token != nil {
		t := *sn.Token
		sn.Token = &t
	}
	return sn
}

// view is the session's state as a Snapshot that shares the session's
// slices: for the session's own reading, never handed out.
func (s *Session) view() Snapshot {
	var gone []string
	for _, id := range s.state.CosignExpected() {
		if s.absent[id] {
			gone = append(gone, id)
		}
	}
	return Snapshot{State: s.state, Final: s.final, Gone: gone, LogSize: s.cfg.Log.Size(), Inserted: s.inserted, Token: s.token,
		SKRPath: s.SKRPath(), Setup: s.setup, Resumed: s.resumed}
}

// FinalPending reports whether an officer the close names present has yet
// to cosign the final checkpoint (or to be given up on).
func (sn Snapshot) FinalPending() bool {
	for _, id := range sn.Present {
		if !slices.Contains(sn.Final.Cosigned, id) && !slices.Contains(sn.Final.Declined, id) {
			return true
		}
	}
	return false
}

// Next says what the ceremony waits for.
type Next int

const (
	NextConfirm       Next = iota // the operator confirms the step (enter)
	NextAction                    // the operator starts the step's action (enter)
	NextCards                     // crypto officers present cards
	NextTyped                     // the operator types the confirmation
	NextSign                      // bundles remain to sign
	NextCheckFailed               // the KSR failed its checks: record an exception
	NextDone                      // every step is done and the ceremony closed
	NextReshare                   // the new officers type their cards' passphrases
	NextSignIn                    // the participants' names are typed in, role by role
	NextWitness                   // the step's next witness confirms it, with their own key
	NextChoose                    // the contingencies that apply are chosen
	NextCosign                    // every step is done: the officers cosign the final checkpoint
	NextForged                    // a forged card was refused: record an exception first
	NextBagOpen                   // an item's bag's serial is read, and its condition confirmed
	NextBagSeal                   // an item's new bag's serial is read, twice
	NextTrigger                   // the log shows what a contingency plans for: take one
	NextBackup                    // the recovery holders type their new cards' passphrases
	NextRecoveryCards             // the recovery holders present their cards
)

// Awaiting returns what the ceremony waits for.
func (st Snapshot) Awaiting() Next {
	cur, ok := st.Current()
	if !ok && !st.Closed && len(st.CosignExpected()) > 0 {
		return NextCosign // the roll call before the close
	}
	if st.Closed && st.FinalPending() {
		return NextCosign // the officers present cosign the final checkpoint
	}
	if !ok || st.Closed {
		return NextDone
	}
	switch {
	case st.Forged != "":
		return NextForged
	case st.Triggered != nil:
		return NextTrigger
	case st.CollectingCards():
		return NextCards
	case st.NeedActivation:
		return NextAction
	case st.ActionDone() && len(st.Witnessed) < len(cur.Witnesses):
		return NextWitness
	case st.ActionDone():
		return NextConfirm
	}
	if d, ok := actions[cur.Action]; ok {
		if d.await != nil {
			if next, waits := d.await(st); waits {
				return next
			}
		}
		if d.typed != nil && cur.Confirm != "" && !st.Confirmed {
			return NextTyped
		}
		if d.after != NextConfirm {
			return d.after
		}
	}
	return NextAction
}

// LoggingIn reports whether the current step logs in to the HSM (its
// action, or an activation the log lost): the token's flags are read and
// shown before the officers activate it.
func (st Snapshot) LoggingIn() bool {
	cur, ok := st.Current()
	return ok && (cur.Action == ceremony.ActionHSMLogin || st.NeedActivation)
}

// Continues reports whether the ceremony goes on by itself, without a key:
// once the signature is confirmed, every bundle is signed in one go.
func (st Snapshot) Continues() bool { return st.Awaiting() == NextSign }

// NextWitnessRole is the witness who confirms the current step next, or "".
func (st Snapshot) NextWitnessRole() string {
	cur, ok := st.Current()
	if !ok || len(st.Witnessed) >= len(cur.Witnesses) {
		return ""
	}
	return cur.Witnesses[len(st.Witnessed)]
}

// SkipWitness is the role that confirms skipping the current step: its
// first witness who signed in, or else the IW.
func (st Snapshot) SkipWitness() string {
	cur, _ := st.Current()
	return st.confirmingWitness(cur)
}

// RepeatWitness is the role that confirms repeating the step just done.
func (st Snapshot) RepeatWitness() string {
	if st.Next == 0 {
		return ""
	}
	return st.confirmingWitness(st.Script.Steps()[st.Next-1])
}

// CardWitness is the role that confirms cards in the current step of a
// witnessed quorum: the step's first witness who signed in.
func (st Snapshot) CardWitness() string {
	cur, _ := st.Current()
	if len(cur.Witnesses) == 0 {
		return ""
	}
	return st.confirmingWitness(cur)
}

// confirmingWitness is who confirms a deviation at a step: its first
// witness who signed in, or else the IW (not when the IW acts in it).
func (st Snapshot) confirmingWitness(step ceremony.Step) string {
	present := func(r string) bool {
		_, ok := st.Participants[r]
		return st.Participants == nil || ok
	}
	for _, w := range step.Witnesses {
		if present(w) {
			return w
		}
	}
	if len(step.Witnesses) == 0 && st.Script.HasRole("IW") && step.Role != "IW" && present("IW") {
		return "IW"
	}
	return ""
}

// CurrentStep is the step to do next (a zero Step when every step is done).
func (st Snapshot) CurrentStep() ceremony.Step {
	cur, _ := st.Current()
	return cur
}

// Next returns what the ceremony waits for now.
func (s *Session) Next() Next { return s.view().Awaiting() }
