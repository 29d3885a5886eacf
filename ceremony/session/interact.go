// The interaction model: for each thing the ceremony can wait for, one
// definition of its key, its prompt and hint, the questions it asks, and the
// operation it sends. The full-screen console, the line-by-line mode and
// the unattended rehearsal all drive these definitions.

package session

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// The keys that start an interaction.
const (
	KeyConfirm   = "enter" // the step, its action, the typed confirmation, the close
	KeyWitness   = "w"     // the step's next witness confirms it
	KeyCard      = "card"  // a card, by its number on the roster (the console's 1 to 9)
	KeyAbsent    = "o"     // an officer has gone, or will not cosign
	KeyForged    = "f"     // a forged card (the rehearsal's simulated cards)
	KeyException = "x"     // an exception at the current step
	KeySkip      = "s"     // skip the current step
	KeyRepeat    = "r"     // do the step just done again
	KeyAbort     = "a"     // go straight to the acts that always run
)

// An Interaction is one thing people can do now: the key that starts it,
// its words, and the questions it asks before it sends its operation.
type Interaction struct {
	Key  string
	Help string // what it does, for the help line
	// Main marks what the ceremony waits for now; Prompt says it.
	Main   bool
	Prompt string
	// Inline: the first question is asked by the prompt itself (a card's
	// number, a typed word), rather than after the key.
	Inline bool
	next   func(answers []string) Reply
}

// An Ask is one question of an interaction.
type Ask struct {
	// Prompt is the question, as a line asks it.
	Prompt string
	// Label is the field's label on the full-screen console, or for a
	// secret the whole line said there.
	Label string
	// Hint says how it is answered, under the console's field.
	Hint string
	// Choices say which answers there are, when a line asks it: "1-7".
	Choices string
	// Secret: typed by its holder, never drawn nor echoed.
	Secret bool
	// Exact: the answer is taken as typed, not trimmed.
	Exact bool
	// Optional: an empty answer is an answer.
	Optional bool
	// Card: the answer is a card's number on the roster.
	Card bool
	// Witness, when set, is the role asked to confirm (yes is "y"; the
	// console's key is the witness's own, w); Declined is said when they
	// do not.
	Witness  string
	Declined string
	// Confirms is what the witness's key confirms, in a few words, for the
	// key's help: "the skip of step 2.2".
	Confirms string
	// Auto is what the unattended rehearsal answers.
	Auto string
}

// Reply is an interaction's answer to the answers so far: the next
// question, or the operation to send once all are in. A Problem says why
// the last answers were not taken: with Ask, the last Retry answers are
// dropped and it is asked again; alone, the interaction ends there.
type Reply struct {
	Ask     *Ask
	Op      Op
	Problem string
	Retry   int
}

// Next is the interaction's reply to the answers given so far.
func (i Interaction) Next(answers []string) Reply { return i.next(answers) }

// Yes is the answer that confirms a witness's question.
const Yes = "y"

