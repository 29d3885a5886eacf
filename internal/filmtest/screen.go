// Package filmtest films the console for tests and benchmarks: it draws a
// terminal screen (the console's View output, colours and all) as an image
// with a monospace font, the way the terminal on the projector draws it,
// and encodes a sequence of such frames with ffmpeg into a recording, as a
// livestream would carry it.
package filmtest

import (
	"image"
	"image/color"
	"image/draw"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// The terminal's own colours, for text and cells that set none: a dark
// terminal, as the console's default theme is made for.
var (
	DefaultFG = color.RGBA{0xd0, 0xd0, 0xd0, 0xff}
	DefaultBG = color.RGBA{0x00, 0x00, 0x00, 0xff}
)

type cell struct {
	r      rune
	fg, bg color.RGBA
}

// Screen is a terminal's cells after a frame was written to it.
type Screen struct {
	Cols, Rows int
	cells      []cell
}

// Parse writes view (lines of text with SGR colour sequences, as the
// console's View returns) on a cols×rows terminal.
func Parse(view string, cols, rows int) *Screen {
	s := &Screen{Cols: cols, Rows: rows, cells: make([]cell, cols*rows)}
	for i := range s.cells {
		s.cells[i] = cell{' ', DefaultFG, DefaultBG}
	}
	fg, bg, reverse := DefaultFG, DefaultBG, false
	x, y := 0, 0
	for i := 0; i < len(view); {
		c := view[i]
		switch {
		case c == '\x1b' && i+1 < len(view) && view[i+1] == '[':
			j := i + 2
			for j < len(view) && (view[j] < 0x40 || view[j] > 0x7e) {
				j++
			}
			if j < len(view) && view[j] == 'm' {
				fg, bg, reverse = sgr(view[i+2:j], fg, bg, reverse)
			}
			i = j + 1
			continue
		case c == '\x1b':
			i += 2 // another escape: skipped
			continue
		case c == '\n':
			x, y = 0, y+1
			i++
			continue
		case c == '\r':
			x = 0
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(view[i:])
		i += n
		w := ansi.StringWidth(string(r))
		if w == 0 {
			continue
		}
		if x+w <= cols && y < rows {
			f, b := fg, bg
			if reverse {
				f, b = b, f
			}
			s.cells[y*cols+x] = cell{r, f, b}
			for k := 1; k < w; k++ {
				s.cells[y*cols+x+k] = cell{0, f, b}
			}
		}
		x += w
	}
	return s
}

// sgr applies one Select Graphic Rendition sequence's parameters.
func sgr(params string, fg, bg color.RGBA, reverse bool) (color.RGBA, color.RGBA, bool) {
	if params == "" {
		return DefaultFG, DefaultBG, false
	}
	ps := strings.Split(strings.ReplaceAll(params, ":", ";"), ";")
	num := func(i int) int {
		if i >= len(ps) {
			return 0
		}
		n, _ := strconv.Atoi(ps[i])
		return n
	}
	for i := 0; i < len(ps); i++ {
		p := num(i)
		switch {
		case p == 0:
			fg, bg, reverse = DefaultFG, DefaultBG, false
		case p == 7:
			reverse = true
		case p == 27:
			reverse = false
		case p >= 30 && p <= 37:
			fg = ansi16[p-30]
		case p >= 90 && p <= 97:
			fg = ansi16[p-90+8]
		case p == 39:
			fg = DefaultFG
		case p >= 40 && p <= 47:
			bg = ansi16[p-40]
		case p >= 100 && p <= 107:
			bg = ansi16[p-100+8]
		case p == 49:
			bg = DefaultBG
		case p == 38 || p == 48:
			var c color.RGBA
			switch num(i + 1) {
			case 5:
				c = ansi256(num(i + 2))
				i += 2
			case 2:
				c = color.RGBA{uint8(num(i + 2)), uint8(num(i + 3)), uint8(num(i + 4)), 0xff}
				i += 4
			default:
				continue
			}
			if p == 38 {
				fg = c
			} else {
				bg = c
			}
		}
	}
	return fg, bg, reverse
}

var ansi16 = [16]color.RGBA{
	{0, 0, 0, 255}, {205, 0, 0, 255}, {0, 205, 0, 255}, {205, 205, 0, 255},
	{0, 0, 238, 255}, {205, 0, 205, 255}, {0, 205, 205, 255}, {229, 229, 229, 255},
	{127, 127, 127, 255}, {255, 0, 0, 255}, {0, 255, 0, 255}, {255, 255, 0, 255},
	{92, 92, 255, 255}, {255, 0, 255, 255}, {0, 255, 255, 255}, {255, 255, 255, 255},
}

func ansi256(n int) color.RGBA {
	switch {
	case n < 16:
		return ansi16[max(n, 0)]
	case n < 232:
		n -= 16
		lv := func(v int) uint8 {
			if v == 0 {
				return 0
			}
			return uint8(55 + 40*v)
		}
		return color.RGBA{lv(n / 36), lv(n / 6 % 6), lv(n % 6), 255}
	default:
		v := uint8(8 + 10*(min(n, 255)-232))
		return color.RGBA{v, v, v, 255}
	}
}

// glyphs caches each character's coverage mask at one cell size.
type glyphs struct {
	mu    sync.Mutex
	face  font.Face
	cw    int
	ch    int
	masks map[rune]*image.Alpha
}

var faces sync.Map // "cw×ch" → *glyphs

func glyphsFor(cw, ch int) *glyphs {
	key := strconv.Itoa(cw) + "x" + strconv.Itoa(ch)
	if g, ok := faces.Load(key); ok {
		return g.(*glyphs)
	}
	f, err := opentype.Parse(gomono.TTF)
	if err != nil {
		panic(err) // the embedded font
	}
	// Go Mono advances 0.6 em: the size at which a glyph fills a cell's width.
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: float64(cw) / 0.6, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic(err)
	}
	g, _ := faces.LoadOrStore(key, &glyphs{face: face, cw: cw, ch: ch, masks: map[rune]*image.Alpha{}})
	return g.(*glyphs)
}

func (g *glyphs) mask(r rune) *image.Alpha {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m, ok := g.masks[r]; ok {
		return m
	}
	m := image.NewAlpha(image.Rect(0, 0, g.cw, g.ch))
	met := g.face.Metrics()
	base := (g.ch*64 + (met.Ascent-met.Descent).Ceil()*64) / 2 / 64 // centre the line's ascent and descent in the cell
	d := font.Drawer{Dst: m, Src: image.Opaque, Face: g.face, Dot: fixed.P(0, base)}
	d.DrawString(string(r))
	g.masks[r] = m
	return m
}

// Draw paints the screen at w×h pixels, as a terminal whose cells are
// w/Cols × h/Rows pixels: characters in Go Mono, and the block elements a
// QR code is drawn with (█ ▀ ▄) as exact rectangles, as terminals draw them.
func (s *Screen) Draw(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(DefaultBG), image.Point{}, draw.Src)
	cw, ch := w/s.Cols, h/s.Rows
	g := glyphsFor(cw, ch)
	ox, oy := (w-cw*s.Cols)/2, (h-ch*s.Rows)/2
	for y := range s.Rows {
		for x := range s.Cols {
			c := s.cells[y*s.Cols+x]
			r := image.Rect(ox+x*cw, oy+y*ch, ox+(x+1)*cw, oy+(y+1)*ch)
			draw.Draw(img, r, image.NewUniform(c.bg), image.Point{}, draw.Src)
			switch c.r {
			case 0, ' ':
			case '█':
				draw.Draw(img, r, image.NewUniform(c.fg), image.Point{}, draw.Src)
			case '▀':
				draw.Draw(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+ch/2), image.NewUniform(c.fg), image.Point{}, draw.Src)
			case '▄':
				draw.Draw(img, image.Rect(r.Min.X, r.Min.Y+ch/2, r.Max.X, r.Max.Y), image.NewUniform(c.fg), image.Point{}, draw.Src)
			default:
				draw.DrawMask(img, r, image.NewUniform(c.fg), image.Point{}, g.mask(c.r), image.Point{}, draw.Over)
			}
		}
	}
	return img
}
