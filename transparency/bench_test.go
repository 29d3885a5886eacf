package transparency

import (
	"path"
	"runtime"
	"strconv"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/durable"
	"golang.org/x/mod/sumdb/note"

	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"github.com/transparency-dev/tessera/storage/posix"
)

// sampleRecord is a typical step entry's payload (about 250 bytes as JSON).
func sampleRecord(i int) event.Event {
	return event.StepSkipped{Step: fmt.Sprintf("%d.%d", i/10+1, i%10+1), Witness: "IW",
		Reason: "Crypto officers present their cards and the internal witness records each card, as the script says"}
}

// BenchmarkAppend measures one append until it is durable, and until a signed
// checkpoint covers it, against a bare write+fsync of the same number of bytes
// to one file on the same file system, measured in the same iterations.
//
//   - durable: Append returns (the entry is synced to the journal); between
//     timed appends the benchmark waits, untimed, for Tessera to integrate it,
//     as a ceremony's pace (seconds between steps) always allows.
//   - checkpointed: Append and AwaitCheckpoint back to back; each append waits
//     for the next checkpoint interval (Tessera's POSIX minimum is 100 ms).
//   - checkpointed-paced: the same, with appends at least one checkpoint
//     interval apart, as in a ceremony.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []string{"durable", "checkpointed", "checkpointed-paced"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			l, _ := newTestLog(b)
			defer l.Close(ctx)
			f, err := os.CreateTemp(filepath.Dir(l.Dir()), "baseline-")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var opNs, baseNs int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "checkpointed-paced" {
					b.StopTimer()
					time.Sleep(CheckpointInterval + 10*time.Millisecond)
					b.StartTimer()
				}
				t0 := time.Now()
				a, err := l.Append(ctx, sampleRecord(i))
				if err != nil {
					b.Fatal(err)
				}
				if mode != "durable" {
					if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
						b.Fatal(err)
					}
				}
				opNs += time.Since(t0).Nanoseconds()
				b.StopTimer()
				if err := l.awaitIntegrated(ctx, a.Index); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := f.Write(a.Data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				baseNs += time.Since(t1).Nanoseconds()
				b.StartTimer()
			}
			b.StopTimer()
			per, base := float64(opNs)/float64(b.N), float64(baseNs)/float64(b.N)
			b.ReportMetric(per/1e3, "µs/append")
			b.ReportMetric(base/1e3, "baseline-µs/op")
			b.ReportMetric(per/base, "x-baseline")
		})
	}
}

// bulkLog writes a log of n entries quickly (Tessera batches of 256) with the
// same entry format, chain and opening entry as Log writes, for the verifier
// benchmark. The checkpoint archive holds the checkpoints seen while writing.
func bulkLog(b *testing.B, n int) (string, *Key) {
	b.Helper()
	key := testKey(b, "bench.keyceremony.invalid/bulk/rehearsal")
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return writeLog(b, key, n, func(i int, prev string) []byte {
		rec := sampleRecord(i)
		if i == 0 {
			rec = event.Open{Origin: key.Signer.Name(), LogVKey: key.VKey}
		}
		e := &event.Entry{Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second), Prev: prev, Event: rec}
		data, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		return data
	}), key
}

// writeLog writes a log of n entries, each the bytes entry returns given
// its index and the previous entry's leaf hash, signed by key: what
// whoever holds the log key can write, whatever bytes they choose.
func writeLog(b testing.TB, key *Key, n int, entry func(i int, prev string) []byte) string {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "log")
	if err := mkdirDurable(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, vkeyFile), []byte(key.VKey+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	drv, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	app, shutdown, reader, err := tessera.NewAppender(cctx, drv, tessera.NewAppendOptions().
		WithCheckpointSigner(key.Signer).WithBatching(256, 50*time.Millisecond).
		WithCheckpointInterval(CheckpointInterval).WithCheckpointRepublishInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	prev := ""
	for start := 0; start < n; start += 256 {
		var futures []tessera.IndexFuture
		for i := start; i < min(start+256, n); i++ {
			data := entry(i, prev)
			prev = PrevHash(data)
			futures = append(futures, app.Add(ctx, tessera.NewEntry(data)))
		}
		for j, f := range futures {
			idx, err := f()
			if err != nil || idx.Index != uint64(start+j) {
				b.Fatalf("entry %d went to %d: %v", start+j, idx.Index, err)
			}
		}
		if cp, err := reader.ReadCheckpoint(ctx); err == nil {
			if _, size, _, err := ParseCheckpointBody(strings.SplitN(string(cp), "\n\n", 2)[0] + "\n"); err == nil && size > 0 {
				writeDurable(durable.Disk{}, filepath.Join(dir, checkpointsDir, fmt.Sprint(size)), cp, true)
			}
		}
	}
	if err := shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkVerify verifies a 10,000-entry log folder, against reading and
// SHA-256 hashing every file of the same folder, measured in the same run.
func BenchmarkVerify(b *testing.B) {
	const n = 10000
	dir, _ := bulkLog(b, n)
	fsys := os.DirFS(dir)
	rep, err := Verify(fsys, VerifyOptions{})
	if err != nil || !rep.OK || rep.Size != n {
		b.Fatalf("bench log does not verify: %v %+v", err, rep.FirstFailure())
	}
	var total int64
	files := 0
	hashAll := func() {
		total, files = 0, 0
		fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				if d != nil && d.Name() == stateDir {
					return fs.SkipDir
				}
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			_ = sum
			total += int64(len(data))
			files++
			return nil
		})
	}
	per, base := sideBySide(b, func() {
		if rep, err := Verify(fsys, VerifyOptions{}); err != nil || !rep.OK {
			b.Fatal("verify failed")
		}
	}, hashAll)
	b.ReportMetric(per/1e6, "verify-ms/op")
	b.SetBytes(total)
	b.ReportMetric(float64(files), "files")
	b.ReportMetric(base/1e6, "baseline-ms/op")
	b.ReportMetric(per/base, "x-baseline")
}

