package ui

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/internal/safetext"
)

// dialog is the console's component for an interaction in progress: it
// asks the interaction's questions one at a time (a line of text, a secret
// nothing of which is drawn, or a witness's confirmation), and ends with
// the operation to send, a problem to show, or nothing.
type dialog struct {
	it      session.Interaction
	answers []string
	ask     session.Ask
	input   textinput.Model
	width   int
	keys    dialogKeys
}

type dialogKeys struct {
	Enter, Witness, Cancel key.Binding
}

// dialogEnd is how a dialog ended: an operation to send, or a note (a
// problem, or a confirmation declined), or neither when it was cancelled.
type dialogEnd struct {
	op      session.Op
	note    string
	failed  bool // the note is a problem
	warned  bool // the note says something was not done
	cleared bool // the dialog is over
}

// openDialog starts an interaction with the answers its key gave (a card's
// number). It returns the dialog when a question is to be asked, or how
// it ended at once.
func openDialog(it session.Interaction, answers []string, width int) (*dialog, dialogEnd) {
	d := &dialog{it: it, answers: answers, width: width}
	in := textinput.New()
	in.CharLimit = 500
	in.Cursor.SetMode(cursor.CursorStatic) // no blinking on a projected screen
	d.input = in
	if end := d.advance(); end.cleared {
		return nil, end
	}
	return d, dialogEnd{}
}

// advance asks the interaction what comes after the answers so far.
func (d *dialog) advance() dialogEnd {
	r := d.it.Next(d.answers)
	switch {
	case r.Op != nil:
		return dialogEnd{op: r.Op, cleared: true}
	case r.Ask == nil:
		return dialogEnd{note: r.Problem, failed: r.Problem != "", cleared: true}
	}
	if r.Retry > 0 {
		d.answers = d.answers[:max(0, len(d.answers)-r.Retry)]
	}
	d.ask = *r.Ask
	d.input.Reset()
	d.input.Placeholder = d.ask.Prompt
	d.input.EchoMode = textinput.EchoNormal
	if d.ask.Secret {
		d.input.EchoMode = textinput.EchoNone // not even its length: the screen is filmed
	}
	d.input.Focus()
	d.keys = dialogKeys{
		Enter:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "record")),
		Witness: key.NewBinding(key.WithKeys("w"), key.WithHelp("w", d.witnessHelp())),
		Cancel:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
	d.keys.Enter.SetEnabled(d.ask.Witness == "")
	d.keys.Witness.SetEnabled(d.ask.Witness != "")
	return dialogEnd{note: r.Problem, failed: r.Problem != ""}
}

// witnessHelp is what the witness's key does in this dialog.
func (d *dialog) witnessHelp() string {
	if d.ask.Confirms != "" {
		return d.ask.Witness + " confirms " + d.ask.Confirms
	}
	return d.ask.Witness + " confirms"
}

// answer takes the answer to the question asked.
func (d *dialog) answer(a string) dialogEnd {
	d.answers = append(d.answers, a)
	return d.advance()
}

// update handles a key: enter answers a question, the witness's w confirms,
// esc cancels; other keys are typed into the field.
func (d *dialog) update(msg tea.KeyMsg) (tea.Cmd, dialogEnd) {
	switch {
	case key.Matches(msg, d.keys.Cancel):
		if d.ask.Witness != "" {
			return nil, dialogEnd{note: d.ask.Declined, warned: true, cleared: true}
		}
		return nil, dialogEnd{cleared: true}
	case d.ask.Witness != "":
		if key.Matches(msg, d.keys.Witness) {
			return nil, d.answer(session.Yes)
		}
		return nil, dialogEnd{}
	case key.Matches(msg, d.keys.Enter):
		return nil, d.answer(d.input.Value()) // as typed: the interaction trims what it may
	}
	var cmd tea.Cmd
	d.input, cmd = d.input.Update(msg)
	// What is typed is drawn on the room's screen and may be logged: a
	// character that would reorder the text around it (a bidi override,
	// pasted) is kept as its escape, in plain sight. A secret is neither
	// drawn nor changed.
	if !d.ask.Secret {
		if v := d.input.Value(); safetext.Printable(v) != v {
			d.input.SetValue(safetext.Printable(v))
		}
	}
	return cmd, dialogEnd{}
}

// ShortHelp is the dialog's keys, for the help line while it is open.
func (d *dialog) ShortHelp() []key.Binding {
	var out []key.Binding
	for _, k := range []key.Binding{d.keys.Enter, d.keys.Witness, d.keys.Cancel} {
		if k.Enabled() {
			out = append(out, k)
		}
	}
	return out
}

// SetSize sets the width the dialog is drawn in.
func (d *dialog) SetSize(w, _ int) { d.width = w }

// View draws the question being asked: a field with its label, a secret's
// line (nothing typed is drawn), or the witness's question and key.
func (d *dialog) View(sty Styles) string {
	a := d.ask
	switch {
	case a.Witness != "":
		return "\n" + sty.Warn.Render(a.Prompt) + "\n" + sty.Focus.Render("w") + sty.Help.Render(" "+d.witnessHelp()+" · esc: not so") + "\n"
	case a.Secret:
		return "\n" + sty.Input.Render(a.Label) + "\n" + sty.Muted.Render(a.Hint) + "\n"
	}
	return "\n" + sty.Input.Render(a.Label) + d.input.View() + "\n" + sty.Muted.Render(a.Hint) + "\n"
}
