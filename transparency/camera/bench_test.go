package camera

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/filmtest"
)

// filmForBench films a 160×45 console for the benchmarks: five minutes at 1280×720, 30 frames a second, H.264 CRF 28, a
// stream's key frame every 2 s. The screen changes every second (the
// clock, a log line) as the console's does, and at the end of each
// minute an act's checkpoint has the screen for 5 s.
const benchLength = 5 * time.Minute

func filmForBench(b *testing.B) string {
	b.Helper()
	needFFmpeg(b)
	var shots []filmtest.Shot
	codes := sweepCodes(b, Chosen, Chosen.MaxVersion, int(benchLength/time.Minute))
	var log []string
	for s := 0; s < int(benchLength/time.Second); s++ {
		if s%60 >= 55 {
			shots = append(shots, filmtest.Shot{View: consoleWith(b, codes[s/60]), For: time.Second})
			continue
		}
		log = append(log, fmt.Sprintf("14:%02d:%02d  #%-3d step %d.%d done", s/60, s%60, s, s/60+1, s%60))
		if len(log) > 30 {
			log = log[1:]
		}
		view := fmt.Sprintf("STEP %d.%d  Demo key-signing ceremony (rehearsal)                      2026-12-05 14:%02d:%02d UTC\n%s\n%s\n",
			s/60+1, s%60, s/60, s%60, strings.Repeat("─", 160), strings.Join(log, "\n"))
		shots = append(shots, filmtest.Shot{View: view, For: time.Second})
	}
	path := filepath.Join(b.TempDir(), "console-5min.mp4")
	if err := filmtest.Film(context.Background(), path, shots, filmtest.Encoding{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadRecording reads five minutes of a filmed console, with the
// bare ffmpeg decode of the same file (every frame decoded, nothing
// output) as the baseline: ×realtime is the recording's length over the
// time taken.
func BenchmarkReadRecording(b *testing.B) {
	path := filmForBench(b)
	b.Run("ffmpeg-decode", func(b *testing.B) {
		for b.Loop() {
			if err := filmtest.BareDecode(context.Background(), path); err != nil {
				b.Fatal(err)
			}
		}
		filmtest.RealTime(b, benchLength)
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			rec, err := Read(context.Background(), path, ReadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(rec.Notes) != 0 || len(rec.Foreign) != int(benchLength/time.Minute) {
				// The film's codes hold random text, not notes.
				b.Fatalf("read %d notes and %d other codes", len(rec.Notes), len(rec.Foreign))
			}
		}
		filmtest.RealTime(b, benchLength)
	})
}
