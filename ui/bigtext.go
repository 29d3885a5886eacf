package ui

import "strings"

// bigFont is a 3×5 pixel font for what the back of the room must read: the
// step's number. Each glyph is five rows, top to bottom.
var bigFont = map[rune][5]string{
	'S': {"###", "#..", "###", "..#", "###"},
	'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'E': {"###", "#..", "##.", "#..", "###"},
	'P': {"###", "#.#", "###", "#..", "#.."},
	'0': {"###", "#.#", "#.#", "#.#", "###"},
	'1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"},
	'3': {"###", "..#", ".##", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"},
	'5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"},
	'7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"},
	'9': {"###", "#.#", "###", "..#", "###"},
	'.': {".", ".", ".", ".", "#"},
	' ': {".", ".", ".", ".", "."},
}

// bigText draws s in bigFont with half blocks: three lines, two pixel rows
// to a line, a blank column between glyphs. Characters the font lacks are
// left out.
func bigText(s string) []string {
	var rows [5]strings.Builder
	first := true
	for _, r := range s {
		g, ok := bigFont[r]
		if !ok {
			continue
		}
		for i := range rows {
			if !first {
				rows[i].WriteByte('.')
			}
			rows[i].WriteString(g[i])
		}
		first = false
	}
	px := func(row, col int) bool {
		if row >= 5 {
			return false
		}
		line := rows[row].String()
		return col < len(line) && line[col] == '#'
	}
	width := len(rows[0].String())
	out := make([]string, 3)
	for l := 0; l < 3; l++ {
		var b strings.Builder
		for x := 0; x < width; x++ {
			switch top, bottom := px(2*l, x), px(2*l+1, x); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		out[l] = b.String()
	}
	return out
}
