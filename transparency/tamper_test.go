package transparency

import (
	"crypto/sha256"

	"github.com/keyceremony/keyceremony/ceremony/event"

	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// buildLog writes a closed log with n entries after ceremony.open, one of
// which cites an artefact, and returns its folder and key.
func buildLog(t testing.TB, key *Key, n int, fork string) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := Open(ctx, dir, Options{Key: key, New: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		var rec event.Event = event.Exception{Step: fmt.Sprintf("1.%d", i), Text: "step " + fork}
		var arts []event.Artefact
		if i == 2 {
			ref, err := l.StoreArtefact("ksr.xml", []byte("<KSR id=\"demo\"/>\n"))
			if err != nil {
				t.Fatal(err)
			}
			arts = []event.Artefact{ref}
			rec = event.KSRLoaded{Step: "1.2", SHA256: ref.SHA256}
		}
		a, err := l.Append(ctx, rec, arts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadFS reads a log folder into memory, without Tessera's private state.
func loadFS(t testing.TB, dir string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".state/") {
			return nil
		}
		b, err := os.ReadFile(p)
		m[rel] = &fstest.MapFile{Data: b, Mode: 0o644}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func verifyFS(t testing.TB, m fstest.MapFS, opts VerifyOptions) *Report {
	t.Helper()
	rep, err := Verify(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func sortedNames(m fstest.MapFS) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestTamperEveryByte changes every byte of every published file of a small
// closed log, one at a time, and expects the verifier to fail each time.
func TestTamperEveryByte(t *testing.T) {
	key := testKey(t, "test.keyceremony.invalid/tamper/rehearsal")
	m := loadFS(t, buildLog(t, key, 4, "a"))
	if rep := verifyFS(t, m, VerifyOptions{}); !rep.OK {
		t.Fatalf("untouched log fails: %+v", rep.FirstFailure())
	}
	tried := 0
	for _, name := range sortedNames(m) {
		data := m[name].Data
		for i := range data {
			for _, flip := range []byte{0x01, 0x80} {
				orig := data[i]
				data[i] ^= flip
				rep := verifyFS(t, m, VerifyOptions{})
				data[i] = orig
				tried++
				if rep.OK {
					t.Fatalf("%s: byte %d ^ %#x went unnoticed", name, i, flip)
				}
			}
		}
		// Every truncation and an appended byte.
		for cut := 0; cut < len(data); cut++ {
			m[name].Data = data[:cut]
			if verifyFS(t, m, VerifyOptions{}).OK {
				t.Fatalf("%s: truncation to %d bytes went unnoticed", name, cut)
			}
		}
		m[name].Data = append(bytes.Clone(data), '\n')
		if verifyFS(t, m, VerifyOptions{}).OK {
			t.Fatalf("%s: an appended byte went unnoticed", name)
		}
		m[name].Data = data
	}
	t.Logf("%d single-byte changes in %d files, all detected", tried, len(m))
}

// bundleEntries parses and re-encodes an entry bundle, for rewriting tests.
func encodeBundle(es [][]byte) []byte {
	var b []byte
	for _, e := range es {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

func TestTamperStructure(t *testing.T) {
	key := testKey(t, "test.keyceremony.invalid/structure/rehearsal")
	dir := buildLog(t, key, 4, "a")
	last := "tile/entries/000.p/5"
	cases := map[string]func(m fstest.MapFS){
		"remove the last entry": func(m fstest.MapFS) {
			es, _ := parseBundle(m[last].Data)
			delete(m, last)
			m["tile/entries/000.p/4"] = &fstest.MapFile{Data: encodeBundle(es[:4])}
		},
		"swap two entries": func(m fstest.MapFS) {
			es, _ := parseBundle(m[last].Data)
			es[1], es[2] = es[2], es[1]
			m[last].Data = encodeBundle(es)
		},
		"remove a file": func(m fstest.MapFS) { delete(m, "tile/0/000.p/5") },
		"remove an artefact": func(m fstest.MapFS) {
			for n := range m {
				if strings.HasPrefix(n, "artefacts/") {
					delete(m, n)
				}
			}
		},
		"an unexpected file": func(m fstest.MapFS) { m["tile/extra"] = &fstest.MapFile{Data: []byte("x")} },
		"an artefact no entry cites": func(m fstest.MapFS) {
			data := []byte("<KSR id=\"planted\"/>\n")
			m["artefacts/sha256/"+fmt.Sprintf("%x", sha256.Sum256(data))] = &fstest.MapFile{Data: data}
		},
		"roll back to an earlier checkpoint": func(m fstest.MapFS) {
			m["checkpoint"] = &fstest.MapFile{Data: m["checkpoints/3"].Data}
		},
		"rename an archived checkpoint": func(m fstest.MapFS) {
			m["checkpoints/4"] = m["checkpoints/3"]
		},
		"a forged entry after the checkpoint": func(m fstest.MapFS) {
			es, _ := parseBundle(m[last].Data)
			forged := &event.Entry{Seq: 5, Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Prev: PrevHash(es[4]), Event: event.Close{}}
			b, _ := forged.Marshal()
			m["tile/entries/000.p/6"] = &fstest.MapFile{Data: encodeBundle(append(es, b))}
		},
		"a named pipe": func(m fstest.MapFS) {
			m["artefacts/sha256/"+strings.Repeat("0", 64)] = &fstest.MapFile{Mode: fs.ModeNamedPipe}
		},
		"a symbolic link for the checkpoint": func(m fstest.MapFS) {
			m["checkpoint"] = &fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}
		},
		"a non-canonical tile path": func(m fstest.MapFS) {
			m["tile/0/x000/000.p/5"] = m["tile/0/000.p/5"]
		},
		"a second, invalid signature line by the log key": func(m fstest.MapFS) {
			cp := m["checkpoint"].Data
			i := bytes.LastIndex(cp[:len(cp)-1], []byte("\n"))
			line := string(cp[i+1 : len(cp)-1])
			j := strings.LastIndex(line, " ")
			sig, _ := base64.StdEncoding.DecodeString(line[j+1:])
			sig[10] ^= 1 // a valid encoding of a wrong signature
			line = line[:j+1] + base64.StdEncoding.EncodeToString(sig) + "\n"
			m["checkpoint"] = &fstest.MapFile{Data: append(bytes.Clone(cp), line...)}
		},
		"a file name of many digits": func(m fstest.MapFS) {
			m["tile/entries/"+strings.Repeat("7", 80)] = &fstest.MapFile{}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := loadFS(t, dir)
			mutate(m)
			if rep := verifyFS(t, m, VerifyOptions{}); rep.OK {
				t.Fatal("went unnoticed")
			} else {
				t.Logf("%s: %s", rep.FirstFailure().ID, rep.FirstFailure().Detail)
			}
		})
	}
}

// TestForkedHistory: a second history signed with the same key (what a stolen
// or misused log key could produce) passes on its own, but not against a
// checkpoint of the first history that a viewer kept.
func TestForkedHistory(t *testing.T) {
	key := testKey(t, "test.keyceremony.invalid/fork/rehearsal")
	honest := buildLog(t, key, 3, "honest")
	forged := buildLog(t, key, 4, "forged")
	seen, err := os.ReadFile(filepath.Join(honest, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, forged, VerifyOptions{VKey: key.VKey})
	rep, err := Verify(os.DirFS(forged), VerifyOptions{VKey: key.VKey,
		Checkpoints: []NamedCheckpoint{{Name: "seen-on-stream", Data: seen}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstFailure().ID != CheckConsistency {
		t.Fatalf("forged history passed against a kept checkpoint: %+v", rep.FirstFailure())
	}
	// A checkpoint signed by another key is refused too.
	other := testKey(t, key.Signer.Name())
	foreign := buildLog(t, other, 1, "x")
	cp, _ := os.ReadFile(filepath.Join(foreign, "checkpoint"))
	rep, _ = Verify(os.DirFS(honest), VerifyOptions{Checkpoints: []NamedCheckpoint{{Name: "foreign", Data: cp}}})
	if rep.OK {
		t.Fatal("a checkpoint of another key was accepted")
	}
}

// mapSource serves a log held in memory to a Follower, and notes what it
// read.
type mapSource struct {
	m    fstest.MapFS
	read map[string]bool
}

func (s mapSource) Read(_ context.Context, name string) ([]byte, error) {
	if s.read != nil {
		s.read[name] = true
	}
	f, ok := s.m[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return bytes.Clone(f.Data), nil
}

func (s mapSource) String() string { return "memory" }

// TestFollowEveryByte: a viewer (watch, and the Follower under it) is
// refused every single-byte change and every truncation of what it reads of
// a closed log: the checkpoint and the entry bundles (with the log key
// pinned), and the log key (trusted on first use): each one is an alarm or
// an error, never a verified checkpoint.
func TestFollowEveryByte(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, "test.keyceremony.invalid/follow-tamper/rehearsal")
	m := loadFS(t, buildLog(t, key, 4, "a"))
	read := map[string]bool{}
	follow := func(pinned bool) error {
		vkey := key.VKey
		if !pinned {
			vkey = ""
		}
		f, err := NewFollower(ctx, mapSource{m, read}, vkey, "")
		if err != nil {
			return err
		}
		u, err := f.Poll(ctx)
		if err == nil && u == nil {
			return errors.New("nothing verified")
		}
		return err
	}
	if err := follow(false); err != nil {
		t.Fatalf("the untouched log: %v", err)
	}
	// What a viewer reads: the checkpoint, the key, the entry bundles the
	// checkpoint covers. (Tiles it recomputes; older partial bundles and
	// artefacts are verify's.)
	viewed := read
	read = nil
	tried := 0
	for _, name := range sortedNames(m) {
		pinned := name != "log.vkey"
		if !viewed[name] {
			continue
		}
		data := m[name].Data
		// The key's text, not its line's end: a viewer reads the key
		// trimmed, as verify does.
		n := len(data)
		if name == "log.vkey" {
			n = len(bytes.TrimSpace(data))
		}
		for i := range n {
			for _, flip := range []byte{0x01, 0x80} {
				orig := data[i]
				data[i] ^= flip
				err := follow(pinned)
				data[i] = orig
				tried++
				if err == nil {
					t.Fatalf("%s: byte %d ^ %#x went unnoticed by a viewer", name, i, flip)
				}
			}
		}
		for cut := 0; cut < n; cut++ {
			m[name].Data = data[:cut]
			tried++
			if follow(pinned) == nil {
				t.Fatalf("%s: truncation to %d bytes went unnoticed by a viewer", name, cut)
			}
		}
		m[name].Data = data
	}
	t.Logf("%d changes and truncations of the %d files a viewer reads, all refused", tried, len(viewed))
}
