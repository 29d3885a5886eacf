package camera

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"rsc.io/qr/coding"
)

// actNote is a checkpoint note as the log signs it at the end of an act;
// finalNote the final one with three officers' cosignatures.
const actNote = "demo.keyceremony.invalid/20261128T054702Z/rehearsal\n62\nq0bCeXwJ3d5JYqfq5bWz9SYoXkTtQqC5rVhl8CSdF1I=\n\n" +
	"— demo.keyceremony.invalid/20261128T054702Z/rehearsal ZUzexizj+w7lPpZwXvbqt++lOH6jV0yhuwTCR7+EMteamNiBolcb8okWWe3Ef/CNV6dWwGOpOOQqPuItR4ln69p/TAc=\n"

const finalNote = actNote +
	"— officer/CO1 ASCnGgAAAABrCt5gJUXqBBB9jeg5Ibguv8BGs64srO0eXESiQBhV3uWiB47xD8CWIUZHzY1cy7Co5njyLkxpAgDUxINYFu3n4y5uDQ==\n" +
	"— officer/CO2 dT/AEAAAAABrCt5g8VlnR5IkztkGQg+IORjzA2b0h3sIiov+D4/hxNccjJ3apUVDs08WPFYXwZRNounFyx5RxgDobGYU0hc4Q+wwAg==\n" +
	"— officer/CO3 B1rXNQAAAABrCt5gHvmdYustC7wUuLLOuK9yqcGlYprxubDJck0OEhHfVRK40VNSXDWO35M99+QuSip3tv68bGnymne4fXOyrBqYAQ==\n"

// picture draws a code with its quiet zone at px pixels a module, grey,
// on a dark margin as the console's screen is.
func picture(c Code, px int) *image.Gray {
	side := (c.Size + 2*c.Quiet) * px
	img := image.NewGray(image.Rect(0, 0, side+8*px, side+8*px))
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			mx, my := x/px-4-c.Quiet, y/px-4-c.Quiet
			switch {
			case x/px < 4 || y/px < 4 || x/px >= 4+c.Size+2*c.Quiet || y/px >= 4+c.Size+2*c.Quiet:
				img.SetGray(x, y, color.Gray{20}) // the screen around the code
			case mx >= 0 && my >= 0 && mx < c.Size && my < c.Size && c.Black(mx, my):
				img.SetGray(x, y, color.Gray{0})
			default:
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	return img
}

func decodeImage(t *testing.T, img *image.Gray) []byte {
	t.Helper()
	p := decodeGray(img.Pix, img.Bounds().Dx(), img.Bounds().Dy())
	if p == nil {
		t.Fatal("the code does not decode")
	}
	return p
}

// TestCodesRoundTrip: an act's note is one code holding exactly the note; a
// cosigned final note is split into numbered codes no larger than the
// chosen version, which decode and join back to the note byte for byte,
// whatever order they are read in and however often.
func TestCodesRoundTrip(t *testing.T) {
	one, err := Codes([]byte(actNote))
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || string(one[0].Payload) != actNote || one[0].Version > Chosen.MaxVersion || one[0].Level != Chosen.Level {
		t.Fatalf("an act's note: %d codes, version %d", len(one), one[0].Version)
	}
	if got := decodeImage(t, picture(one[0], 3)); string(got) != actNote {
		t.Fatalf("decodes to %q", got)
	}
	codes, err := Codes([]byte(finalNote))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) < 2 {
		t.Fatalf("a %d-byte note in %d code", len(finalNote), len(codes))
	}
	var read []Part
	for i, c := range codes {
		if c.Part != i+1 || c.Of != len(codes) || c.Version > Chosen.MaxVersion {
			t.Fatalf("code %d: part %d of %d, version %d", i, c.Part, c.Of, c.Version)
		}
		p, err := ParsePart(decodeImage(t, picture(c, 3)))
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, p)
	}
	var backwards, twice []int
	for i := range read {
		backwards = append(backwards, len(read)-1-i, len(read)-1-i)
		twice = append(twice, i)
	}
	twice = append(twice, twice...)
	for _, order := range [][]int{backwards, twice} {
		var a Assembler
		var got [][]byte
		for _, i := range order {
			n, err := a.Add(read[i])
			if err != nil {
				t.Fatal(err)
			}
			if n != nil {
				got = append(got, n)
			}
		}
		if len(got) != 1 || string(got[0]) != finalNote {
			t.Fatalf("order %v: joined %d notes: %q", order, len(got), got)
		}
		if len(a.Missing()) != 0 {
			t.Fatalf("missing after the whole: %v", a.Missing())
		}
	}
	var a Assembler
	if n, err := a.Add(read[0]); n != nil || err != nil {
		t.Fatal(n, err)
	}
	if m := a.Missing(); len(m) != 1 || !strings.Contains(m[0], "parts [2") {
		t.Fatalf("missing: %v", m)
	}
}

