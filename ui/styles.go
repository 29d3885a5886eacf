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

// Theme maps the console's semantic roles to colours, each chosen for a
// contrast ratio of at least 4.5:1 (WCAG AA) against the background the
// theme is for, so that a projector or a stream encoder that washes colours
// out still leaves them readable (TestThemeContrast computes the ratios).
// A terminal with fewer colours shows the nearest it has. Every state also
// carries a word or a glyph: colour is never the only signal.
type Theme struct {
	// Background is the terminal background the theme is made for.
	Background                                 lipgloss.Color
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
		return Theme{Background: "#000000", Text: lipgloss.Color("#ffffff"), Muted: lipgloss.Color("#b8b8b8"), Focus: lipgloss.Color("#5fd7ff"),
			OK: lipgloss.Color("#5fd75f"), Warn: lipgloss.Color("#ffd75f"), Fail: lipgloss.Color("#ff7070"), Banner: lipgloss.Color("#ffd75f"),
			QRLight: lipgloss.Color("#ffffff"), QRDark: lipgloss.Color("#000000")}, true
	case "light":
		return Theme{Background: "#ffffff", Text: lipgloss.Color("#000000"), Muted: lipgloss.Color("#555555"), Focus: lipgloss.Color("#0040a0"),
			OK: lipgloss.Color("#006b1e"), Warn: lipgloss.Color("#7a4a00"), Fail: lipgloss.Color("#b00020"), Banner: lipgloss.Color("#b00020"),
			QRLight: lipgloss.Color("#ffffff"), QRDark: lipgloss.Color("#000000")}, true
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
