package transparency

import (
	"fmt"

	"github.com/keyceremony/keyceremony/ceremony/event"

	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/internal/logtest"
)

// appendN appends n entries with the given text and waits for the
// checkpoint covering them.
func appendN(t *testing.T, l *Log, text string, n int) {
	t.Helper()
	ctx := context.Background()
	var last Appended
	for i := 0; i < n; i++ {
		a, err := l.Append(ctx, event.Exception{Step: fmt.Sprint(i), Text: text})
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	if _, err := l.AwaitCheckpoint(ctx, last.Index); err != nil {
		t.Fatal(err)
	}
}

// TestFollowGrowingLog follows a log that grows while it is watched, from
// its folder and over real HTTP on loopback: each poll verifies the new
// checkpoint and returns exactly the entries it added, across the first
// full entry bundle; a poll with nothing new returns nothing.
func TestFollowGrowingLog(t *testing.T) {
	ctx := context.Background()
	l, k := newTestLog(t)
	defer l.Close(ctx)
	appendN(t, l, "step.done", 3)
	srv := httptest.NewServer(http.FileServer(http.Dir(l.Dir())))
	defer srv.Close()
	hs, err := NewHTTPSource(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var followers []*Follower
	for _, src := range []Source{DirSource(l.Dir()), hs} {
		f, err := NewFollower(ctx, src, k.VKey, "")
		if err != nil {
			t.Fatal(err)
		}
		followers = append(followers, f)
	}
	for _, f := range followers {
		u, err := f.Poll(ctx)
		if err != nil || u == nil || u.Previous != 0 || len(u.New) != 4 || u.Checkpoint.Size != 4 {
			t.Fatalf("%s: first poll: %+v, %v", f.Source(), u, err)
		}
	}
	appendN(t, l, "step.witnessed", 300)
	for _, f := range followers {
		u, err := f.Poll(ctx)
		if err != nil || u == nil || u.Previous != 4 || len(u.New) != 300 || u.Checkpoint.Size != 304 {
			t.Fatalf("%s: second poll: %+v, %v", f.Source(), u, err)
		}
		if !strings.Contains(string(u.New[299]), `"step":"299"`) || !strings.Contains(string(u.New[0]), `"step.witnessed"`) {
			t.Fatalf("%s: the new entries are not the ones appended", f.Source())
		}
		if u, err := f.Poll(ctx); u != nil || err != nil {
			t.Fatalf("%s: a poll with nothing new: %+v, %v", f.Source(), u, err)
		}
	}
	rep := mustVerify(t, l.Dir(), VerifyOptions{VKey: k.VKey, AllowInterrupted: true})
	for i, e := range followers[1].Entries() {
		if !bytes.Equal(e, rep.RawEntries[i]) {
			t.Fatalf("entry %d differs from the verifier's", i)
		}
	}
}

// TestFollowAlarms: the follower refuses, as an *Alarm, a checkpoint that
// is not signed by the pinned key, a log served with different history (a
// rewrite, a shrink, a split view of the same size), and entries that do
// not give the checkpoint's root; after an alarm it keeps what it verified.
func TestFollowAlarms(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "test.keyceremony.invalid/follow/rehearsal")
	open := func(text string, n int) string {
		dir := filepath.Join(t.TempDir(), "log")
		l, err := Open(ctx, dir, Options{Key: k, New: true, Open: event.Open{ScriptSHA256: strings.Repeat("ab", 32)}})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, text, n)
		l.Close(ctx)
		return dir
	}
	a5, b5, b9, b2 := open("step.done", 5), open("step.skipped", 5), open("step.skipped", 9), open("step.skipped", 2)
	a9 := open("step.done", 9)
	served := filepath.Join(t.TempDir(), "served")
	follow := func(dir string) *Follower {
		logtest.CopyPublished(t, dir, served)
		f, err := NewFollower(ctx, DirSource(served), k.VKey, "")
		if err != nil {
			t.Fatal(err)
		}
		if u, err := f.Poll(ctx); err != nil || u == nil {
			t.Fatalf("first poll: %v", err)
		}
		return f
	}
	alarm := func(f *Follower, check, want string) {
		t.Helper()
		before := f.Checkpoint()
		_, err := f.Poll(ctx)
		var a *Alarm
		if !errors.As(err, &a) || a.Check != check || !strings.Contains(a.Detail, want) {
			t.Fatalf("%v, want an alarm %s: %q", err, check, want)
		}
		if f.Checkpoint() != before {
			t.Fatal("the follower took a checkpoint that raised an alarm")
		}
	}
	// History rewritten: a longer log whose first entries differ.
	f := follow(a5)
	logtest.CopyPublished(t, b9, served)
	alarm(f, CheckConsistency, "changed since checkpoint 6: history was rewritten")
	// A split view: another log of the same size.
	f = follow(a5)
	logtest.CopyPublished(t, b5, served)
	alarm(f, CheckConsistency, "a split view")
	// A shrink.
	f = follow(a5)
	logtest.CopyPublished(t, b2, served)
	alarm(f, CheckConsistency, "the log shrank from 6 to 3 entries")
	// The same log grown is fine after all that.
	f = follow(a5)
	logtest.CopyPublished(t, a9, served)
	if _, err := f.Poll(ctx); err == nil {
		t.Fatal("a9 is not a5 grown: its entries have other times")
	}
	// A checkpoint not signed by the pinned key.
	f = follow(a5)
	cp, _ := os.ReadFile(filepath.Join(served, checkpointFile))
	os.WriteFile(filepath.Join(served, checkpointFile), bytes.Replace(cp, []byte("\n6\n"), []byte("\n7\n"), 1), 0o644)
	alarm(f, CheckSignature, "")
	other := testKey(t, "test.keyceremony.invalid/follow/rehearsal")
	logtest.CopyPublished(t, a5, served)
	g, _ := NewFollower(ctx, DirSource(served), other.VKey, "")
	if _, err := g.Poll(ctx); !errors.Is(err, ErrAlarm) {
		t.Fatalf("another key: %v", err)
	}
	// Entries that do not give the checkpoint's root.
	logtest.CopyPublished(t, a5, served)
	changed := 0
	filepath.WalkDir(filepath.Join(served, "tile", "entries"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			if i := bytes.Index(data, []byte(`"step":"3"`)); i >= 0 {
				data[i+8] = '4' // the same length: the bundle still parses
				os.WriteFile(p, data, 0o644)
				changed++
			}
		}
		return nil
	})
	if changed == 0 {
		t.Fatal("no entry bundle to change")
	}
	h, _ := NewFollower(ctx, DirSource(served), k.VKey, "")
	if _, err := h.Poll(ctx); !errors.Is(err, ErrAlarm) || !strings.Contains(err.Error(), "the entries served give") {
		t.Fatalf("a changed entry: %v", err)
	}
}
