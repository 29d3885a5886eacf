package camera

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/internal/safetext"
)

// IndexFile lists, in a folder of filmed checkpoints, each note with the
// time in the recording where it first appears.
const IndexFile = "index.tsv"

// maxNoteFile bounds a note read back from a folder.
const maxNoteFile = 64 << 10

// Clock writes a time in a recording as HH:MM:SS.s.
func Clock(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, float64(d%time.Minute)/float64(time.Second)
	return fmt.Sprintf("%02d:%02d:%04.1f", h, m, s)
}

// ParseClock reads a time written by Clock.
func ParseClock(s string) (time.Duration, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return 0, fmt.Errorf("time %q is not HH:MM:SS.s", s)
	}
	h, err1 := strconv.Atoi(f[0])
	m, err2 := strconv.Atoi(f[1])
	sec, err3 := strconv.ParseFloat(f[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("time %q is not HH:MM:SS.s", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

// WriteDir writes every note of rec to dir, one file each, and the index:
// a header naming the recording, then a line a note with its time, size,
// root (hex), signers and file, tab-separated.
func WriteDir(dir, recording string, rec *Recording) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var idx bytes.Buffer
	fmt.Fprintf(&idx, "# checkpoints read from %s\n", safetext.Printable(filepath.Base(recording)))
	fmt.Fprintf(&idx, "# time\tsize\troot\tsigners\tfile\n")
	for i, n := range rec.Notes {
		name := fmt.Sprintf("%04d-%d.note", i+1, n.Size)
		if err := durable.WriteFile(filepath.Join(dir, name), n.Note, 0o644, durable.Replace); err != nil {
			return err
		}
		fmt.Fprintf(&idx, "%s\t%d\t%s\t%s\t%s\n", Clock(n.At), n.Size, hex.EncodeToString(n.Root[:]), safetext.Printable(strings.Join(n.Signers, ", ")), name)
	}
	return durable.WriteFile(filepath.Join(dir, IndexFile), idx.Bytes(), 0o644, durable.Replace)
}

// ReadDir reads a folder WriteDir wrote: the recording's name and every
// note, each checked against its index line (size and root).
func ReadDir(dir string) (recording string, notes []Filmed, err error) {
	f, err := os.Open(filepath.Join(dir, IndexFile))
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	sc.Buffer(nil, 64<<10)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if r, ok := strings.CutPrefix(l, "# checkpoints read from "); ok && line == 1 {
			recording = r
			continue
		}
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		fields := strings.Split(l, "\t")
		if len(fields) != 5 {
			return "", nil, fmt.Errorf("%s line %d: want 5 tab-separated fields (time, size, root, signers, file)", IndexFile, line)
		}
		at, err := ParseClock(fields[0])
		if err != nil {
			return "", nil, fmt.Errorf("%s line %d: %v", IndexFile, line, err)
		}
		name := fields[4]
		if name != filepath.Base(name) || !strings.HasSuffix(name, ".note") {
			return "", nil, fmt.Errorf("%s line %d: file %q is not a .note file in the folder", IndexFile, line, safetext.Printable(name))
		}
		data, err := readBounded(filepath.Join(dir, name))
		if err != nil {
			return "", nil, fmt.Errorf("%s line %d: %v", IndexFile, line, err)
		}
		n, err := parseNote(data)
		if err != nil {
			return "", nil, fmt.Errorf("%s: not a signed checkpoint note: %v", name, err)
		}
		if strconv.FormatUint(n.Size, 10) != fields[1] || hex.EncodeToString(n.Root[:]) != fields[2] {
			return "", nil, fmt.Errorf("%s line %d: %s holds checkpoint %d, root %x, not what the index says", IndexFile, line, name, n.Size, n.Root[:])
		}
		n.At = at
		notes = append(notes, n)
		if len(notes) > maxNotes {
			return "", nil, fmt.Errorf("%s: more than %d notes", IndexFile, maxNotes)
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, fmt.Errorf("%s: %v", IndexFile, err)
	}
	if len(notes) == 0 {
		return "", nil, fmt.Errorf("%s lists no checkpoint", IndexFile)
	}
	return recording, notes, nil
}

func readBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNoteFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxNoteFile {
		return nil, errors.New("larger than a note can be")
	}
	return b, nil
}
