package camera

import (
	"fmt"
	"strings"
)

// Cells is the size, in terminal cells, of the code drawn at scale by
// HalfBlocks: a module is scale cells wide and scale half-cells tall.
func (c Code) Cells(scale int) (cols, rows int) {
	side := (c.Size + 2*c.Quiet) * scale
	return side, (side + 1) / 2
}

// Scale is the largest scale at which the code fits in cols×rows cells; 0
// when it does not fit at all.
func (c Code) Scale(cols, rows int) int {
	side := c.Size + 2*c.Quiet
	return max(0, min(cols/side, 2*rows/side))
}

// HalfBlocks draws the code for a terminal, with its quiet zone, scale
// cells per module side: a character cell holds two modules, one above the
// other, so a module is about square on a terminal whose cells are twice
// as tall as wide. Light modules are drawn (█ ▀ ▄) and dark ones left
// blank, to go on a style that sets a light foreground on a dark
// background: the code then reads the same on a dark or a light terminal,
// and in a video of either. Each string is one line of equal width.
func (c Code) HalfBlocks(scale int) ([]string, error) {
	if scale < 1 {
		return nil, fmt.Errorf("QR scale %d", scale)
	}
	n, q := c.Size, c.Quiet
	side := (n + 2*q) * scale
	light := func(x, y int) bool {
		if y >= side {
			return true // an odd last half-row: quiet zone too
		}
		mx, my := x/scale-q, y/scale-q
		if mx < 0 || my < 0 || mx >= n || my >= n {
			return true // the quiet zone
		}
		return !c.Black(mx, my)
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
