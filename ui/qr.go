package ui

import (
	"slices"
	"sync"
	"time"

	"github.com/keyceremony/keyceremony/transparency/camera"
)

// A checkpoint's QR codes are made by package camera, at the error
// correction, size and quiet zone chosen for a livestream's camera and
// compression; a note too long for one such code is a numbered sequence,
// shown in turn, each code for camera.Dwell.

// qrLast is the last note's codes and drawing: the checkpoint view is
// drawn again on every tick while it is shown, and its note rarely
// changes.
var qrLast struct {
	sync.Mutex
	note  string
	codes []camera.Code
	err   error
	scale int
	part  int
	lines []string
}

// qrCodes are note's codes.
func qrCodes(note string) ([]camera.Code, error) {
	qrLast.Lock()
	defer qrLast.Unlock()
	if qrLast.note != note || (qrLast.codes == nil && qrLast.err == nil) {
		qrLast.codes, qrLast.err = camera.Codes([]byte(note))
		qrLast.note, qrLast.lines = note, nil
	}
	return qrLast.codes, qrLast.err
}

// qrPart is the part of a sequence of n codes shown at clock, the
// sequence begun at since: each for camera.Dwell, in turn.
func qrPart(n int, since, clock time.Time) int {
	if n <= 1 || since.IsZero() || clock.Before(since) {
		return 0
	}
	return int(clock.Sub(since)/camera.Dwell) % n
}

// qrSplash is how long a checkpoint's codes need the screen: every code
// of its sequence twice, and at least min.
func qrSplash(note string, min time.Duration) time.Duration {
	codes, err := qrCodes(note)
	if err != nil || len(codes) < 2 {
		return min
	}
	return max(min, 2*time.Duration(len(codes))*camera.Dwell)
}

// qrLines draws code part of note at scale, as half blocks (see
// camera.Code.HalfBlocks).
func qrLines(note string, part, scale int) ([]string, error) {
	codes, err := qrCodes(note)
	if err != nil {
		return nil, err
	}
	qrLast.Lock()
	defer qrLast.Unlock()
	if qrLast.lines != nil && qrLast.note == note && qrLast.scale == scale && qrLast.part == part {
		return slices.Clone(qrLast.lines), nil
	}
	lines, err := codes[part].HalfBlocks(scale)
	if err == nil {
		qrLast.scale, qrLast.part, qrLast.lines = scale, part, slices.Clone(lines)
	}
	return lines, err
}