// TestMaskPenalty: each code is drawn with the mask the standard's
// penalty scores lowest, not always mask 0.
func TestMaskPenalty(t *testing.T) {
	masks := map[int]bool{}
	for i := range 16 {
		payload := []byte(fmt.Sprintf("%s%d", actNote, i))
		c, err := Chosen.encode(payload)
		if err != nil {
			t.Fatal(err)
		}
		best, bestMask := -1, -1
		for m := range 8 {
			plan, _ := coding.NewPlan(coding.Version(c.Version), Chosen.Level, coding.Mask(m))
			cc, err := plan.Encode(coding.String(payload))
			if err != nil {
				t.Fatal(err)
			}
			if s := penalty(cc); best < 0 || s < best {
				best, bestMask = s, m
			}
			if bytes.Equal(cc.Bitmap, c.code.Bitmap) {
				masks[m] = true
			}
		}
		if penalty(c.code) != best {
			t.Fatalf("payload %d: drawn with penalty %d, mask %d scores %d", i, penalty(c.code), bestMask, best)
		}
	}
	if len(masks) < 2 {
		t.Fatalf("16 notes all drawn with the same mask: %v", masks)
	}
}

// TestPartsRefused: a part's header that is not "N/M TAG", a count beyond
// MaxParts, parts that contradict each other, and parts whose whole does
// not hash to their tag are each refused with the reason.
func TestPartsRefused(t *testing.T) {
	for payload, want := range map[string]string{
		"keyceremony checkpoint 1/2 1f2e3d4c":          "no line after its header",
		"keyceremony checkpoint 1-2 1f2e3d4c\nx":       "numbered",
		"keyceremony checkpoint 3/2 1f2e3d4c\nx":       "numbered",
		"keyceremony checkpoint 1/99 1f2e3d4c\nx":      "numbered",
		"keyceremony checkpoint 1/2 nothex!!\nx":       "8 hex digits",
		"keyceremony checkpoint 1/2\nx":                "is not",
		"keyceremony checkpoint 1/2 1f2e3d4c extra\nx": "is not",
	} {
		if _, err := ParsePart([]byte(payload)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", payload, err, want)
		}
	}
	var a Assembler
	a.Add(Part{N: 1, Of: 2, Tag: "1f2e3d4c", Data: []byte("a")})
	if _, err := a.Add(Part{N: 1, Of: 2, Tag: "1f2e3d4c", Data: []byte("b")}); err == nil || !strings.Contains(err.Error(), "two different contents") {
		t.Fatalf("contradicting parts: %v", err)
	}
	if _, err := a.Add(Part{N: 2, Of: 2, Tag: "1f2e3d4c", Data: []byte("c")}); err == nil || !strings.Contains(err.Error(), "do not hash") {
		t.Fatalf("a whole that does not hash to its tag: %v", err)
	}
}

func FuzzParsePart(f *testing.F) {
	f.Add([]byte(actNote))
	f.Add([]byte("keyceremony checkpoint 1/2 1f2e3d4c\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePart(b)
		if err != nil {
			return
		}
		if p.N < 1 || p.N > p.Of || p.Of > MaxParts {
			t.Fatalf("part %d of %d", p.N, p.Of)
		}
		var a Assembler
		a.Add(p)
	})
}

