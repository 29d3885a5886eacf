package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds the console's keys. Keys that do nothing in the current state
// are disabled, so the help line lists only the live ones.
type keyMap struct {
	Confirm, Card, Forged, Exception, Skip, Repeat, Abort, Help, Quit, Yes, No, Cancel, Witness key.Binding
	Checkpoint, Exceptions, Absent                                                              key.Binding
}

func newKeys() keyMap {
	return keyMap{
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
	}
}
