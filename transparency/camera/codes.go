// Package camera is the signed checkpoint as a camera sees it: the QR codes
// the console and the web page draw a checkpoint note as, made to survive
// a livestream's scaling and compression, and the reading of them back from
// a recording of the ceremony's screen.
//
// A note that one code holds at the chosen error-correction level and size
// is drawn as one code holding the note's bytes and nothing else, which any
// QR reader shows as the note. A longer one (a final checkpoint with the
// officers' cosignatures) is split into a numbered sequence of codes, each
// a part of the note behind a one-line header that numbers it and binds it
// to the whole:
//
//	keyceremony checkpoint 2/3 1f2e3d4c
//	<the second third of the note's bytes>
//
// where 1f2e3d4c is the first 4 bytes of the note's SHA-256, in hex. The
// screen shows the parts in turn, each for Dwell; a reader reassembles them
// (Assembler) and checks the hash.
package camera

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"rsc.io/qr/coding"
)

// Params are how checkpoint codes are drawn.
type Params struct {
	Level      coding.Level // error correction
	MaxVersion int          // the largest code drawn; longer notes are split
	Quiet      int          // quiet zone, in modules, around each code
}

// Chosen are the parameters the console and the web page draw with,
// chosen by measurement (TestSweep; BENCHMARKS.md, "The checkpoint on
// camera"). On a 160×45 console filmed at 1280×720 a module is 8 pixels
// square, and 5⅓ at 854×480: codes up to version 10 with a quiet zone of 4
// modules decoded from every frame sampled at H.264 CRF 28 and CRF 32,
// at level L as at M and Q; version-13 codes lost frames in one encode or
// the other whatever their level, as the reader's sampling grid drifts
// across more modules of a fractional pixel size. Level L keeps an act's checkpoint (about
// 250 bytes) in one code, which any phone reads as the note itself.
var Chosen = Params{Level: coding.L, MaxVersion: 10, Quiet: 4}

// Dwell is how long each code of a sequence stays on the screen before the
// next: several frames at the reader's sampling rate, and past a key frame
// of a stream that puts one every 2 seconds.
const Dwell = 2 * time.Second

// partPrefix starts every part of a split note.
const partPrefix = "keyceremony checkpoint "

// MaxParts bounds a sequence: a reader holds no more parts of one note.
const MaxParts = 16

// Code is one QR code to draw.
type Code struct {
	Payload  []byte // what the code holds
	Part, Of int    // 1-based; Of is 1 for a note in one code
	Size     int    // modules on a side, without the quiet zone
	Version  int
	Quiet    int // modules of quiet zone to draw around it
	Level    coding.Level
	code     *coding.Code
}

// Black reports whether module (x, y) is dark; x and y count from the
// code's corner, without the quiet zone.
func (c Code) Black(x, y int) bool { return c.code.Black(x, y) }

// Codes draws note at the chosen parameters.
func Codes(note []byte) ([]Code, error) { return Chosen.Codes(note) }

// Codes draws note as one code, or as the fewest parts that each fit in
// a code no larger than p.MaxVersion.
func (p Params) Codes(note []byte) ([]Code, error) {
	if len(note) == 0 {
		return nil, errors.New("an empty note")
	}
	if c, err := p.encode(note); err == nil {
		return []Code{c}, nil
	}
	sum := sha256.Sum256(note)
	tag := hex.EncodeToString(sum[:4])
	for n := 2; n <= MaxParts; n++ {
		var codes []Code
		for i := range n {
			lo, hi := len(note)*i/n, len(note)*(i+1)/n
			payload := fmt.Appendf(nil, "%s%d/%d %s\n", partPrefix, i+1, n, tag)
			c, err := p.encode(append(payload, note[lo:hi]...))
			if err != nil {
				codes = nil
				break
			}
			c.Part, c.Of = i+1, n
			codes = append(codes, c)
		}
		if codes != nil {
			return codes, nil
		}
	}
	return nil, fmt.Errorf("a note of %d bytes needs more than %d codes", len(note), MaxParts)
}

// encode makes the smallest code of version at most p.MaxVersion that
// holds payload in byte mode, with the mask that the standard's penalty
// rules score best (fewest runs, blocks and finder-like patterns, and an
// even share of dark modules: what a camera and a binariser read best).
func (p Params) encode(payload []byte) (Code, error) {
	enc := coding.String(payload)
	for v := coding.Version(1); int(v) <= p.MaxVersion; v++ {
		if enc.Bits(v) > v.DataBytes(p.Level)*8 {
			continue
		}
		var best *coding.Code
		bestScore := 0
		for m := coding.Mask(0); m < 8; m++ {
			plan, err := coding.NewPlan(v, p.Level, m)
			if err != nil {
				return Code{}, err
			}
			c, err := plan.Encode(enc)
			if err != nil {
				return Code{}, err
			}
			if s := penalty(c); best == nil || s < bestScore {
				best, bestScore = c, s
			}
		}
		return Code{Payload: payload, Part: 1, Of: 1, Size: best.Size, Version: int(v), Quiet: p.Quiet, Level: p.Level, code: best}, nil
	}
	return Code{}, fmt.Errorf("%d bytes do not fit in a version %d code at level %s", len(payload), p.MaxVersion, p.Level)
}