func TestClock(t *testing.T) {
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 59*time.Minute + 59*time.Second + 900*time.Millisecond, 3*time.Hour + 7*time.Second} {
		s := Clock(d)
		back, err := ParseClock(s)
		if err != nil || back != d {
			t.Fatalf("%v → %s → %v, %v", d, s, back, err)
		}
	}
	if Clock(61*time.Second+250*time.Millisecond) != "00:01:01.3" {
		t.Fatal(Clock(61*time.Second + 250*time.Millisecond))
	}
	for _, bad := range []string{"1:2", "00:61:00.0", "aa:00:00.0", "00:00:60.0", "-1:00:00.0"} {
		if _, err := ParseClock(bad); err == nil {
			t.Errorf("%q parses", bad)
		}
	}
}

// TestDirRoundTrip: the folder written holds each note and an index that
// reads back; an index whose line does not match its note (another size or
// root), or that names a file outside the folder, is refused naming it.
func TestDirRoundTrip(t *testing.T) {
	n, err := parseNote([]byte(finalNote))
	if err != nil {
		t.Fatal(err)
	}
	n.At = 83*time.Second + 500*time.Millisecond
	dir := filepath.Join(t.TempDir(), "filmed")
	if err := WriteDir(dir, "/videos/ceremony.mp4", &Recording{Notes: []Filmed{n}}); err != nil {
		t.Fatal(err)
	}
	rec, notes, err := ReadDir(dir)
	if err != nil || rec != "ceremony.mp4" || len(notes) != 1 || string(notes[0].Note) != finalNote || notes[0].At != n.At {
		t.Fatalf("read back %q %d notes: %v", rec, len(notes), err)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, IndexFile))
	if !strings.Contains(string(idx), "00:01:23.5\t62\t") || !strings.Contains(string(idx), "officer/CO1, officer/CO2") {
		t.Fatalf("index:\n%s", idx)
	}
	for _, change := range []struct{ from, to, want string }{
		{"\t62\t", "\t63\t", "not what the index says"},
		{"0001-62.note", "../0001-62.note", "not a .note file in the folder"},
		{"00:01:23.5", "1:23", "HH:MM:SS.s"},
	} {
		os.WriteFile(filepath.Join(dir, IndexFile), bytes.Replace(idx, []byte(change.from), []byte(change.to), 1), 0o644)
		if _, _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), change.want) {
			t.Errorf("%s → %s: %v", change.from, change.to, err)
		}
	}
}

// TestAnotherReaderReadsCodes: zbarimg, a reader that shares no code with
// this package's, reads each code of an act's note and of a split final
// note back to its payload, byte for byte: the codes are standard, not
// made for one decoder.
func TestAnotherReaderReadsCodes(t *testing.T) {
	if _, err := exec.LookPath("zbarimg"); err != nil {
		t.Fatal("zbarimg is not installed: make deps installs zbar-tools")
	}
	for _, n := range []string{actNote, finalNote} {
		codes, err := Codes([]byte(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			path := filepath.Join(t.TempDir(), "code.png")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, picture(c, 4)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out, err := exec.Command("zbarimg", "-q", "--raw", "-Sbinary", path).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if !bytes.Equal(out, c.Payload) && !bytes.Equal(out, append(bytes.Clone(c.Payload), '\n')) {
				t.Fatalf("zbarimg reads %q, the code holds %q", out, c.Payload)
			}
		}
	}
}

// TestPayloadIsBytes: a code's payload is read back as the bytes it holds,
// not text in a guessed character set.
func TestPayloadIsBytes(t *testing.T) {
	payload := []byte("origin\n1\n\xe9\xff\x00 bytes\n")
	c, err := Chosen.encode(payload)
	if err != nil {
		t.Fatal(err)
	}
	img := picture(c, 3)
	src := gozxing.NewLuminanceSourceFromImage(img)
	bmp, _ := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := Payload(res); !bytes.Equal(got, payload) {
		t.Fatalf("read %q, drawn %q", got, payload)
	}
}
