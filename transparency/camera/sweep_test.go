package camera

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/filmtest"
	"rsc.io/qr/coding"
)

var sweep = flag.Bool("sweep", false, "measure which error-correction levels, quiet zones and code versions decode from compressed recordings (slow; prints a table)")

// TestSweep films codes of each level, quiet zone and version on a 160×45
// console, encodes them as the stream would (1280×720 at CRF 28, and
// 854×480 at CRF 32), and counts the frames that decode back. Run with
// -sweep; the table it prints is in BENCHMARKS.md.
func TestSweep(t *testing.T) {
	if !*sweep {
		t.Skip("run with -sweep")
	}
	needFFmpeg(t)
	ctx := context.Background()
	fmt.Printf("%-5s %-5s %-7s %-8s %-16s %-16s\n", "level", "quiet", "version", "modules", "720p crf28", "480p crf32")
	for _, level := range []coding.Level{coding.L, coding.M, coding.Q} {
		for _, quiet := range []int{2, 4} {
			for _, v := range []int{10, 13} {
				p := Params{Level: level, MaxVersion: v, Quiet: quiet}
				codes := sweepCodes(t, p, v, 40)
				var shots []filmtest.Shot
				for _, c := range codes {
					shots = append(shots, filmtest.Shot{View: consoleWith(t, c), For: time.Second})
				}
				cells := []string{}
				for _, enc := range []filmtest.Encoding{
					{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28},
					{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 32, Scale: "854:480"},
				} {
					out := filepath.Join(t.TempDir(), "sweep.mp4")
					if err := filmtest.Film(ctx, out, shots, enc); err != nil {
						t.Fatal(err)
					}
					ok, all := countDecoded(t, out, codes)
					cells = append(cells, fmt.Sprintf("%d/%d frames", ok, all))
				}
				fmt.Printf("%-5s %-5d %-7d %-8d %-16s %-16s\n", level, quiet, v, codes[0].Size+2*quiet, cells[0], cells[1])
			}
		}
	}
}

// TestSweepDwell films a sequence of codes at the chosen parameters, each
// on the screen for a dwell time, and counts the codes that the reader's
// sampling (SampleRate frames a second) reads at least once, on both
// recordings. Run with -sweep.
func TestSweepDwell(t *testing.T) {
	if !*sweep {
		t.Skip("run with -sweep")
	}
	needFFmpeg(t)
	ctx := context.Background()
	fmt.Printf("%-8s %-16s %-16s\n", "dwell", "720p crf28", "480p crf32")
	codes := sweepCodes(t, Chosen, Chosen.MaxVersion, 40)
	for _, dwell := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		var shots []filmtest.Shot
		for _, c := range codes {
			shots = append(shots, filmtest.Shot{View: consoleWith(t, c), For: dwell})
		}
		cells := []string{}
		for _, enc := range []filmtest.Encoding{
			{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28},
			{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 32, Scale: "854:480"},
		} {
			out := filepath.Join(t.TempDir(), "dwell.mp4")
			if err := filmtest.Film(ctx, out, shots, enc); err != nil {
				t.Fatal(err)
			}
			read := readPayloads(t, out)
			n := 0
			for _, c := range codes {
				if read[string(c.Payload)] {
					n++
				}
			}
			cells = append(cells, fmt.Sprintf("%d/%d codes", n, len(codes)))
		}
		fmt.Printf("%-8s %-16s %-16s\n", dwell, cells[0], cells[1])
	}
}

// readPayloads is every payload read from the recording's frames at the
// reader's rate.
func readPayloads(t *testing.T, path string) map[string]bool {
	read := map[string]bool{}
	eachFrame(t, path, func(_ int, payload []byte) {
		if payload != nil {
			read[string(payload)] = true
		}
	})
	return read
}

// eachFrame decodes the recording's frames at the reader's rate and hands
// each frame's number and payload (nil: none read) to f.
func eachFrame(t *testing.T, path string, f func(i int, payload []byte)) {
	rec, err := probe(context.Background(), "ffmpeg", path)
	if err != nil {
		t.Fatal(err)
	}
	w, h := rec.Width, rec.Height
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-i", path, "-vf", fmt.Sprintf("fps=%d,format=gray", SampleRate), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	pix := make([]byte, w*h)
	for i := 0; ; i++ {
		if _, err := io.ReadFull(br, pix); err != nil {
			break
		}
		f(i, decodeGray(pix, w, h))
	}
	cmd.Wait()
}

// sweepCodes makes n codes of exactly version v: notes of random
// signatures, as long as the version holds.
func sweepCodes(t testing.TB, p Params, v, n int) []Code {
	rng := rand.New(rand.NewPCG(uint64(v), uint64(p.Level)))
	var codes []Code
	for range n {
		capacity := coding.Version(v).DataBytes(p.Level) - 3
		raw := make([]byte, capacity)
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		payload := []byte(base64.StdEncoding.EncodeToString(raw))[:capacity]
		c, err := p.encode(payload)
		if err != nil || c.Version != v {
			t.Fatalf("version %d: %v (got %d)", v, err, c.Version)
		}
		codes = append(codes, c)
	}
	return codes
}

// consoleWith is a 160×45 screen as the console's checkpoint page lays it
// out: a title, the code at the left below it, text at the right.
func consoleWith(t testing.TB, c Code) string {
	lines, err := c.HalfBlocks(1)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("CHECKPOINT demo ceremony                                     2026-12-05 10:00:00 UTC\n")
	b.WriteString(strings.Repeat("─", 160) + "\n")
	for i, l := range lines {
		b.WriteString("\x1b[38;2;255;255;255;48;2;0;0;0m" + l + "\x1b[0m  ")
		if i%2 == 0 && i < 30 {
			b.WriteString("Root (SHA-256) 1f2e 3d4c 5b6a 7980 aabb ccdd eeff 0011")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// countDecoded reads every frame at the reader's rate and counts those
// whose code decodes to the payload shown at that time.
func countDecoded(t *testing.T, path string, codes []Code) (ok, all int) {
	eachFrame(t, path, func(i int, payload []byte) {
		// Frame i shows code i/SampleRate; the frame at a change is skipped.
		if i%SampleRate == 0 || i/SampleRate >= len(codes) {
			return
		}
		all++
		if string(payload) == string(codes[i/SampleRate].Payload) {
			ok++
		}
	})
	return ok, all
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: make deps installs it")
	}
}
