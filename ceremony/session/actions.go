package session

import (
	"context"
	"fmt"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
)

// actionDef is everything the session and its interaction model say of
// one step action: what enter does (its verb, and its operation), the
// typed confirmation an irreversible action asks, what the step waits for
// once it is confirmed, and what the action needs. The engine says what
// an action's entries mean (ceremony.Apply); this table is the rest. The
// console, --plain and the unattended rehearsal drive the interactions
// made from it, and adding an action adds a row here and its rule in the
// engine.
type actionDef struct {
	// verb is what enter does in the step.
	verb func(st ceremony.State) string
	// typed, when set, is what the typed confirmation of an
	// irreversible action says it does ("generate KSK-2024"); the step
	// waits for it when the script asks one (confirm:).
	typed func(cur ceremony.Step) string
	// await is what the step waits for that enter does not answer, and
	// whether it waits (before or, with after, once the confirmation is
	// typed).
	await func(st Snapshot) (Next, bool)
	// after is what the step waits for once confirmed (NextAction when
	// zero: enter runs the action).
	after Next
	// run is what enter runs; nil for actions whose steps are done by
	// their interactions (cards, bags, the roll call) or by Confirm's own
	// path (signing).
	run func(s *Session, ctx context.Context, cur ceremony.Step) error
	// needs adds what the action needs to n.
	needs func(n *Needs, script *ceremony.Script)
}

func verb(v string) func(ceremony.State) string { return func(ceremony.State) string { return v } }

func needsToken(n *Needs, _ *ceremony.Script) { n.Token = true }

// actions are the step actions, by name.
var actions = map[string]actionDef{
	ceremony.ActionQuorum: {verb: verb("confirm the step"), needs: func(n *Needs, s *ceremony.Script) {
		n.Token = true // the PIN is derived for the token's label
		n.Cards = n.Cards || !s.Quorum.Witnessed()
	}},
	ceremony.ActionHSMLogin: {verb: verb("log in to the HSM"), run: (*Session).login, needs: needsToken},
	ceremony.ActionKSRLoad:  {verb: verb("load the KSR"), run: (*Session).loadKSR, needs: func(n *Needs, _ *ceremony.Script) { n.KSRs++ }},
	ceremony.ActionKSRCheck: {verb: verb("check the KSR"), run: (*Session).checkKSR, needs: needsToken, await: func(st Snapshot) (Next, bool) {
		return NextCheckFailed, st.KSR != nil && st.KSR.Checked && !st.KSR.ChecksOK
	}},
	ceremony.ActionKSRSign: {verb: func(st ceremony.State) string {
		if st.KSR != nil {
			return fmt.Sprintf("sign bundle %d of %d", st.Signed+1, st.KSR.Bundles)
		}
		return "sign"
	}, typed: func(ceremony.Step) string { return "sign every bundle" }, after: NextSign, needs: needsToken},
	ceremony.ActionSKRWrite:  {verb: verb("write the SKR"), run: (*Session).writeSKR, needs: needsToken},
	ceremony.ActionHSMLogout: {verb: verb("log out of the HSM"), run: (*Session).logout, needs: needsToken},
	ceremony.ActionKeyGen: {verb: verb("generate the KSK"), typed: func(cur ceremony.Step) string { return "generate " + cur.Params["label"] },
		run: (*Session).generate, needs: needsToken},
	ceremony.ActionReshare: {verb: verb("deal the new cards"), typed: func(ceremony.Step) string { return "deal new cards" }, after: NextReshare,
		needs: func(n *Needs, s *ceremony.Script) {
			n.Token, n.Reshare = true, true
			n.Cards = n.Cards || !s.Quorum.Witnessed()
		}},
	ceremony.ActionSignIn: {verb: verb("sign the participants in"), after: NextSignIn},
	ceremony.ActionZeroize: {verb: verb("zeroize the HSM"), typed: func(ceremony.Step) string { return "destroy every key in the HSM" },
		run: (*Session).zeroize, needs: needsToken},
	ceremony.ActionChoose: {verb: verb("choose the contingencies that apply"), after: NextChoose},
	ceremony.ActionBackup: {verb: verb("back up the keys"), typed: func(ceremony.Step) string { return "back up every key under a new storage master key" },
		after: NextBackup, needs: func(n *Needs, _ *ceremony.Script) { n.Token, n.Backup = true, true }},
	ceremony.ActionRecovery: {verb: verb("collect the recovery holders' cards"), after: NextRecoveryCards,
		needs: func(n *Needs, _ *ceremony.Script) { n.Recovery = true }},
	ceremony.ActionRestore: {verb: verb("restore the keys"), typed: func(ceremony.Step) string { return "restore the backup's keys into the HSM" },
		await: func(st Snapshot) (Next, bool) { return NextRecoveryCards, !st.Recovery.Reached },
		run:   (*Session).restore, needs: needsToken},
	ceremony.ActionBagOpen: {verb: verb("open the bag"), after: NextBagOpen},
	ceremony.ActionBagSeal: {verb: verb("seal the bag"), after: NextBagSeal},
}

// logout logs the token out: a stop or a restart logged it out already
// when the log says the HSM is not active, and the step records it.
func (s *Session) logout(ctx context.Context, cur ceremony.Step) error {
	if s.state.HSM {
		if err := s.cfg.Token.Logout(ctx); err != nil {
			return fmt.Errorf("log out of token %q: %w; try again", s.cfg.Token.Label(), err)
		}
	}
	return s.append(ctx, event.HSMLogout{Step: cur.ID, Token: s.cfg.Token.Label()})
}