// BenchmarkVerifyVsFsck verifies a 100,000-entry log folder with Verify,
// against Tessera's own fsck (its root and every tile recomputed from the
// entry bundles) over the same folder, measured side by side in the same
// run. Two folders: "bulk", written in Tessera batches of 256 (20 archived
// checkpoints); and "paced", the same entries as a log that publishes a
// checkpoint every 64 entries leaves them: every partial bundle and tile of
// those sizes, and 1,562 archived checkpoints, each signed.
func BenchmarkVerifyVsFsck(b *testing.B) {
	for _, layout := range []string{"bulk", "paced"} {
		b.Run(layout, func(b *testing.B) { benchmarkVerifyVsFsck(b, layout == "paced") })
	}
}

// pace adds to a log folder what publishing a checkpoint every `every`
// entries leaves in it: the partial entry bundles and tiles of each such
// size, and its checkpoint archived, signed by key.
func pace(b *testing.B, dir string, key *Key, every int) {
	b.Helper()
	rep, err := Verify(os.DirFS(dir), VerifyOptions{})
	if err != nil || !rep.OK {
		b.Fatalf("%v %+v", err, rep.FirstFailure())
	}
	entries := rep.RawEntries
	leaves := make([]Hash, len(entries))
	for i, e := range entries {
		leaves[i] = LeafHash(e)
	}
	t := newTree(leaves)
	write := func(name string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for s := uint64(every); s < uint64(len(entries)); s += uint64(every) {
		if w := s % 256; w != 0 {
			idx := s / 256
			write(layout.EntriesPath(idx, uint8(w)), encodeBundle(entries[idx*256:s]))
		}
		for level := uint64(0); s>>(8*level) > 0; level++ {
			n := s >> (8 * level)
			if w := n % 256; w != 0 {
				var data []byte
				for _, h := range t.levels[8*level][n-w : n] {
					data = append(data, h[:]...)
				}
				write(layout.TilePath(level, n/256, uint8(w)), data)
			}
		}
		root, err := t.root(s)
		if err != nil {
			b.Fatal(err)
		}
		cp, err := note.Sign(&note.Note{Text: FormatCheckpointBody(key.Signer.Name(), s, root)}, key.Signer)
		if err != nil {
			b.Fatal(err)
		}
		write(path.Join(checkpointsDir, strconv.FormatUint(s, 10)), cp)
	}
}

func benchmarkVerifyVsFsck(b *testing.B, paced bool) {
	const n = 100_000
	dir, key := bulkLog(b, n)
	if paced {
		pace(b, dir, key, 64)
	}
	fsys := os.DirFS(dir)
	v, err := note.NewVerifier(key.VKey)
	if err != nil {
		b.Fatal(err)
	}
	leafHashes := func(bundle []byte) ([][]byte, error) {
		eb := &api.EntryBundle{}
		if err := eb.UnmarshalText(bundle); err != nil {
			return nil, err
		}
		out := make([][]byte, 0, len(eb.Entries))
		for _, e := range eb.Entries {
			h := LeafHash(e)
			out = append(out, h[:])
		}
		return out, nil
	}
	fsckOnce := func() error {
		return fsck.New(v.Name(), v, client.FileFetcher{Root: dir}, leafHashes, fsck.Opts{N: uint(runtime.GOMAXPROCS(0))}).Check(context.Background())
	}
	if err := fsckOnce(); err != nil {
		b.Fatalf("fsck: %v", err)
	}
	if rep, err := Verify(fsys, VerifyOptions{}); err != nil || !rep.OK || rep.Size != n {
		b.Fatalf("bench log does not verify: %v %+v", err, rep.FirstFailure())
	}
	per, base := sideBySide(b, func() {
		if rep, err := Verify(fsys, VerifyOptions{}); err != nil || !rep.OK {
			b.Fatal("verify failed")
		}
	}, func() {
		if err := fsckOnce(); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(per/1e6, "verify-ms/op")
	b.ReportMetric(base/1e6, "fsck-ms/op")
	b.ReportMetric(per/base, "x-fsck")
}

// sideBySide times op and its baseline in alternation, b.N times each, so
// that both see the same machine; it returns each one's mean in ns.
func sideBySide(b *testing.B, op, baseline func()) (opNs, baseNs float64) {
	var opT, baseT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		op()
		t1 := time.Now()
		baseline()
		opT, baseT = opT+t1.Sub(t0), baseT+time.Since(t1)
	}
	b.StopTimer()
	return float64(opT.Nanoseconds()) / float64(b.N), float64(baseT.Nanoseconds()) / float64(b.N)
}
