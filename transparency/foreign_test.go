package transparency

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
)

// TestResumeRefusesForeignEntry: an entry written into a stopped log's
// tiles and Tessera's tree state by something other than the log (here
// Tessera itself, with another key, the log's own checkpoint put back)
// is neither under a signed checkpoint nor in the journal. Reopening the
// log would sign it; the log is not reopened, and nothing is changed.
func TestResumeRefusesForeignEntry(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, "test.keyceremony.invalid/foreign/rehearsal")
	dir := buildLog(t, key, 3, "a")
	checkpoint, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(os.DirFS(dir), VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("%v %+v", err, rep.FirstFailure())
	}
	last := rep.RawEntries[len(rep.RawEntries)-1]
	h, _ := event.ParseHeader(last)

	// The planted entry: an exception nobody typed, chained as the log
	// chains them.
	forged := &event.Entry{Seq: rep.Size, Time: h.Time.Add(time.Second), Prev: PrevHash(last), Event: event.Exception{Step: "1.1", Text: "planted"}}
	data, err := forged.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(t, "test.keyceremony.invalid/other/rehearsal")
	drv, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithCancel(ctx)
	app, shutdown, _, err := tessera.NewAppender(tctx, drv, tessera.NewAppendOptions().WithCheckpointSigner(other.Signer).WithCheckpointInterval(CheckpointInterval))
	if err != nil {
		t.Fatal(err)
	}
	if idx, err := app.Add(ctx, tessera.NewEntry(data))(); err != nil || idx.Index != rep.Size {
		t.Fatalf("planted at %v: %v", idx, err)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), checkpoint, 0o644); err != nil {
		t.Fatal(err)
	}
	before := loadFS(t, dir)

	_, err = Open(ctx, dir, Options{Key: key})
	if !errors.Is(err, ErrForeignEntry) || !errors.Is(err, ErrBrokenLog) || !strings.Contains(err.Error(), "entry 4 is in the tiles, but neither the last signed checkpoint (size 4) nor the journal accounts for it") {
		t.Fatalf("reopened: %v", err)
	}
	after := loadFS(t, dir)
	for name, f := range before {
		if g, ok := after[name]; !ok || string(g.Data) != string(f.Data) {
			t.Fatalf("%s changed by the refused reopening", name)
		}
	}
}

// TestReopenPrunesUncitedArtefacts: an artefact stored for an append that
// never happened (the step failed after storing it) records nothing; the
// log removes it when it is reopened, and the folder verifies.
func TestReopenPrunesUncitedArtefacts(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, "test.keyceremony.invalid/prune/rehearsal")
	dir := buildLog(t, key, 3, "a")
	l, err := Open(ctx, dir, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := l.StoreArtefact("skr.xml", []byte("<SKR/>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, "artefacts", "sha256", ref.SHA256)
	rep, err := Verify(os.DirFS(dir), VerifyOptions{})
	if err != nil || rep.OK || rep.FirstFailure().ID != CheckArtefacts || !strings.Contains(rep.FirstFailure().Detail, ref.SHA256+": cited by no entry") {
		t.Fatalf("the uncited artefact went unnoticed: %v %+v", err, rep.FirstFailure())
	}
	if l, err = Open(ctx, dir, Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the uncited artefact is still there: %v", err)
	}
	if rep, err := Verify(os.DirFS(dir), VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("%v %+v", err, rep.FirstFailure())
	}
}
