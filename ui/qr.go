package ui

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"rsc.io/qr"
)

// QR codes are drawn with half blocks: a character cell holds two modules,
// one above the other, so a module is about square on a terminal whose cells
// are twice as tall as wide. Light modules are drawn (█ ▀ ▄) and dark ones
// left blank, with the quiet zone drawn light, on a style that sets a light
// foreground on a dark background: the code reads the same on a dark or a
// light terminal, and in a video of either.
const qrQuiet = 2 // modules of quiet zone around the code

// qrModules encodes text at error correction level L (the smallest code: a
// screen, unlike paper, is not scratched) and returns the module count per
// side and whether module (x, y) is dark.
func qrModules(text string) (int, func(x, y int) bool, error) {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return 0, nil, err
	}
	return code.Size, code.Black, nil
}

// qrScale is the largest scale (modules drawn as scale×scale blocks) at
// which text's code fits in cols×rows cells; 0 when it does not fit at all.
func qrScale(text string, cols, rows int) int {
	n, _, err := qrModules(text)
	if err != nil {
		return 0
	}
	side := n + 2*qrQuiet
	return max(0, min(cols/side, 2*rows/side))
}

// qrLast is the last code drawn: the checkpoint view is drawn again on
// every tick while it is shown, and its note rarely changes.
var qrLast struct {
	sync.Mutex
	text  string
	scale int
	lines []string
}

// QRLines draws text as a QR code in half blocks, scale cells per module
// side, with its quiet zone; each string is one terminal line of equal width.
func QRLines(text string, scale int) ([]string, error) {
	qrLast.Lock()
	defer qrLast.Unlock()
	if qrLast.lines != nil && qrLast.text == text && qrLast.scale == scale {
		return slices.Clone(qrLast.lines), nil
	}
	lines, err := qrDraw(text, scale)
	if err == nil {
		qrLast.text, qrLast.scale, qrLast.lines = text, scale, slices.Clone(lines)
	}
	return lines, err
}

func qrDraw(text string, scale int) ([]string, error) {
	if scale < 1 {
		return nil, fmt.Errorf("QR scale %d", scale)
	}
	n, dark, err := qrModules(text)
	if err != nil {
		return nil, err
	}
	side := (n + 2*qrQuiet) * scale
	light := func(x, y int) bool {
		if y >= side {
			return true // an odd last half-row: quiet zone too
		}
		mx, my := x/scale-qrQuiet, y/scale-qrQuiet
		if mx < 0 || my < 0 || mx >= n || my >= n {
			return true // the quiet zone
		}
		return !dark(mx, my)
	}
	var lines []string
	var b strings.Builder
	for y := 0; y < side; y += 2 {
		b.Reset()
		for x := 0; x < side; x++ {
			switch top, bottom := light(x, y), light(x, y+1); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		lines = append(lines, b.String())
	}
	return lines, nil
}
