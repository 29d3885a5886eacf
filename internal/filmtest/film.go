package filmtest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Shot is one screen as filmed, and how long it stayed.
type Shot struct {
	View string        // the console's View output
	For  time.Duration // how long it was on the screen
}

// Encoding is how a recording is made.
type Encoding struct {
	Width, Height int // the terminal drawn at this size
	Cols, Rows    int // the terminal's size in cells
	FPS           int // frames per second of the recording (30 if 0)
	CRF           int // H.264 constant rate factor (23 if 0)
	// Scale, when set ("854:480"), is the size the stream carries, scaled
	// from the drawn one.
	Scale string
	// Keyint is the frames between key frames (2 s of frames if 0: a
	// streaming service's usual).
	Keyint int
}

// Film draws each shot and encodes them, each for its time, into out (an
// MP4, H.264 in yuv420p as streams carry it). Shots with the same view are
// drawn once.
func Film(ctx context.Context, out string, shots []Shot, e Encoding) error {
	if e.FPS == 0 {
		e.FPS = 30
	}
	if e.CRF == 0 {
		e.CRF = 23
	}
	if e.Keyint == 0 {
		e.Keyint = 2 * e.FPS
	}
	dir, err := os.MkdirTemp(filepath.Dir(out), "frames-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var list strings.Builder
	drawn := map[string]string{}
	last := ""
	for i, s := range shots {
		name, ok := drawn[s.View]
		if !ok {
			name = filepath.Join(dir, fmt.Sprintf("%06d.png", i))
			if err := WritePNG(name, Parse(s.View, e.Cols, e.Rows).Draw(e.Width, e.Height)); err != nil {
				return err
			}
			drawn[s.View] = name
		}
		fmt.Fprintf(&list, "file '%s'\nduration %.3f\n", name, max(s.For, time.Millisecond).Seconds())
		last = name
	}
	if last == "" {
		return fmt.Errorf("no shot to film")
	}
	// The concat demuxer holds the last file only if it is named again.
	fmt.Fprintf(&list, "file '%s'\n", last)
	listFile := filepath.Join(dir, "shots.txt")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		return err
	}
	vf := fmt.Sprintf("fps=%d", e.FPS)
	if e.Scale != "" {
		vf += ",scale=" + e.Scale + ":flags=bicubic"
	}
	vf += ",format=yuv420p"
	return FFmpeg(ctx, "-f", "concat", "-safe", "0", "-i", listFile, "-vf", vf,
		"-c:v", "libx264", "-preset", "veryfast", "-crf", fmt.Sprint(e.CRF), "-g", fmt.Sprint(e.Keyint),
		"-movflags", "+faststart", "-y", out)
}

// FFmpeg runs ffmpeg quietly; its error output is in the error.
func FFmpeg(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// WritePNG writes img to name, quickly rather than small.
func WritePNG(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BareDecode decodes every frame of a recording with ffmpeg and outputs
// nothing: the baseline a reading of the recording is measured against.
func BareDecode(ctx context.Context, path string) error {
	return FFmpeg(ctx, "-i", path, "-f", "null", "-")
}

// RealTime reports, as the metric ×realtime, how many times faster than
// real time b's iterations went through a recording of the length given.
func RealTime(b *testing.B, length time.Duration) {
	b.ReportMetric(length.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "×realtime")
}
