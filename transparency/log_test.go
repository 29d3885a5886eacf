package transparency

import (
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/durable"

	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// testKey makes a throwaway rehearsal key.
func testKey(t testing.TB, origin string) *Key {
	t.Helper()
	skey, _, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestLog opens a new log in a temporary folder.
func newTestLog(t testing.TB) (*Log, *Key) {
	t.Helper()
	k := testKey(t, "test.keyceremony.invalid/log/rehearsal")
	l, err := Open(context.Background(), filepath.Join(t.TempDir(), "log"), Options{Key: k, New: true,
		Open: event.Open{ScriptSHA256: strings.Repeat("ab", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	return l, k
}

func mustVerify(t testing.TB, dir string, opts VerifyOptions) *Report {
	t.Helper()
	rep, err := Verify(os.DirFS(dir), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		for _, c := range rep.Checks {
			t.Logf("%s ok=%v %s", c.ID, c.OK, c.Detail)
		}
		t.Fatalf("verify %s failed: %+v", dir, rep.FirstFailure())
	}
	return rep
}

func TestLogAppendCloseReopen(t *testing.T) {
	ctx := context.Background()
	l, k := newTestLog(t)
	dir := l.Dir()
	art, err := l.StoreArtefact("ksr.xml", []byte("<KSR/>"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Append(ctx, event.StepDone{Step: "1.1", Role: "CA"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Index != 1 {
		t.Fatalf("index %d, want 1", a.Index)
	}
	b, err := l.Append(ctx, event.KSRLoaded{Step: "1.2", SHA256: art.SHA256}, art)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.AwaitCheckpoint(ctx, b.Index)
	if err != nil || cp.Size != 3 {
		t.Fatalf("checkpoint %v, %v", cp, err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "3")); err != nil {
		t.Fatal("checkpoint of size 3 not archived:", err)
	}
	rep := mustVerify(t, dir, VerifyOptions{})
	if rep.Size != 3 || !rep.Rehearsal || rep.Entries[2].Artefacts[0].SHA256 != art.SHA256 {
		t.Fatalf("report: size %d rehearsal %v", rep.Size, rep.Rehearsal)
	}
	if rep.Entries[2].Prev != hex.EncodeToString(a.Leaf[:]) {
		t.Fatalf("prev %s, want %x", rep.Entries[2].Prev, a.Leaf)
	}

	// Reopen: refused as new, accepted as existing, continues the chain.
	if _, err := Open(ctx, dir, Options{Key: k, New: true}); !errors.Is(err, ErrLogExists) {
		t.Fatalf("open as new: %v, want ErrLogExists", err)
	}
	l2, err := Open(ctx, dir, Options{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l2.Append(ctx, event.Close{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Index != 3 {
		t.Fatalf("index after reopen %d, want 3", c.Index)
	}
	if err := l2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, dir, VerifyOptions{VKey: k.VKey, Origin: k.Signer.Name()})
	if rep.Size != 4 || rep.Entries[3].Prev != hex.EncodeToString(b.Leaf[:]) {
		t.Fatalf("after reopen: size %d prev %s", rep.Size, rep.Entries[3].Prev)
	}
}

func TestOpenRefusals(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "test.keyceremony.invalid/refuse/rehearsal")
	empty := t.TempDir()
	if _, err := Open(ctx, empty, Options{Key: k}); !errors.Is(err, ErrNoLog) {
		t.Errorf("empty folder without New: %v, want ErrNoLog", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("hi"), 0o644)
	if _, err := Open(ctx, other, Options{Key: k, New: true}); !errors.Is(err, ErrNotLog) {
		t.Errorf("folder of other files: %v, want ErrNotLog", err)
	}
	l, _ := newTestLog(t)
	dir := l.Dir()
	if _, err := Open(ctx, dir, Options{Key: k}); !errors.Is(err, ErrLogBusy) {
		t.Errorf("second open while open: %v, want ErrLogBusy", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, Options{Key: k}); !errors.Is(err, ErrBrokenLog) {
		t.Errorf("log of another key: %v, want ErrBrokenLog", err)
	}
	// A broken log is refused and left as it was.
	bundle := filepath.Join(dir, "tile/entries/000.p/1")
	data, _ := os.ReadFile(bundle)
	data[5] ^= 1
	os.WriteFile(bundle, data, 0o644)
	l2, _ := newTestLog(t)
	_ = l2.Close(ctx)
	if _, err := Open(ctx, dir, Options{Key: testKey(t, "x/rehearsal")}); err == nil {
		t.Error("tampered log opened")
	}
}

func TestEntryTimesNeverGoBack(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	k := testKey(t, "test.keyceremony.invalid/clock/rehearsal")
	l, err := Open(ctx, filepath.Join(t.TempDir(), "log"), Options{Key: k, New: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(-time.Hour)
	a, err := l.Append(ctx, event.StepDone{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Time.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("time went back to %v", a.Time)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l.Dir(), VerifyOptions{})
}

// TestArchiveMatchesPublished: each archived checkpoint is byte for byte the
// checkpoint Tessera published for that size.
func TestArchiveMatchesPublished(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLog(t)
	for i := 0; i < 3; i++ {
		a, err := l.Append(ctx, event.StepDone{})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := l.AwaitCheckpoint(ctx, a.Index)
		if err != nil {
			t.Fatal(err)
		}
		archived, err := os.ReadFile(filepath.Join(l.Dir(), "checkpoints", fmt.Sprint(cp.Size)))
		if err != nil || string(archived) != string(cp.Note) {
			t.Fatalf("checkpoints/%d differs from the published checkpoint:\n%s\n%s", cp.Size, archived, cp.Note)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.AwaitCheckpoint(ctx, 10); err == nil {
		t.Fatal("AwaitCheckpoint on a closed log returned no error")
	}
}

// TestArchiveFailureStops: a checkpoint whose archive could not be synced
// stops the log's checkpoints for good (until the log is reopened), even
// though Tessera's next try at it succeeds: AwaitCheckpoint reports the
// failure after the retried checkpoint is published, every time.
func TestArchiveFailureStops(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "test.keyceremony.invalid/log/rehearsal")
	dir := filepath.Join(t.TempDir(), "log")
	faults := &durable.Faults{}
	faults.Inject(durable.OpFsync, filepath.Join(dir, "checkpoints"), 2)
	l, err := Open(ctx, dir, Options{Key: k, New: true, Disk: durable.Disk{Faults: faults},
		Open: event.Open{ScriptSHA256: strings.Repeat("ab", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	var a Appended
	for i := 0; i < 4; i++ {
		if a, err = l.Append(ctx, event.StepDone{}); err != nil {
			break
		}
		if _, err = l.AwaitCheckpoint(ctx, a.Index); err != nil {
			break
		}
	}
	if err == nil || !errors.Is(err, syscall.EIO) {
		t.Fatalf("a failed checkpoint fsync: %v", err)
	}
	// Wait until the retried checkpoint is archived and published.
	for l.Latest() == nil || l.Latest().Size <= a.Index {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := l.AwaitCheckpoint(ctx, a.Index); !errors.Is(err, syscall.EIO) {
		t.Fatalf("after the retried checkpoint: %v", err)
	}
}

// TestInterruptedCreation: a crash while a log was being created (its key
// written, no entry yet) leaves a folder that can be started again as new.
func TestInterruptedCreation(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "test.keyceremony.invalid/interrupted/rehearsal")
	dir := filepath.Join(t.TempDir(), "log")
	os.MkdirAll(filepath.Join(dir, ".state"), 0o755)
	os.WriteFile(filepath.Join(dir, "log.vkey"), []byte(k.VKey+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".log.vkey.tmp-123"), []byte("x"), 0o644)
	if _, err := Open(ctx, dir, Options{Key: k}); !errors.Is(err, ErrNoLog) {
		t.Fatalf("open without New: %v, want ErrNoLog", err)
	}
	l, err := Open(ctx, dir, Options{Key: k, New: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, dir, VerifyOptions{})
	if _, err := Open(ctx, dir, Options{Key: testKey(t, "other/rehearsal"), New: true}); !errors.Is(err, ErrLogExists) {
		t.Fatalf("new log over an existing one: %v, want ErrLogExists", err)
	}
}
