package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// SampleRate is how many frames a second of recording are read: each code
// of a sequence is on the screen for Dwell, so every one is sampled
// several times, and a checkpoint's first appearance is known to half a
// second.
const SampleRate = 2

// Bounds on what a recording may make a reader hold.
const (
	maxFrameBytes = 3840 * 2160 // a 4K frame in grey
	maxNotes      = 10000       // distinct notes kept
	maxForeign    = 100         // foreign codes reported
)

// Filmed is a signed checkpoint note read from a recording.
type Filmed struct {
	At   time.Duration // where in the recording it is first complete
	Note []byte
	// Origin, Size and Root are the note's checkpoint, and Signers the
	// names on its signature lines (the log's first, then cosigners'),
	// as the note states them: Verify checks them against keys.
	Origin  string
	Size    uint64
	Root    transparency.Hash
	Signers []string
}

// Foreign is a QR code in a recording that is not a checkpoint note, or a
// sequence of parts that did not make one.
type Foreign struct {
	At   time.Duration
	What string // sanitised, one line
}

// Recording is what Read found.
type Recording struct {
	Width, Height int
	Duration      time.Duration // as the container states it; 0 if unknown
	Frames        int           // frames read (SampleRate a second)
	Read          time.Duration // how long reading took
	Notes         []Filmed      // in order of first appearance
	Foreign       []Foreign
}

// ReadOptions tune Read.
type ReadOptions struct {
	// Progress, when set, is called now and then with the time in the
	// recording reached and its whole duration (0 if unknown).
	Progress func(at, of time.Duration)
	// Workers decode frames in parallel; runtime.GOMAXPROCS(0) if 0.
	Workers int
	// FFmpeg is the ffmpeg to run; "ffmpeg" from PATH if empty, ffprobe
	// beside it.
	FFmpeg string
}

// ErrNoFFmpeg says that ffmpeg is not installed.
var ErrNoFFmpeg = errors.New("ffmpeg is not installed: install it (Debian: apt-get install ffmpeg)")

// Read decodes the recording at path with ffmpeg (whatever it reads: MP4,
// WebM, a stream's saved segments), samples SampleRate frames a second,
// finds and decodes the QR code on each, reassembles split notes, and
// keeps every distinct signed checkpoint note with the time in the
// recording where it is first complete.
func Read(ctx context.Context, path string, o ReadOptions) (*Recording, error) {
	start := time.Now()
	ffmpeg := o.FFmpeg
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if _, err := exec.LookPath(ffmpeg); err != nil {
		return nil, ErrNoFFmpeg
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	rec, err := probe(ctx, ffmpeg, path)
	if err != nil {
		return nil, err
	}
	w, h := rec.Width, rec.Height
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "0",
		"-i", path, "-map", "0:v:0", "-an", "-sn",
		"-vf", fmt.Sprintf("fps=%d,scale=%d:%d,format=gray", SampleRate, w, h),
		"-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type frame struct {
		i   int
		pix []byte
	}
	type found struct {
		i       int
		payload []byte // nil: no code
	}
	frames := make(chan frame, workers)
	results := make(chan found, workers)
	pool := sync.Pool{New: func() any { return make([]byte, w*h) }}
	var readErr error
	go func() {
		defer close(frames)
		br := bufio.NewReaderSize(out, 1<<20)
		for i := 0; ; i++ {
			pix := pool.Get().([]byte)
			if _, err := io.ReadFull(br, pix); err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			select {
			case frames <- frame{i, pix}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range frames {
				payload := decodeGray(f.pix, w, h)
				pool.Put(f.pix)
				results <- found{f.i, payload}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// Results are taken in frame order, so that "first" means first in
	// the recording whatever worker finished first.
	var asm Assembler
	seen := map[string]bool{}
	foreign := map[string]bool{}
	held := map[int][]byte{}
	next := 0
	addForeign := func(at time.Duration, what string) {
		if !foreign[what] && len(rec.Foreign) < maxForeign {
			foreign[what] = true
			rec.Foreign = append(rec.Foreign, Foreign{At: at, What: what})
		}
	}
	take := func(i int, payload []byte) {
		at := time.Duration(i) * time.Second / SampleRate
		if o.Progress != nil && i%(10*SampleRate) == 0 {
			o.Progress(at, rec.Duration)
		}
		if payload == nil {
			return
		}
		part, err := ParsePart(payload)
		if err != nil {
			addForeign(at, err.Error())
			return
		}
		note, err := asm.Add(part)
		if err != nil {
			addForeign(at, err.Error())
			return
		}
		if note == nil || seen[string(note)] {
			return
		}
		seen[string(note)] = true
		f, err := parseNote(note)
		if err != nil {
			addForeign(at, fmt.Sprintf("a QR code that is not a signed checkpoint note (%v): %s", err, safetext.Printable(string(note[:min(len(note), 80)]))))
			return
		}
		if len(rec.Notes) < maxNotes {
			f.At = at
			rec.Notes = append(rec.Notes, f)
		}
	}
	for r := range results {
		held[r.i] = r.payload
		for {
			p, ok := held[next]
			if !ok {
				break
			}
			delete(held, next)
			take(next, p)
			next++
		}
	}
	rec.Frames = next
	waitErr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err // the caller's context ended: ffmpeg was stopped
	}
	if waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, fmt.Errorf("ffmpeg could not decode it: %s", safetext.Printable(msg))
	}
	if readErr != nil {
		return nil, readErr
	}
	for _, m := range asm.Missing() {
		addForeign(time.Duration(rec.Frames)*time.Second/SampleRate, "an incomplete sequence of checkpoint codes: "+m)
	}
	if o.Progress != nil {
		o.Progress(time.Duration(rec.Frames)*time.Second/SampleRate, rec.Duration)
	}
	rec.Read = time.Since(start)
	return rec, nil
}

// probe reads the recording's picture size and duration with ffprobe.
func probe(ctx context.Context, ffmpeg, path string) (*Recording, error) {
	ffprobe := "ffprobe"
	if i := strings.LastIndexByte(ffmpeg, '/'); i >= 0 {
		ffprobe = ffmpeg[:i+1] + "ffprobe"
	}
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:format=duration", "-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.New("ffprobe finds no video in it: is it a recording?")
	}
	rec := &Recording{}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "width":
			rec.Width, _ = strconv.Atoi(v)
		case "height":
			rec.Height, _ = strconv.Atoi(v)
		case "duration":
			if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
				rec.Duration = time.Duration(s * float64(time.Second))
			}
		}
	}
	if rec.Width <= 0 || rec.Height <= 0 {
		return nil, errors.New("ffprobe finds no video stream in it")
	}
	if rec.Width*rec.Height > maxFrameBytes {
		return nil, fmt.Errorf("its pictures are %d×%d: larger than 4K, which this reader does not take", rec.Width, rec.Height)
	}
	return rec, nil
}

