package ui

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/internal/filmtest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/camera"
	"github.com/muesli/termenv"
	"golang.org/x/mod/sumdb/note"
)

// filmedCeremony is a whole demo ceremony played on the full-screen console
// at 160×45, in colour, its acts' checkpoints shown as the console shows
// them (a splash at the end of each act, the final cosigned checkpoint at
// the close), each screen with the time it stayed up.
type filmedCeremony struct {
	dir   string          // the log
	shots []filmtest.Shot // the console's screens
	// shown are the notes the checkpoint page showed, in order, and
	// where they were first shown (seconds into the film).
	shown   []string
	shownAt map[string]time.Duration
	// splashes are, for each note shown, the shots that drew its codes.
	splashes map[string][]int
}

// filmCeremony plays the demo to its close, as the unattended rehearsal
// does, on a clock that moves as the film does: 400 ms a step, and a tick
// a second while a checkpoint has the screen.
func filmCeremony(t testing.TB) *filmedCeremony {
	t.Helper()
	defer func() { clockOffset = 0 }()
	dir := filepath.Join(t.TempDir(), "log")
	c := consoleOn(t, dir, 160, 45, nil, nil)
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	c.st = newStyles(r, mustTheme(t, "dark"))
	c.opts.Splash = actSplash
	f := &filmedCeremony{dir: dir, shownAt: map[string]time.Duration{}, splashes: map[string][]int{}}
	var at time.Duration
	shoot := func(d time.Duration) {
		if c.page == pageCheckpoint {
			n := c.shownNote()
			if _, ok := f.shownAt[n]; !ok {
				f.shown = append(f.shown, n)
				f.shownAt[n] = at
			}
			f.splashes[n] = append(f.splashes[n], len(f.shots))
		}
		f.shots = append(f.shots, filmtest.Shot{View: c.View(), For: d})
		at += d
		clockOffset += d
		c.Update(tickMsg(fixedClock()))
	}
	for i := 0; ; i++ {
		if i > 2000 {
			t.Fatal("the demo does not close")
		}
		if c.page == pageCheckpoint && !c.splashUntil.IsZero() {
			shoot(time.Second)
			continue
		}
		if c.closed {
			break
		}
		shoot(400 * time.Millisecond)
		res := c.drv.Do(context.Background(), session.AutoStep{})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		_, cmd := c.Update(opDoneMsg{res})
		drain(t, c, cmd)
		if c.closed {
			drain(t, c, c.awaitCheckpoint())
		}
	}
	shoot(2 * time.Second) // the console as the ceremony ends
	return f
}

