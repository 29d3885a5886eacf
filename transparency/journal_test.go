package transparency

import (
	"github.com/keyceremony/keyceremony/ceremony/event"

	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// nextEntry builds the entry that would follow the log's last one.
func nextEntry(t *testing.T, rep *Report, ev event.Event) []byte {
	t.Helper()
	last := rep.RawEntries[len(rep.RawEntries)-1]
	e := &event.Entry{Seq: uint64(len(rep.RawEntries)), Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Prev: PrevHash(last), Event: ev}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendRecord(t *testing.T, dir string, rec []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, stateDir, journalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(rec); err != nil {
		t.Fatal(err)
	}
}

func journalRecord(entry []byte) []byte {
	h := LeafHash(entry)
	rec := []byte{byte(len(entry) >> 8), byte(len(entry))}
	return append(append(rec, entry...), h[:]...)
}

// TestJournalReplay: an entry that only the journal holds (the process died
// after the append returned, before Tessera wrote it) is integrated on reopen;
// a torn record after it (the process died mid-write, so that append never
// returned) is dropped.
func TestJournalReplay(t *testing.T) {
	ctx := context.Background()
	l, key := newTestLog(t)
	dir := l.Dir()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir, VerifyOptions{})
	entry := nextEntry(t, rep, event.NotApplicable{Step: "9.9"})
	torn := journalRecord([]byte(`{"seq":2}`))
	appendRecord(t, dir, append(journalRecord(entry), torn[:len(torn)-5]...))

	l2, err := Open(ctx, dir, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Size() != 2 {
		t.Fatalf("size after replay %d, want 2", l2.Size())
	}
	if err := l2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, dir, VerifyOptions{})
	if rep.Size != 2 || string(rep.RawEntries[1]) != string(entry) {
		t.Fatalf("replayed entry missing: size %d", rep.Size)
	}
	if fi, err := os.Stat(filepath.Join(dir, stateDir, journalFile)); err != nil || fi.Size() != 0 {
		t.Fatalf("journal not emptied after a clean close: %v", err)
	}
}

// TestJournalRefusesForeignEntries: a journal whose entries do not continue
// the log (a different entry at a logged index, a gap, a broken chain) stops
// the log from opening; nothing is appended.
func TestJournalRefusesForeignEntries(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(rep *Report) []byte{
		"different logged entry": func(rep *Report) []byte {
			e := nextEntry(t, rep, event.NotApplicable{Step: "9.9"})
			p, _ := event.Parse(e)
			p.Seq, p.Prev = 0, ""
			b, _ := p.Marshal()
			return b
		},
		"gap": func(rep *Report) []byte {
			p, _ := event.Parse(nextEntry(t, rep, event.NotApplicable{Step: "9.9"}))
			p.Seq++
			b, _ := p.Marshal()
			return b
		},
		"broken chain": func(rep *Report) []byte {
			p, _ := event.Parse(nextEntry(t, rep, event.NotApplicable{Step: "9.9"}))
			p.Prev = PrevHash([]byte("another history"))
			b, _ := p.Marshal()
			return b
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			l, key := newTestLog(t)
			dir := l.Dir()
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			rep := mustVerify(t, dir, VerifyOptions{})
			appendRecord(t, dir, journalRecord(mk(rep)))
			if _, err := Open(ctx, dir, Options{Key: key}); !errors.Is(err, ErrBrokenLog) {
				t.Fatalf("err = %v, want ErrBrokenLog", err)
			}
			if after := mustVerify(t, dir, VerifyOptions{}); after.Size != rep.Size {
				t.Fatalf("log changed: size %d -> %d", rep.Size, after.Size)
			}
		})
	}
}