// penalty is ISO/IEC 18004's mask evaluation score (section 7.8.3).
func penalty(c *coding.Code) int {
	n := c.Size
	score := 0
	// N1: runs of 5 or more same-coloured modules in a row or column.
	for pass := range 2 {
		for i := range n {
			run, prev := 0, false
			for j := range n {
				x, y := j, i
				if pass == 1 {
					x, y = i, j
				}
				b := c.Black(x, y)
				if j > 0 && b == prev {
					run++
					continue
				}
				if run >= 5 {
					score += 3 + run - 5
				}
				run, prev = 1, b
			}
			if run >= 5 {
				score += 3 + run - 5
			}
		}
	}
	// N2: 2×2 blocks of one colour.
	for y := 0; y+1 < n; y++ {
		for x := 0; x+1 < n; x++ {
			b := c.Black(x, y)
			if c.Black(x+1, y) == b && c.Black(x, y+1) == b && c.Black(x+1, y+1) == b {
				score += 3
			}
		}
	}
	// N3: 1:1:3:1:1 finder-like patterns with 4 light modules beside them.
	pat := []bool{true, false, true, true, true, false, true}
	at := func(x, y int) bool { return x >= 0 && y >= 0 && x < n && y < n && c.Black(x, y) }
	for pass := range 2 {
		for i := range n {
			for j := -4; j < n; j++ {
				get := func(k int) bool {
					if pass == 0 {
						return at(j+k, i)
					}
					return at(i, j+k)
				}
				match := true
				for k, want := range pat {
					if get(k+4) != want && get(k) != want {
						match = false
						break
					}
				}
				if !match {
					continue
				}
				before, after := true, true
				for k := range 4 {
					before = before && !get(k)
					after = after && !get(k+11)
				}
				okBefore := before
				for k, want := range pat {
					okBefore = okBefore && get(k+4) == want
				}
				okAfter := after
				for k, want := range pat {
					okAfter = okAfter && get(k) == want
				}
				if okBefore || okAfter {
					score += 40
				}
			}
		}
	}
	// N4: the share of dark modules away from half.
	dark := 0
	for y := range n {
		for x := range n {
			if c.Black(x, y) {
				dark++
			}
		}
	}
	pct := dark * 100 / (n * n)
	score += 10 * (max(pct-50, 50-pct) / 5)
	return score
}

// Part is one code's payload read back: a whole note (Of 1) or a part of
// one.
type Part struct {
	N, Of int
	Tag   string // the note's hash prefix, for a part
	Data  []byte
}

// ParsePart reads a code's payload.
func ParsePart(payload []byte) (Part, error) {
	if !bytes.HasPrefix(payload, []byte(partPrefix)) {
		return Part{N: 1, Of: 1, Data: payload}, nil
	}
	head, data, ok := bytes.Cut(payload[len(partPrefix):], []byte("\n"))
	if !ok {
		return Part{}, errors.New("a checkpoint part with no line after its header")
	}
	var num, tag string
	if f := bytes.Fields(head); len(f) == 2 {
		num, tag = string(f[0]), string(f[1])
	} else {
		return Part{}, fmt.Errorf("a checkpoint part's header %q is not \"N/M TAG\"", head)
	}
	ns, ms, ok := bytes.Cut([]byte(num), []byte("/"))
	n, err1 := strconv.Atoi(string(ns))
	m, err2 := strconv.Atoi(string(ms))
	if !ok || err1 != nil || err2 != nil || m < 2 || m > MaxParts || n < 1 || n > m {
		return Part{}, fmt.Errorf("a checkpoint part numbered %q: want N/M with 1 ≤ N ≤ M ≤ %d", num, MaxParts)
	}
	if t, err := hex.DecodeString(tag); err != nil || len(t) != 4 {
		return Part{}, fmt.Errorf("a checkpoint part tagged %q: want 8 hex digits", tag)
	}
	return Part{N: n, Of: m, Tag: tag, Data: data}, nil
}

// Assembler gathers parts of split notes, in any order and with repeats,
// and gives each note back once all its parts are in and its hash checks.
type Assembler struct {
	pending map[string][][]byte // tag/of → parts
}

// Add takes one part and returns a whole note when p completes one (a
// note in one code completes at once). A part that contradicts what was
// gathered under its tag (another count, other bytes for its number) or a
// whole that does not hash to its tag is an error.
func (a *Assembler) Add(p Part) ([]byte, error) {
	if p.Of == 1 {
		return p.Data, nil
	}
	if a.pending == nil {
		a.pending = map[string][][]byte{}
	}
	key := p.Tag + "/" + strconv.Itoa(p.Of)
	parts := a.pending[key]
	if parts == nil {
		if len(a.pending) >= 64*MaxParts {
			return nil, errors.New("too many incomplete checkpoint sequences")
		}
		parts = make([][]byte, p.Of)
		a.pending[key] = parts
	}
	if prev := parts[p.N-1]; prev != nil {
		if !bytes.Equal(prev, p.Data) {
			return nil, fmt.Errorf("part %d/%d of checkpoint %s was read with two different contents", p.N, p.Of, p.Tag)
		}
		return nil, nil
	}
	parts[p.N-1] = bytes.Clone(p.Data)
	var whole []byte
	for _, part := range parts {
		if part == nil {
			return nil, nil
		}
		whole = append(whole, part...)
	}
	sum := sha256.Sum256(whole)
	if hex.EncodeToString(sum[:4]) != p.Tag {
		return nil, fmt.Errorf("the %d parts of checkpoint %s do not hash to it", p.Of, p.Tag)
	}
	return whole, nil
}

// Missing lists, for every sequence begun and not completed, its tag and
// the parts not read.
func (a *Assembler) Missing() []string {
	var out []string
	for key, parts := range a.pending {
		var miss []int
		for i, p := range parts {
			if p == nil {
				miss = append(miss, i+1)
			}
		}
		if len(miss) > 0 && len(miss) < len(parts) {
			out = append(out, fmt.Sprintf("%s: parts %v not read", key, miss))
		}
	}
	return out
}