// Interactions returns what people can do now, in the order the help
// lists them. At most one is Main.
func (st Snapshot) Interactions() []Interaction {
	next := st.Awaiting()
	cosign := next == NextCosign
	rollCall := cosign && !st.Closed
	cur, _ := st.Current()
	var out []Interaction
	add := func(i Interaction) { out = append(out, i) }
	if next != NextCards && next != NextRecoveryCards && next != NextCheckFailed && next != NextForged && next != NextDone && next != NextWitness && (!cosign || rollCall) {
		add(st.confirm(next, rollCall))
	}
	if next == NextWitness {
		w := st.NextWitnessRole()
		help := w + " confirms step " + cur.ID
		add(Interaction{Key: KeyWitness, Help: help, Main: true, Prompt: help, next: op(WitnessStep{})})
	}
	if next == NextCards || (cosign && !rollCall) {
		add(st.card(cosign))
	}
	if next == NextRecoveryCards {
		add(st.recoveryCard())
	}
	if cosign {
		add(st.absent(rollCall))
	}
	if next == NextCards && st.Setup.Simulated {
		add(Interaction{Key: KeyForged, Help: "forged card", next: op(PresentForged{})})
	}
	if next == NextDone || cosign {
		return out
	}
	x := Interaction{Key: KeyException, Help: "exception", next: text(Ask{Label: "Exception: ", Prompt: "What happened, and what was done", Hint: "enter to record · esc to cancel"},
		func(t string) Op { return RecordException{Text: t} })}
	if next == NextCheckFailed {
		x.Main, x.Prompt = true, "the KSR failed its checks: record an exception and stop the signing"
	}
	if next == NextForged {
		// A security event: nothing goes on until it is recorded.
		what := "a FORGED card bearing " + st.Script.Quorum.Named(st.Forged) + "'s name was refused"
		x.Main, x.Help, x.Prompt = true, "record the forged card", what+": record an exception before any other card"
		x.next = text(Ask{Label: "Exception, forged card " + st.Forged + ": ", Prompt: what + ": what happened, and what was done",
			Hint: "enter to record · esc to cancel", Auto: "Rehearsal: " + what + " as planned; the officer presents the real card"},
			func(t string) Op { return RecordException{Text: t} })
	}
	add(x)
	if w := st.SkipWitness(); cur.Action == "" && w != "" {
		add(Interaction{Key: KeySkip, Help: "skip step", next: deviation(
			Ask{Label: "Skip, because: ", Prompt: "Why step " + cur.ID + " is skipped", Hint: "enter, then the witness confirms · esc to cancel"},
			func(why string) Ask {
				return Ask{Witness: w, Prompt: fmt.Sprintf("%s: skip step %s because %s?", w, cur.ID, why), Declined: "Not confirmed: the step stays open.", Auto: Yes,
					Confirms: "the skip of step " + cur.ID}
			}, func(why string) Op { return Skip{Reason: why} })})
	}
	if w := st.RepeatWitness(); st.Next > 0 && w != "" && !st.StepBegun() && next != NextTrigger {
		if prev := st.Script.Steps()[st.Next-1]; prev.Action == "" {
			add(Interaction{Key: KeyRepeat, Help: "repeat last step", next: deviation(
				Ask{Label: "Repeat, because: ", Prompt: "Why step " + prev.ID + ", just done, is done again", Hint: "enter, then the witness confirms · esc to cancel"},
				func(why string) Ask {
					return Ask{Witness: w, Prompt: fmt.Sprintf("%s: repeat step %s because %s?", w, prev.ID, why), Declined: "Not confirmed: nothing is repeated.", Auto: Yes,
						Confirms: "the repeat of step " + prev.ID}
				}, func(why string) Op { return Repeat{Reason: why} })})
		}
	}
	if st.Aborted == nil && !st.Script.Acts[cur.Act].Always {
		add(Interaction{Key: KeyAbort, Help: "abort", next: abort})
	}
	return out
}

// Main is what the ceremony waits for now, if anything people do answers
// it.
func (st Snapshot) Main() (Interaction, bool) {
	for _, i := range st.Interactions() {
		if i.Main {
			return i, true
		}
	}
	return Interaction{}, false
}

