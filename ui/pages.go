package ui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// A screenComponent has the whole screen besides the ceremony: the quit
// question, the keys, the checkpoint, the exceptions, a step's details.
// The root gives it the terminal's size and, while it has the screen,
// every key but ctrl+c; it draws itself from the frame and says what its
// key does.
type screenComponent interface {
	View(f frame) string
	update(msg tea.KeyMsg) pageAnswer
}

// pageAnswer is what a screen's key does.
type pageAnswer int

const (
	pageStays  pageAnswer = iota // the key does nothing here
	pageCloses                   // the screen goes back to the ceremony
	pageBack                     // back to where the question interrupted
	pageQuits                    // the console stops (the stop is logged)
)

// anyKeyCloses is the key of the screens that show and ask nothing: any
// key gives the screen back and does nothing else.
type anyKeyCloses struct{}

func (anyKeyCloses) update(tea.KeyMsg) pageAnswer { return pageCloses }

func (p checkpointPage) update(msg tea.KeyMsg) pageAnswer { return anyKeyCloses{}.update(msg) }
func (p exceptionsPage) update(msg tea.KeyMsg) pageAnswer { return anyKeyCloses{}.update(msg) }
func (p detailsPage) update(msg tea.KeyMsg) pageAnswer    { return anyKeyCloses{}.update(msg) }

// quitPage asks whether to quit: y quits, n goes back to where the
// question interrupted (a dialog keeps what was typed in it).
type quitPage struct {
	w, h   int
	closed bool // the ceremony is closed: leaving loses nothing
	keys   keyMap
}

func (p quitPage) update(msg tea.KeyMsg) pageAnswer {
	switch {
	case key.Matches(msg, p.keys.Yes):
		return pageQuits
	case key.Matches(msg, p.keys.No):
		return pageBack
	}
	return pageStays
}

func (p quitPage) View(f frame) string {
	st := f.sty
	var box string
	if p.closed {
		box = st.PanelTitle.Render("Leave the console?") + "\n\n" +
			st.Text.Render("The ceremony is closed and its log complete.") + "\n\n" +
			st.Focus.Render("y") + st.Help.Render(" leave · ") + st.Focus.Render("n") + st.Help.Render(" stay")
	} else {
		box = st.Fail.Render("Quit the console?") + "\n\n" +
			st.Text.Render("Every step so far is in the log, durable and signed.\nThe ceremony resumes at the current step when the\nsame command is run on the same log folder.") + "\n\n" +
			st.Focus.Render("y") + st.Help.Render(" quit · ") + st.Focus.Render("n") + st.Help.Render(" go on")
	}
	return lipgloss.Place(p.w, p.h, lipgloss.Center, lipgloss.Center, st.Box.Render(box))
}

// helpPage lists every key.
type helpPage struct {
	w, h int
	help help.Model
	keys keyMap
	anyKeyCloses
}

func (p helpPage) View(f frame) string {
	k := p.keys
	box := f.sty.PanelTitle.Render("Keys") + "\n\n" + p.help.FullHelpView([][]key.Binding{{k.Confirm, k.Witness, k.Card, k.Absent, k.Forged}, {k.Exception, k.Skip, k.Repeat, k.Abort}, {k.Checkpoint, k.Exceptions, k.Help, k.Quit}}) +
		"\n\n" + f.sty.Help.Render("any key to close")
	return lipgloss.Place(p.w, p.h, lipgloss.Center, lipgloss.Center, f.sty.Box.Render(box))
}

// screenOf is the screen component that has the screen, in the
// terminal's size; nil while the ceremony has it.
func (c *Console) screenOf() screenComponent {
	switch c.page {
	case pageQuit:
		return quitPage{w: c.width, h: c.height, closed: c.closed, keys: c.keys}
	case pageHelp:
		return helpPage{w: c.width, h: c.height, help: c.help, keys: c.keys}
	case pageCheckpoint:
		return checkpointPage{c.width, c.height}
	case pageExceptions:
		return exceptionsPage{c.width, c.height}
	case pageDetails:
		return detailsPage{c.width, c.height}
	}
	return nil
}
