package ui

import (
	"fmt"
	"image"
	"io"
	"math"

	"github.com/keyceremony/keyceremony/transparency/camera"

	"image/color"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// decodeHalfBlocks reads a QR code back from its half-block drawing (lines
// of █ ▀ ▄ and spaces, other characters around it ignored): each cell is two
// pixels stacked, light where drawn, scaled up and decoded with ZXing.
func decodeHalfBlocks(t *testing.T, lines []string) (string, error) {
	t.Helper()
	const px = 4
	w := 0
	for _, l := range lines {
		w = max(w, len([]rune(l)))
	}
	h := 2 * len(lines)
	img := image.NewGray(image.Rect(0, 0, (w+8)*px, (h+8)*px))
	for i := range img.Pix {
		img.Pix[i] = 255 // a light margin, as the screen around the code
	}
	for row, l := range lines {
		for col, r := range []rune(l) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy, light := range []bool{top, bottom} {
				if light {
					continue
				}
				y := (2*row + dy + 4) * px
				x := (col + 4) * px
				for yy := y; yy < y+px; yy++ {
					for xx := x; xx < x+px; xx++ {
						img.SetGray(xx, yy, color.Gray{0})
					}
				}
			}
		}
	}
	// No hint that the image is a bare code: the finder patterns are
	// located as in a photograph of the screen, as a recording is read.
	payload, err := camera.DecodeImage(img)
	return string(payload), err
}

// TestQRLinesDecode: a signed checkpoint drawn at scales 1 and 2 decodes
// back to the same text, byte for byte.
func TestQRLinesDecode(t *testing.T) {
	text := "demo.keyceremony.invalid/20261128T054702Z/rehearsal\n62\nq0bCeXwJ3d5JYqfq5bWz9SYoXkTtQqC5rVhl8CSdF1I=\n\n" +
		"— demo.keyceremony.invalid/20261128T054702Z/rehearsal AbCdEf0123456789+/AbCdEf0123456789+/AbCdEf0123456789+/AbCdEf0123456789+/AbCdEf0123456789+/AbCd\n"
	for _, scale := range []int{1, 2} {
		lines, err := qrLines(text, 0, scale)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeHalfBlocks(t, lines)
		if err != nil {
			t.Fatalf("scale %d: %v\n%s", scale, err, strings.Join(lines, "\n"))
		}
		if got != text {
			t.Fatalf("scale %d decodes to %q", scale, got)
		}
	}
}

// TestBigText: the step number in the big font reads back pixel for pixel.
func TestBigText(t *testing.T) {
	got := bigText("STEP 3.1")
	want := []string{
		"█▀▀ ▀█▀ █▀▀ █▀█   ▀▀█   ▄█ ",
		"▀▀█  █  █▀  █▀▀    ▀█    █ ",
		"▀▀▀  ▀  ▀▀▀ ▀     ▀▀▀ ▀ ▀▀▀",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %q, want %q\n%s", i, got[i], want[i], strings.Join(got, "\n"))
		}
	}
}

// TestNoColor: with NO_COLOR set, a renderer that could draw 24-bit colour
// draws none; the console's screen then carries no colour sequence, and
// its states still read as words.
func TestNoColor(t *testing.T) {
	for _, env := range []string{"", "1"} {
		r := lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.TrueColor)
		noColor(r, func(k string) string {
			if k == "NO_COLOR" {
				return env
			}
			return ""
		})
		c := newConsole(t, 160, 45)
		c.st = newStyles(r, mustTheme(t, "dark"))
		press(t, c, "enter", "enter", "enter", "enter", "enter", "enter", "enter", "1", "f")
		s := c.View()
		// The themes use the 16 ANSI colours: bright ones are SGR 90–97.
		if hasColour := strings.Contains(s, "\x1b[9") || strings.Contains(s, ";9"); (env != "") == hasColour {
			t.Fatalf("NO_COLOR=%q: colour sequences drawn: %v", env, hasColour)
		}
		if !strings.Contains(s, "[FAIL]") || !strings.Contains(s, "[ OK ]") {
			t.Fatal("the states do not read as words")
		}
	}
}

func mustTheme(t testing.TB, name string) Theme {
	th, ok := themeNamed(name)
	if !ok {
		t.Fatal(name)
	}
	return th
}

// TestThemeContrast computes, from each theme's colours, the WCAG contrast
// ratio of every colour that draws text against the background the theme
// is for, and of the QR code's modules: each at least 4.5:1.
func TestThemeContrast(t *testing.T) {
	for _, name := range []string{"dark", "light"} {
		th := mustTheme(t, name)
		bg := string(th.Background)
		for role, c := range map[string]lipgloss.TerminalColor{"text": th.Text, "muted": th.Muted, "focus": th.Focus, "ok": th.OK,
			"warn": th.Warn, "fail": th.Fail, "banner": th.Banner} {
			col, ok := c.(lipgloss.Color)
			if !ok {
				t.Fatalf("%s: %s is not a colour", name, role)
			}
			if r := contrast(t, string(col), bg); r < 4.5 {
				t.Errorf("%s theme: %s %s on %s: contrast %.2f:1, want at least 4.5:1", name, role, col, bg, r)
			}
		}
		if r := contrast(t, string(th.QRLight.(lipgloss.Color)), string(th.QRDark.(lipgloss.Color))); r < 4.5 {
			t.Errorf("%s theme: QR modules: contrast %.2f:1", name, r)
		}
	}
	if mono := mustTheme(t, "mono"); mono.Text != (lipgloss.NoColor{}) {
		t.Error("the mono theme has a colour")
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	t.Helper()
	lum := func(h string) float64 {
		var r, g, bl uint8
		if _, err := fmt.Sscanf(h, "#%02x%02x%02x", &r, &g, &bl); err != nil {
			t.Fatalf("colour %q: %v", h, err)
		}
		f := func(c uint8) float64 {
			v := float64(c) / 255
			if v <= 0.03928 {
				return v / 12.92
			}
			return math.Pow((v+0.055)/1.055, 2.4)
		}
		return 0.2126*f(r) + 0.7152*f(g) + 0.0722*f(bl)
	}
	la, lb := lum(a), lum(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}