// confirm is the enter key: the step's action or the step itself, with the
// questions some actions ask first.
func (st Snapshot) confirm(next Next, rollCall bool) Interaction {
	cur, _ := st.Current()
	verb := ActionVerb(cur.Action, st.State)
	i := Interaction{Key: KeyConfirm, Help: verb, Main: true, Prompt: verb, next: op(Confirm{What: verb})}
	switch {
	case rollCall:
		i.Help, i.Prompt, i.next = "close the ceremony", "close the ceremony with the officers here", op(CloseForCosign{})
	case next == NextConfirm:
		i.Help, i.Prompt, i.next = "confirm step "+cur.ID, "confirm the step", op(Confirm{What: "confirming the step"})
	case next == NextTyped:
		what := "confirm the step"
		if typed := actions[cur.Action].typed; typed != nil {
			what = typed(cur)
		}
		i.Help, i.Inline = "type the confirmation", true
		i.next = func(a []string) Reply {
			if len(a) == 0 {
				return Reply{Ask: &Ask{Label: "Confirm by typing: ", Prompt: fmt.Sprintf("Type %s to %s", cur.Confirm, what), Hint: "enter to record · esc to cancel",
					Exact: true, Auto: cur.Confirm}}
			}
			return Reply{Op: TypeConfirmation{Text: a[0]}}
		}
	case next == NextChoose:
		i.Inline = true
		i.Prompt = "Contingencies that apply: their ids, separated by spaces; enter alone: none"
		i.next = func(a []string) Reply {
			if len(a) == 0 {
				return Reply{Ask: &Ask{Label: "Contingencies: ", Prompt: i.Prompt, Hint: "enter to record · esc to cancel", Optional: true}}
			}
			return Reply{Op: Choose{IDs: strings.Fields(a[0])}}
		}
	case next == NextSignIn:
		i.Prompt = "sign the participants in, role by role"
		i.next = st.signIn
	case next == NextBagOpen:
		i.Prompt, i.Help = "read the bag's serial aloud and type it", "open the bag"
		i.next = st.bagOpen
	case next == NextBagSeal:
		i.Prompt, i.Help = "read the new bag's serial aloud and type it, twice", "seal the bag"
		i.next = st.bagSeal
	case next == NextBackup:
		i.Prompt = "the recovery holders type their new cards' passphrases"
		i.next = st.recoveryPassphrases
	case next == NextTrigger:
		i.Help = "take a planned contingency"
		i.Prompt = "INCIDENT: " + st.TriggerWords() + ": take a planned contingency"
		i.next = st.invoke
	case next == NextReshare:
		i.Prompt = "the new officers type their passphrases"
		i.next = st.newPassphrases
	}
	return i
}

// signIn asks each role's name in turn; enter alone: absent.
func (st Snapshot) signIn(a []string) Reply {
	roles := st.Script.Roles
	if len(a) < len(roles) {
		r := roles[len(a)]
		auto := "Rehearsal " + r.Title
		if c, ok := st.Script.Quorum.Card(r.ID); ok {
			auto = c.Holder
		}
		return Reply{Ask: &Ask{Label: "Sign-in: ", Prompt: fmt.Sprintf("Name of the %s (%s), or enter if absent", r.Title, r.ID),
			Hint: "enter to record · esc to cancel", Optional: true, Auto: auto}}
	}
	names := map[string]string{}
	for i, r := range roles {
		names[r.ID] = strings.TrimSpace(a[i])
	}
	return Reply{Op: SignIn{Names: names}}
}

// newPassphrases asks each new officer for their card's passphrase, twice.
func (st Snapshot) newPassphrases(a []string) Reply {
	return cardPassphrases(st.Setup.NewHolders, a, newPassAsk, func(p map[string]string) Op { return Reshare{Passphrases: p} })
}

// cardPassphrases asks each holder of a new card for its passphrase, twice
// (at least 8 characters, the two typings alike), and sends op with them.
func cardPassphrases(holders []quorum.CardInfo, a []string, ask func(quorum.CardInfo, bool) *Ask, op func(map[string]string) Op) Reply {
	if n := len(a); n > 0 {
		h := holders[(n-1)/2]
		switch {
		case n%2 == 1 && len(a[n-1]) < 8:
			return Reply{Ask: ask(h, false), Problem: fmt.Sprintf("card %s: at least 8 characters; type it again", h.ID), Retry: 1}
		case n%2 == 0 && a[n-1] != a[n-2]:
			return Reply{Ask: ask(h, false), Problem: fmt.Sprintf("card %s: the two typings differ; type it again", h.ID), Retry: 2}
		}
	}
	if len(a) < 2*len(holders) {
		return Reply{Ask: ask(holders[len(a)/2], len(a)%2 == 1)}
	}
	passes := map[string]string{}
	for i, h := range holders {
		passes[h.ID] = a[2*i]
	}
	return Reply{Op: op(passes)}
}

