package ui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	"github.com/keyceremony/keyceremony/ceremony/session"
)

// keyMap holds the console's keys: one for each interaction of the
// ceremony (session.Interactions), and the console's own (help, quit, the
// full-screen views). Keys that do nothing in the current state are
// disabled, so the help line lists only the live ones.
type keyMap struct {
	Confirm, Card, Forged, Exception, Skip, Repeat, Abort, Help, Quit, Yes, No, Cancel, Witness key.Binding
	Checkpoint, Exceptions, Absent, Details                                                     key.Binding
	// byInteraction finds the binding of an interaction's key.
	byInteraction map[string]*key.Binding
}

func newKeys() keyMap {
	k := keyMap{
		Confirm:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")),
		Card:       key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-7", "present card")),
		Forged:     key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "forged card")),
		Exception:  key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "exception")),
		Skip:       key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "skip step")),
		Repeat:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "repeat last step")),
		Abort:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes, quit")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no, go on")),
		Cancel:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Witness:    key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "the witness confirms")),
		Checkpoint: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "checkpoint QR")),
		Exceptions: key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "exceptions so far")),
		Absent:     key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "an officer is absent")),
		Details:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "the step's details")),
	}
	return k
}

// interactionKeys are the bindings of the ceremony's interactions, in the
// order the help line lists them.
func (k *keyMap) interactionKeys() []*key.Binding {
	return []*key.Binding{&k.Confirm, &k.Witness, &k.Card, &k.Absent, &k.Forged, &k.Exception, &k.Skip, &k.Repeat, &k.Abort}
}

// refreshKeys enables exactly the keys that do something now, each with
// its interaction's words.
func (c *Console) refreshKeys() {
	k := &c.keys
	if k.byInteraction == nil {
		k.byInteraction = map[string]*key.Binding{session.KeyConfirm: &k.Confirm, session.KeyWitness: &k.Witness, session.KeyCard: &k.Card,
			session.KeyAbsent: &k.Absent, session.KeyForged: &k.Forged, session.KeyException: &k.Exception, session.KeySkip: &k.Skip,
			session.KeyRepeat: &k.Repeat, session.KeyAbort: &k.Abort}
	}
	for _, b := range k.interactionKeys() {
		b.SetEnabled(false)
	}
	for _, it := range c.live() {
		b := k.byInteraction[it.Key]
		b.SetEnabled(true)
		b.SetHelp(b.Help().Key, it.Help)
	}
	if q := c.state.Script.Quorum; q != nil {
		k.Card.SetHelp(fmt.Sprintf("1-%d", min(len(q.Cards), 9)), k.Card.Help().Desc)
	}
	k.Help.SetEnabled(true)
	k.Quit.SetEnabled(true)
	k.Checkpoint.SetEnabled(c.cp != nil)
	k.Exceptions.SetEnabled(true)
	k.Details.SetEnabled(c.hasDetails())
}