// read reads a recording back, failing the test on any code that is not a
// checkpoint.
func readFilm(t *testing.T, path string) *camera.Recording {
	t.Helper()
	rec, err := camera.Read(context.Background(), path, camera.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	for _, f := range rec.Foreign {
		t.Errorf("%s at %s: %s", filepath.Base(path), camera.Clock(f.At), f.What)
	}
	return rec
}

// TestFilmedCheckpointsReadBack: a whole demo ceremony, filmed from the
// console's own screens drawn with a monospace font and encoded with ffmpeg
// as a stream carries it (1280×720 H.264 at CRF 28; 854×480 at CRF 32; and
// a copy of the first cropped, scaled and re-encoded as WebM), reads back:
// every checkpoint the console showed, byte for byte, each first complete
// within seconds of when it was first shown, split notes joined; and the
// log verifies consistent with every one, the officers named on the final.
// One act's code replaced by a checkpoint of a rewritten log (signed by the
// same log key) makes verify fail, naming the time in the recording.
func TestFilmedCheckpointsReadBack(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: make deps installs it")
	}
	ctx := context.Background()
	f := filmCeremony(t)
	if len(f.shown) < 6 {
		t.Fatalf("the console showed %d checkpoints; want one for each of the 5 acts and the cosigned final", len(f.shown))
	}
	final := f.shown[len(f.shown)-1]
	if codes, _ := camera.Codes([]byte(final)); len(codes) < 2 || strings.Count(final, "\n— officer/") < 3 {
		t.Fatalf("the final checkpoint is in %d codes with %d officers' lines; the test wants a cosigned note split in codes", len(codes), strings.Count(final, "\n— officer/"))
	}
	if s := ansi.Strip(f.shots[f.splashes[final][0]].View); !strings.Contains(s, "the ceremony is closed: its final checkpoint · back to the ceremony by itself in") {
		t.Fatalf("the close's splash:\n%s", s)
	}
	tmp := t.TempDir()
	stream := filepath.Join(tmp, "stream-720p.mp4")
	films := map[string]filmtest.Encoding{
		stream:                                {Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28},
		filepath.Join(tmp, "stream-480p.mp4"): {Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 32, Scale: "854:480"},
	}
	for out, enc := range films {
		if err := filmtest.Film(ctx, out, f.shots, enc); err != nil {
			t.Fatal(err)
		}
	}
	copied := filepath.Join(tmp, "copy.webm")
	if err := filmtest.FFmpeg(ctx, "-i", stream, "-vf", "crop=1200:660:40:30,scale=960:528", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
		"-crf", "30", "-b:v", "1M", "-y", copied); err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(f.dir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{stream, filepath.Join(tmp, "stream-480p.mp4"), copied} {
		name := filepath.Base(path)
		rec := readFilm(t, path)
		var got []string
		for _, n := range rec.Notes {
			got = append(got, string(n.Note))
			shown, ok := f.shownAt[string(n.Note)]
			if !ok {
				t.Fatalf("%s: read a note the console never showed:\n%s", name, n.Note)
			}
			// A note is complete once each of its codes was read: within
			// its codes' sequence, and half a second of sampling.
			codes, _ := camera.Codes(n.Note)
			if late := n.At - shown; late < -time.Second || late > time.Duration(len(codes))*camera.Dwell+time.Second {
				t.Errorf("%s: checkpoint %d read at %s, shown from %s", name, n.Size, camera.Clock(n.At), camera.Clock(shown))
			}
		}
		if strings.Join(got, "\x00") != strings.Join(f.shown, "\x00") {
			t.Fatalf("%s: read %d checkpoints, the console showed %d:\nread:\n%s\nshown:\n%s", name, len(got), len(f.shown), strings.Join(got, "\n"), strings.Join(f.shown, "\n"))
		}
		var filmed []audit.FilmedNote
		for _, n := range rec.Notes {
			filmed = append(filmed, audit.FilmedNote{Where: name + " at " + camera.Clock(n.At), Note: n.Note})
		}
		rep, err := audit.Verify(os.DirFS(f.dir), audit.Options{VerifyOptions: transparency.VerifyOptions{VKey: string(vkey)}, Filmed: filmed})
		if err != nil {
			t.Fatal(err)
		}
		if f := rep.FirstFailure(); f != nil {
			t.Fatalf("%s: %s: %s", name, f.ID, f.Detail)
		}
		detail := checkDetail(rep, audit.CheckFilmed)
		if !strings.Contains(detail, fmt.Sprintf("%d filmed checkpoints", len(f.shown))) || !strings.Contains(detail, "cosigned by CO1 (") {
			t.Fatalf("%s: the filmed check says %q", name, detail)
		}
	}

	// The second act's code replaced, wherever it was shown, by the
	// checkpoint of the same size of a log the key holder rewrote.
	victim := f.shown[1]
	forged := rewrittenCheckpoint(t, victim)
	from, to := codesOf(t, victim), codesOf(t, forged)
	shots := append([]filmtest.Shot(nil), f.shots...)
	for _, i := range f.splashes[victim] {
		for k, l := range from {
			shots[i].View = strings.ReplaceAll(shots[i].View, l, to[k])
		}
		if !strings.Contains(shots[i].View, to[len(to)/2]) {
			t.Fatal("the forged code is not drawn in place of the real one")
		}
	}
	tampered := filepath.Join(tmp, "tampered.mp4")
	if err := filmtest.Film(ctx, tampered, shots, films[stream]); err != nil {
		t.Fatal(err)
	}
	rec := readFilm(t, tampered)
	var filmed []audit.FilmedNote
	var when string
	for _, n := range rec.Notes {
		w := "tampered.mp4 at " + camera.Clock(n.At)
		if string(n.Note) == forged {
			when = w
		}
		filmed = append(filmed, audit.FilmedNote{Where: w, Note: n.Note})
	}
	if when == "" {
		t.Fatal("the forged checkpoint was not read from the tampered recording")
	}
	rep, err := audit.Verify(os.DirFS(f.dir), audit.Options{VerifyOptions: transparency.VerifyOptions{VKey: string(vkey)}, Filmed: filmed})
	if err != nil {
		t.Fatal(err)
	}
	fail := rep.FirstFailure()
	if fail == nil || fail.ID != transparency.CheckConsistency || !strings.Contains(fail.Detail, when+": size") {
		t.Fatalf("the rewritten log's checkpoint at %s: verify says %+v", when, fail)
	}
}

// checkDetail is the detail of the report's check id.
func checkDetail(rep *transparency.Report, id string) string {
	for _, c := range rep.Checks {
		if c.ID == id {
			return c.Detail
		}
	}
	return ""
}

// codesOf is each line of note's codes drawn at scale 1, as on a 160×45
// console.
func codesOf(t *testing.T, note string) []string {
	t.Helper()
	codes, err := camera.Codes([]byte(note))
	if err != nil || len(codes) != 1 {
		t.Fatalf("%d codes: %v", len(codes), err)
	}
	lines, err := codes[0].HalfBlocks(1)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// rewrittenCheckpoint is a checkpoint of the same origin and size as note,
// over another root (the log's entries rewritten), signed by the log key.
func rewrittenCheckpoint(t *testing.T, real string) string {
	t.Helper()
	body, _ := transparency.SplitNote([]byte(real))
	origin, size, root, err := transparency.ParseCheckpointBody(string(body))
	if err != nil {
		t.Fatal(err)
	}
	root = sha256.Sum256(append(root[:], "rewritten"...))
	signer, err := note.NewSigner(testSKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: transparency.FormatCheckpointBody(origin, size, root)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if len(forged) != len(real) {
		t.Fatalf("the rewritten checkpoint is %d bytes, the real one %d", len(forged), len(real))
	}
	return string(forged)
}

// BenchmarkReadFilmedCeremony reads the recording of a whole demo ceremony
// on the console (1280×720, H.264 CRF 28), with the bare ffmpeg decode of
// the same file as the baseline: ×realtime is the recording's length over
// the time taken.
func BenchmarkReadFilmedCeremony(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Fatal("ffmpeg is not installed: make deps installs it")
	}
	f := filmCeremony(b)
	path := filepath.Join(b.TempDir(), "ceremony.mp4")
	if err := filmtest.Film(context.Background(), path, f.shots, filmtest.Encoding{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28}); err != nil {
		b.Fatal(err)
	}
	var length time.Duration
	for _, s := range f.shots {
		length += s.For
	}
	b.Run("ffmpeg-decode", func(b *testing.B) {
		for b.Loop() {
			if err := filmtest.BareDecode(context.Background(), path); err != nil {
				b.Fatal(err)
			}
		}
		filmtest.RealTime(b, length)
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			rec, err := camera.Read(context.Background(), path, camera.ReadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(rec.Notes) != len(f.shown) {
				b.Fatalf("read %d checkpoints of %d", len(rec.Notes), len(f.shown))
			}
		}
		filmtest.RealTime(b, length)
	})
}
