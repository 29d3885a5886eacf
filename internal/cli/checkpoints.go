package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency/camera"
)

// runCheckpointsFromVideo reads every signed checkpoint a recording of the
// ceremony's screen shows, and writes them to a folder with their times.
func runCheckpointsFromVideo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("checkpoints from-video", "", stderr)
	out := fs.String("out", "", "the folder to write the checkpoints and their index to")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("checkpoints from-video", pos, "recording", req{"--out DIR", *out}); err != nil {
		return err
	}
	path := pos[0]
	name := safetext.Printable(path)
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return usageErr("checkpoints from-video: %s: no such recording; give a video file (MP4, WebM, a stream's saved segments)", name)
	}
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
		return usageErr("checkpoints from-video: --out %s is not empty; give a new folder", safetext.Printable(*out))
	}
	progress := progressLine(stderr, name)
	rec, err := camera.Read(ctx, path, camera.ReadOptions{Progress: progress})
	progress(-1, 0)
	switch {
	case errors.Is(err, camera.ErrNoFFmpeg):
		return operational(fmt.Errorf("checkpoints from-video: %v", err))
	case err != nil:
		return badInput(fmt.Errorf("checkpoints from-video %s: %v", name, err))
	}
	for _, f := range rec.Foreign {
		fmt.Fprintf(stderr, "checkpoints from-video %s at %s: %s; left out\n", name, camera.Clock(f.At), safetext.Printable(f.What))
	}
	length := time.Duration(rec.Frames) * time.Second / camera.SampleRate
	if len(rec.Notes) == 0 {
		return badInput(fmt.Errorf("checkpoints from-video %s: no checkpoint QR code in %s of recording; film the console's whole screen while it shows a checkpoint (at the end of each act, and with c)", name, camera.Clock(length)))
	}
	if err := camera.WriteDir(*out, path, rec); err != nil {
		return operational(fmt.Errorf("checkpoints from-video: --out %s: %v", safetext.Printable(*out), err))
	}
	for _, n := range rec.Notes {
		signers := ""
		if len(n.Signers) > 1 {
			signers = " · cosigned by " + strings.Join(n.Signers[1:], ", ")
		}
		fmt.Fprintf(stdout, "%s  checkpoint %d  root %s%s\n", camera.Clock(n.At), n.Size, shortHex(n.Root[:]), safetext.Printable(signers))
	}
	speed := ""
	if rec.Read > 0 {
		speed = fmt.Sprintf(" in %s (%.0f× real time)", rec.Read.Round(100*time.Millisecond), length.Seconds()/rec.Read.Seconds())
	}
	fmt.Fprintf(stdout, "%s read from %s of recording%s; written to %s (index: %s)\n", words.Count(len(rec.Notes), "checkpoint", "checkpoints"),
		camera.Clock(length), speed, safetext.Printable(*out), filepath.Join(safetext.Printable(*out), camera.IndexFile))
	fmt.Fprintf(stdout, "check the published log against them: keyceremony verify LOG --checkpoints-from %s\n", safetext.Printable(*out))
	return nil
}

// shortHex is the first 8 bytes of b in hex, for a line.
func shortHex(b []byte) string { return fmt.Sprintf("%x…", b[:min(len(b), 8)]) }

// progressLine reports how far a reading has got on stderr: in place on a
// terminal, a line a minute of recording otherwise. at < 0 ends it.
func progressLine(stderr io.Writer, name string) func(at, of time.Duration) {
	tty := isTerminal(stderr)
	last := time.Duration(-1)
	return func(at, of time.Duration) {
		if at < 0 {
			if tty && last >= 0 {
				fmt.Fprint(stderr, "\r\x1b[K")
			}
			return
		}
		total := ""
		if of > 0 {
			total = fmt.Sprintf(" of %s (%d%%)", camera.Clock(of), min(100, int(100*at/of)))
		}
		switch {
		case tty:
			fmt.Fprintf(stderr, "\rreading %s: %s%s\x1b[K", name, camera.Clock(at), total)
		case last < 0 || at-last >= time.Minute:
			fmt.Fprintf(stderr, "reading %s: %s%s\n", name, camera.Clock(at), total)
		default:
			return
		}
		last = at
	}
}
