package ui

import (
	"io"
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// rendererFor draws on out with the terminal's colour profile, and with no
// colour at all when NO_COLOR is set (https://no-color.org): every state
// still reads, by its words and glyphs.
func rendererFor(out io.Writer) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(out)
	noColor(r, os.Getenv)
	return r
}

// noColor drops r's colours when the environment sets NO_COLOR to anything
// but the empty string.
func noColor(r *lipgloss.Renderer, getenv func(string) string) {
	if getenv("NO_COLOR") != "" {
		r.SetColorProfile(termenv.Ascii)
	}
}

// Theme maps the console's semantic roles to the 16 ANSI colours, so the
// projector, the stream encoder and the terminal's own palette decide the
// exact shades. Every state also carries a word or a glyph: colour is never
// the only signal.
type Theme struct {
	Text, Muted, Focus, OK, Warn, Fail, Banner lipgloss.TerminalColor
	// QRLight and QRDark draw a QR code's light and dark modules.
	QRLight, QRDark lipgloss.TerminalColor
}

// ValidTheme reports whether --theme names a theme.
func ValidTheme(name string) bool {
	_, ok := themeNamed(name)
	return ok
}

// Themes by name, for --theme.
func themeNamed(name string) (Theme, bool) {
	switch name {
	case "dark", "":
		return Theme{Text: lipgloss.Color("15"), Muted: lipgloss.Color("7"), Focus: lipgloss.Color("14"),
			OK: lipgloss.Color("10"), Warn: lipgloss.Color("11"), Fail: lipgloss.Color("9"), Banner: lipgloss.Color("11"),
			QRLight: lipgloss.Color("15"), QRDark: lipgloss.Color("0")}, true
	case "light":
		return Theme{Text: lipgloss.Color("0"), Muted: lipgloss.Color("8"), Focus: lipgloss.Color("4"),
			OK: lipgloss.Color("2"), Warn: lipgloss.Color("3"), Fail: lipgloss.Color("1"), Banner: lipgloss.Color("1"),
			QRLight: lipgloss.Color("15"), QRDark: lipgloss.Color("0")}, true
	case "mono":
		n := lipgloss.NoColor{}
		// The QR code is drawn in the terminal's own foreground: light on a
		// dark terminal, as it should be.
		return Theme{Text: n, Muted: n, Focus: n, OK: n, Warn: n, Fail: n, Banner: n, QRLight: n, QRDark: n}, true
	}
	return Theme{}, false
}

// Styles are every style the console uses, built from a theme.
type Styles struct {
	Header, Banner, Title, Clock           lipgloss.Style
	StepID, Role, Text, Muted, Box         lipgloss.Style
	Done, Current, Pending                 lipgloss.Style
	OK, Warn, Fail, Focus                  lipgloss.Style
	Status, Help, Panel, PanelTitle, Input lipgloss.Style
	QR                                     lipgloss.Style
}

func newStyles(r *lipgloss.Renderer, t Theme) Styles {
	s := r.NewStyle
	return Styles{
		Header:     s().Foreground(t.Text).Bold(true),
		Banner:     s().Foreground(t.Banner).Bold(true).Reverse(true).Padding(0, 1),
		Title:      s().Foreground(t.Text).Bold(true),
		Clock:      s().Foreground(t.Text),
		StepID:     s().Foreground(t.Focus).Bold(true),
		Role:       s().Foreground(t.Text).Bold(true),
		Text:       s().Foreground(t.Text),
		Muted:      s().Foreground(t.Muted),
		Box:        s().Border(lipgloss.RoundedBorder()).BorderForeground(t.Focus).Padding(0, 1),
		Done:       s().Foreground(t.OK),
		Current:    s().Foreground(t.Focus).Bold(true),
		Pending:    s().Foreground(t.Muted),
		OK:         s().Foreground(t.OK).Bold(true),
		Warn:       s().Foreground(t.Warn).Bold(true),
		Fail:       s().Foreground(t.Fail).Bold(true),
		Focus:      s().Foreground(t.Focus).Bold(true),
		Status:     s().Foreground(t.Text),
		Help:       s().Foreground(t.Muted),
		Panel:      s().Border(lipgloss.NormalBorder()).BorderForeground(t.Muted).Padding(0, 1),
		PanelTitle: s().Foreground(t.Text).Bold(true),
		Input:      s().Foreground(t.Focus).Bold(true),
		QR:         s().Foreground(t.QRLight).Background(t.QRDark),
	}
}