func newPassAsk(h quorum.CardInfo, again bool) *Ask {
	what := fmt.Sprintf("passphrase for new card %s (%s)", h.ID, h.Holder)
	if again {
		what += ", again"
	}
	return &Ask{Secret: true, Exact: true, Prompt: what, Label: "The new officer types the " + what + ", then enter.",
		Hint: "nothing typed is shown · esc to cancel every new card", Auto: "rehearsal passphrase of " + h.ID}
}

// card is a card presented by its number: to the quorum (read and checked,
// or in a witnessed quorum recorded as the HSM accepted it), or after the
// close to cosign the final checkpoint.
func (st Snapshot) card(cosign bool) Interaction {
	q := st.Script.Quorum
	i := Interaction{Key: KeyCard, Help: "present card", Main: true, Inline: true}
	first := Ask{Card: true, Prompt: "Card", Choices: fmt.Sprintf("1-%d", len(q.Cards))}
	switch {
	case cosign:
		var waiting []string
		for _, id := range st.Present {
			if !contains(st.Final.Cosigned, id) && !contains(st.Final.Declined, id) {
				waiting = append(waiting, id)
			}
		}
		i.Help = "card in to cosign"
		first.Prompt, first.Choices = "Officer's card to cosign, "+strings.Join(waiting, ", ")+" to come", "its number on the roster"
	case q.Witnessed():
		first.Prompt = "Card the HSM accepted"
	}
	i.Prompt = first.Prompt
	i.next = func(a []string) Reply {
		if len(a) == 0 {
			return Reply{Ask: &first}
		}
		n := CardNumber(strings.TrimSpace(a[0]), len(q.Cards))
		if n == 0 {
			return Reply{Problem: fmt.Sprintf("%q is not a card number", strings.TrimSpace(a[0]))}
		}
		info := q.Cards[n-1]
		if q.Witnessed() && !cosign {
			return witnessCard(st, info, a[1:])
		}
		if st.Setup.SecretName != "" && len(a) == 1 {
			return Reply{Ask: holderSecret(fmt.Sprintf("%s of card %s (%s)", st.Setup.SecretName, info.ID, info.Holder), info.ID)}
		}
		secret := ""
		if len(a) > 1 {
			secret = a[1]
		}
		if cosign {
			return Reply{Op: PresentCosigner{ID: info.ID, Secret: secret}}
		}
		return Reply{Op: PresentCard{ID: info.ID, Secret: secret}}
	}
	return i
}

// holderSecret is the question a card's holder answers, unseen, to open
// it: what (its passphrase or PIN, and which card), and the rehearsal's
// answer for the card.
func holderSecret(what, id string) *Ask {
	return &Ask{Secret: true, Exact: true, Prompt: what, Label: "The holder types the " + what + ", then enter.",
		Hint: "nothing typed is shown · esc to cancel", Auto: "rehearsal passphrase of " + id}
}

// witnessCard asks, in a witnessed quorum, for the serial the HSM shows for
// the card it accepted, then for the witness's confirmation.
func witnessCard(st Snapshot, info quorum.CardInfo, a []string) Reply {
	if len(a) == 0 {
		serial := info.Serial
		if serial == "" {
			serial = "REHEARSAL-" + info.ID
		}
		what := fmt.Sprintf("Serial of card %s (%s) as the HSM shows it", info.ID, info.Holder)
		return Reply{Ask: &Ask{Prompt: what, Label: what + ": ", Hint: "enter, then the witness confirms · esc to cancel", Auto: serial}}
	}
	serial := strings.TrimSpace(a[0])
	if serial == "" {
		return Reply{}
	}
	if len(a) == 1 {
		w := st.CardWitness()
		return Reply{Ask: &Ask{Witness: w, Prompt: fmt.Sprintf("%s: the HSM accepted card %s (%s), serial %s?", w, info.ID, info.Holder, serial),
			Declined: "Not confirmed: nothing recorded.", Auto: Yes, Confirms: "card " + info.ID + "'s serial"}}
	}
	if a[1] != Yes {
		return Reply{Problem: "Not confirmed: nothing recorded."}
	}
	return Reply{Op: WitnessCard{ID: info.ID, Serial: serial}}
}