// decodeGray finds and decodes a QR code in a grey frame; nil if there is
// none it can read.
func decodeGray(pix []byte, w, h int) []byte {
	src, err := gozxing.NewPlanarYUVLuminanceSource(pix, w, h, 0, 0, w, h, false)
	if err != nil {
		return nil
	}
	p, _ := decode(src)
	return p
}

// DecodeImage finds and decodes the QR code in a picture (a screenshot, a
// frame) as Read does, and returns the bytes it holds.
func DecodeImage(img image.Image) ([]byte, error) {
	return decode(gozxing.NewLuminanceSourceFromImage(img))
}

// decode reads a code from a picture. The reader takes the first three
// finder-like patterns it finds; about one code in a hundred (a version
// read wrong, a grid placed off the code, even in a perfect picture)
// needs the other triples tried, which the multi reader does on the same
// binarised picture.
func decode(src gozxing.LuminanceSource) ([]byte, error) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return nil, err
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err == nil {
		return Payload(res), nil
	}
	if all, merr := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, nil); merr == nil && len(all) > 0 {
		return Payload(all[0]), nil
	}
	return nil, err
}

// Payload is the bytes a decoded code holds: its byte segments, exactly,
// when it has them, rather than text in a guessed character set.
func Payload(res *gozxing.Result) []byte {
	if segs, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_BYTE_SEGMENTS].([][]byte); ok && len(segs) > 0 {
		return bytes.Join(segs, nil)
	}
	return []byte(res.GetText())
}

// parseNote reads a note's checkpoint and signature lines, unverified.
func parseNote(note []byte) (Filmed, error) {
	text, lines := transparency.SplitNote(note)
	if len(lines) == 0 {
		return Filmed{}, errors.New("no signature line")
	}
	origin, size, root, err := transparency.ParseCheckpointBody(string(text))
	if err != nil {
		return Filmed{}, err
	}
	f := Filmed{Note: note, Origin: origin, Size: size, Root: root}
	for _, l := range lines {
		f.Signers = append(f.Signers, l.Name)
	}
	return f, nil
}

// limited keeps the first n bytes written to it.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
