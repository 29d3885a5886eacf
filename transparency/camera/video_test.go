package camera

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/filmtest"
)

// TestRead: a short recording (720p H.264) of a screen showing an act's
// note, then a code that is no note, then the final note's three codes in
// turn, reads back as the two notes, each at the time it was first
// complete, and one foreign code named with its time; a recording read
// under a context that ends stops with the context's error; a file that is
// no video is one error.
func TestRead(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	act, _ := Codes([]byte(actNote))
	final, _ := Codes([]byte(finalNote))
	other, _ := Chosen.Codes([]byte("https://example.com/"))
	blank := filmtest.Shot{View: "the ceremony goes on", For: 2 * time.Second}
	shots := []filmtest.Shot{blank, {View: consoleWith(t, act[0]), For: 2 * time.Second}, blank, {View: consoleWith(t, other[0]), For: 2 * time.Second}}
	for _, c := range final {
		shots = append(shots, filmtest.Shot{View: consoleWith(t, c), For: Dwell})
	}
	shots = append(shots, blank)
	path := filepath.Join(t.TempDir(), "short.mp4")
	if err := filmtest.Film(ctx, path, shots, filmtest.Encoding{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28}); err != nil {
		t.Fatal(err)
	}
	var progress []time.Duration
	rec, err := Read(ctx, path, ReadOptions{Progress: func(at, of time.Duration) { progress = append(progress, at) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Notes) != 2 || string(rec.Notes[0].Note) != actNote || string(rec.Notes[1].Note) != finalNote {
		t.Fatalf("read %d notes: %+v", len(rec.Notes), rec.Notes)
	}
	// The act's code is up from 2 s; the final's last code from 10 s.
	if at := rec.Notes[0].At; at < 2*time.Second || at > 3*time.Second {
		t.Errorf("the act's note read at %s", Clock(at))
	}
	if at := rec.Notes[1].At; at < 8*time.Second+2*Dwell || at > 9*time.Second+2*Dwell {
		t.Errorf("the final note read at %s", Clock(at))
	}
	if rec.Notes[1].Size != 62 || len(rec.Notes[1].Signers) != 4 || rec.Notes[1].Signers[3] != "officer/CO3" {
		t.Errorf("the final note's checkpoint: size %d, signers %v", rec.Notes[1].Size, rec.Notes[1].Signers)
	}
	if len(rec.Foreign) != 1 || !strings.Contains(rec.Foreign[0].What, "not a signed checkpoint note") || rec.Foreign[0].At < 6*time.Second {
		t.Fatalf("foreign codes: %+v", rec.Foreign)
	}
	if rec.Duration < 15*time.Second || len(progress) == 0 || progress[len(progress)-1] < 15*time.Second {
		t.Errorf("duration %s, progress %v", rec.Duration, progress)
	}

	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Read(ended, path, ReadOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a read whose context ended: %v", err)
	}
	notVideo := filepath.Join(t.TempDir(), "note.mp4")
	os.WriteFile(notVideo, []byte(actNote), 0o644)
	if _, err := Read(ctx, notVideo, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "ffprobe finds no video") {
		t.Fatalf("a file that is no video: %v", err)
	}
}

// TestReadsCodesTheFirstGuessMisses: two codes of the sweep's 300 (each
// holding random text at version 10, drawn and encoded as the stream
// carries them) defeat the reader's first guess of finder patterns at
// 1280×720 CRF 28, one with its version read wrong, one with its grid
// placed off the code; the reader then tries the other patterns, and reads
// both from every frame.
func TestReadsCodesTheFirstGuessMisses(t *testing.T) {
	needFFmpeg(t)
	hard := sweepCodes(t, Chosen, Chosen.MaxVersion, 300)[229:231]
	var shots []filmtest.Shot
	for _, c := range hard {
		shots = append(shots, filmtest.Shot{View: consoleWith(t, c), For: time.Second})
	}
	path := filepath.Join(t.TempDir(), "hard.mp4")
	if err := filmtest.Film(context.Background(), path, shots, filmtest.Encoding{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28}); err != nil {
		t.Fatal(err)
	}
	if ok, all := countDecoded(t, path, hard); ok != all || all == 0 {
		t.Fatalf("read %d of %d frames", ok, all)
	}
}