// absent marks an officer gone at the roll call (again: back), or, after
// the close, as not cosigning.
func (st Snapshot) absent(rollCall bool) Interaction {
	help, what := "an officer will not cosign", "who will not cosign"
	if rollCall {
		help, what = "an officer has gone", "who has gone (again: is back)"
	}
	cards := st.Script.Quorum.Cards
	return Interaction{Key: KeyAbsent, Help: help, next: func(a []string) Reply {
		if len(a) == 0 {
			return Reply{Ask: &Ask{Card: true, Label: "Officer: ", Prompt: "Number of the officer " + what, Hint: "enter to record · esc to cancel"}}
		}
		n := CardNumber(strings.TrimSpace(a[0]), len(cards))
		if n == 0 {
			return Reply{Problem: fmt.Sprintf("%q is not a card number; nobody was recorded absent", strings.TrimSpace(a[0]))}
		}
		return Reply{Op: MarkAbsent{ID: cards[n-1].ID}}
	}}
}

// abort asks why, then for ABORT typed exactly.
func abort(a []string) Reply {
	switch len(a) {
	case 0:
		return Reply{Ask: &Ask{Label: "ABORT, because: ", Prompt: "Why the ceremony is aborted", Hint: "enter, then type ABORT · esc to cancel"}}
	case 1:
		if strings.TrimSpace(a[0]) == "" {
			return Reply{}
		}
		return Reply{Ask: &Ask{Label: "Confirm by typing: ", Prompt: "Type ABORT to go straight to securing the equipment and closing",
			Hint: "enter to record · esc to cancel", Exact: true, Auto: "ABORT"}}
	}
	if a[1] != "ABORT" {
		return Reply{Problem: fmt.Sprintf("typed %q; nothing was aborted", a[1])}
	}
	return Reply{Op: Abort{Reason: strings.TrimSpace(a[0])}}
}

// op is an interaction that asks nothing.
func op(o Op) func([]string) Reply { return func([]string) Reply { return Reply{Op: o} } }

// text is an interaction that asks one line of text: nothing is done when
// it is left empty.
func text(ask Ask, f func(string) Op) func([]string) Reply {
	return func(a []string) Reply {
		if len(a) == 0 {
			return Reply{Ask: &ask}
		}
		t := strings.TrimSpace(a[0])
		if t == "" {
			return Reply{}
		}
		return Reply{Op: f(t)}
	}
}

// deviation asks why, then for a witness's confirmation.
func deviation(why Ask, confirm func(string) Ask, f func(string) Op) func([]string) Reply {
	return func(a []string) Reply {
		switch len(a) {
		case 0:
			return Reply{Ask: &why}
		case 1:
			r := strings.TrimSpace(a[0])
			if r == "" {
				return Reply{}
			}
			c := confirm(r)
			return Reply{Ask: &c}
		}
		if a[1] != Yes {
			return Reply{Problem: confirm(strings.TrimSpace(a[0])).Declined}
		}
		return Reply{Op: f(strings.TrimSpace(a[0]))}
	}
}

// CardNumber reads a card's number on the roster (from 1), or 0.
func CardNumber(s string, n int) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > n || strconv.Itoa(v) != s {
		return 0
	}
	return v
}

// ActionVerb names what enter does in a step with an action.
func ActionVerb(action string, st ceremony.State) string {
	if st.NeedActivation {
		return "activate the HSM again"
	}
	if v := actions[action].verb; v != nil {
		return v(st)
	}
	return "confirm the step"
}
