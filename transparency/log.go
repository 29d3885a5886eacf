package transparency

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
)

// CheckpointInterval is how often the log signs a new checkpoint while it
// grows: the minimum Tessera's POSIX driver allows.
const CheckpointInterval = 100 * time.Millisecond

// Errors from Open. Each tells the caller what the folder holds.
var (
	// ErrNoLog: the folder is empty or missing and no new log was asked for.
	// Ask the person whether to start a new log there.
	ErrNoLog = errors.New("folder holds no log")
	// ErrLogExists: a new log was asked for, but the folder already holds one.
	// Open it without asking for a new log to resume it.
	ErrLogExists = errors.New("folder already holds a log")
	// ErrNotLog: the folder holds other files. Choose another folder.
	ErrNotLog = errors.New("folder holds files that are not a log")
	// ErrBrokenLog: the folder holds a log that does not verify. Nothing is
	// appended to it; run the verifier for the details.
	ErrBrokenLog = errors.New("log does not verify")
	// ErrLogBusy: another process has the log open.
	ErrLogBusy = errors.New("log is open in another process")
	// ErrLogFailed: an append failed part-way and the log must be reopened
	// before anything else is appended.
	ErrLogFailed = errors.New("log append failed; reopen the log")
)

// Options configure Open.
type Options struct {
	// Key signs the checkpoints. Its name is the log's origin. Required.
	Key *Key
	// New creates a new log when the folder is missing or empty.
	New bool
	// OpenFields are kind-specific fields of the ceremony.open entry that a new
	// log starts with (script digest, roster, tool version, …).
	OpenFields map[string]any
	// OpenArtefacts are files that the ceremony.open entry of a new log cites
	// (the script, the roster); they are stored before the entry is written.
	OpenArtefacts []Artefact
	// Now is the clock for entry times; nil means time.Now.
	Now func() time.Time
}

// Artefact is a file to store beside the log and cite from an entry.
type Artefact struct {
	Name string
	Data []byte
}

// Record is what a caller appends; the log adds seq, time and prev.
type Record struct {
	Kind      string
	Fields    map[string]any
	Artefacts []ArtefactRef
}

// Appended describes an entry that is on stable storage.
type Appended struct {
	Index uint64
	Entry []byte
	Leaf  Hash // RFC 6962 leaf hash; its hex is the next entry's prev
	Time  time.Time
}

// Log is an open ceremony log. Its methods are safe for concurrent use;
// appends are serialised.
type Log struct {
	dir    string
	key    *Key
	origin string
	now    func() time.Time

	app      *tessera.Appender
	reader   tessera.LogReader
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	lock     *os.File
	done     chan struct{}

	mu         sync.Mutex // serialises appends; guards the fields below
	size       uint64
	lastDigest string
	lastTime   time.Time
	failed     error

	cpMu    sync.Mutex // guards latest and cpWait
	latest  *Checkpoint
	cpWait  chan struct{} // closed and replaced when latest changes
	cpError error
}

// Open opens the log in dir, or creates one when opts.New is set and dir is
// missing or empty. An existing log is verified in full (signature, root
// against tiles, hash chain) before anything can be appended; one that does
// not verify is refused with ErrBrokenLog.
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	if opts.Key == nil {
		return nil, errors.New("open log: no checkpoint key")
	}
	l := &Log{dir: dir, key: opts.Key, origin: opts.Key.Signer.Name(), now: opts.Now, cpWait: make(chan struct{})}
	if l.now == nil {
		l.now = time.Now
	}
	state, err := folderState(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case state == folderOther:
		return nil, fmt.Errorf("%s: %w; choose an empty folder for a new log", dir, ErrNotLog)
	case state == folderEmpty && !opts.New:
		return nil, fmt.Errorf("%s: %w; start a new log there explicitly", dir, ErrNoLog)
	}
	if state == folderLog && opts.New && holdsEntries(dir) {
		return nil, fmt.Errorf("%s: %w; open it without asking for a new log to resume it", dir, ErrLogExists)
	}
	if state == folderEmpty {
		if err := mkdirDurable(dir); err != nil {
			return nil, fmt.Errorf("create log folder: %w", err)
		}
		if err := writeDurable(filepath.Join(dir, vkeyFile), []byte(opts.Key.VKey+"\n"), true); err != nil {
			return nil, fmt.Errorf("write %s: %w", vkeyFile, err)
		}
	}
	if err := l.lockFolder(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.lock.Close()
		}
	}()
	var rep *Report
	if state == folderLog {
		if rep, err = l.check(); err != nil {
			return nil, err
		}
		if err := removeTempLeftovers(dir); err != nil {
			return nil, err
		}
	}
	if err := l.start(); err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			l.stop(context.Background())
		}
	}()
	integrated, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("read log size: %w", err)
	}
	l.size = integrated
	if integrated > 0 {
		if rep == nil || uint64(len(rep.RawEntries)) < integrated {
			return nil, fmt.Errorf("%s: %w: Tessera's state says %d entries, the bundles hold fewer", dir, ErrBrokenLog, integrated)
		}
		last := rep.RawEntries[integrated-1]
		l.lastDigest = PrevHash(last)
		l.lastTime = rep.Entries[integrated-1].Time
		if _, err := l.AwaitCheckpoint(ctx, integrated-1); err != nil {
			return nil, err
		}
	} else {
		if !opts.New {
			return nil, fmt.Errorf("%s: %w: the log was created but never opened; start it as a new log", dir, ErrNoLog)
		}
		fields := map[string]any{"origin": l.origin, "log_vkey": opts.Key.VKey}
		for k, v := range opts.OpenFields {
			if _, clash := fields[k]; !clash {
				fields[k] = v
			}
		}
		var refs []ArtefactRef
		for _, f := range opts.OpenArtefacts {
			ref, err := l.StoreArtefact(f.Name, f.Data)
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
		}
		a, err := l.Append(ctx, Record{Kind: KindOpen, Fields: fields, Artefacts: refs})
		if err != nil {
			return nil, fmt.Errorf("write %s entry: %w", KindOpen, err)
		}
		if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
			return nil, err
		}
	}
	ok = true
	return l, nil
}

type folderKind int

const (
	folderEmpty folderKind = iota // missing or empty
	folderLog
	folderOther
)

func folderState(dir string) (folderKind, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return folderEmpty, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read log folder: %w", err)
	}
	for _, de := range des {
		if de.Name() == checkpointFile || de.Name() == vkeyFile {
			return folderLog, nil
		}
	}
	switch {
	case len(des) == 0:
		return folderEmpty, nil
	case len(des) == 1 && des[0].Name() == stateDir:
		// Only private state (a lock, diagnostics): an interrupted creation,
		// unless Tessera already holds a tree there.
		if _, err := os.Stat(filepath.Join(dir, stateDir, "treeState")); err == nil {
			return folderLog, nil
		}
		return folderEmpty, nil
	}
	return folderOther, nil
}

// holdsEntries reports whether a log folder's checkpoint or bundles hold any
// entry (a log that was created but never opened holds none).
func holdsEntries(dir string) bool {
	if data, err := os.ReadFile(filepath.Join(dir, checkpointFile)); err == nil {
		if text, _, ok := bytes.Cut(data, []byte("\n\n")); ok {
			if _, size, _, err := ParseCheckpointBody(string(text) + "\n"); err == nil && size > 0 {
				return true
			}
		}
	}
	_, err := os.Stat(filepath.Join(dir, "tile", "entries"))
	return err == nil
}

// lockFolder takes an exclusive lock for the life of the Log, so that no two
// processes append to one log.
func (l *Log) lockFolder() error {
	if err := mkdirDurable(filepath.Join(l.dir, stateDir)); err != nil {
		return fmt.Errorf("log folder is not writable: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, stateDir, "keyceremony.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log folder is not writable: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", l.dir, ErrLogBusy)
	}
	l.lock = f
	return nil
}

// check verifies an existing log before it is reopened.
func (l *Log) check() (*Report, error) {
	rep, err := Verify(os.DirFS(l.dir), VerifyOptions{VKey: l.key.VKey, Origin: l.origin})
	if err != nil {
		return nil, err
	}
	if f := rep.FirstFailure(); f != nil {
		if f.ID == CheckOpenEntry && rep.Stored == 0 {
			return rep, nil // created, never opened: Open treats it as new
		}
		return nil, fmt.Errorf("%s: %w: %s: %s", l.dir, ErrBrokenLog, f.ID, f.Detail)
	}
	return rep, nil
}

func removeTempLeftovers(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if kind, _ := classify(filepath.ToSlash(rel)); kind == fileTemp {
			return os.Remove(p)
		}
		return nil
	})
}

func (l *Log) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	drv, err := posix.New(ctx, posix.Config{Path: l.dir})
	if err != nil {
		cancel()
		return fmt.Errorf("open log storage: %w", err)
	}
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, tessera.NewAppendOptions().
		WithCheckpointSigner(l.key.Signer).
		WithBatching(1, time.Millisecond).
		WithCheckpointInterval(CheckpointInterval).
		WithCheckpointRepublishInterval(0))
	if err != nil {
		cancel()
		return fmt.Errorf("open log storage: %w", err)
	}
	l.app, l.shutdown, l.reader, l.cancel = app, shutdown, reader, cancel
	l.done = make(chan struct{})
	go l.archive(ctx)
	return nil
}

// archive follows the published checkpoint: it checks each new one, copies it
// to checkpoints/<size> and wakes AwaitCheckpoint callers.
func (l *Log) archive(ctx context.Context) {
	defer close(l.done)
	nv, err := noteVerifier(l.key.VKey)
	if err != nil {
		l.setCheckpoint(nil, err)
		return
	}
	var last []byte
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(filepath.Join(l.dir, checkpointFile))
		if err == nil && !bytes.Equal(data, last) {
			cp, err := OpenCheckpoint(data, nv, l.origin)
			if err == nil && cp.Size > 0 {
				name := filepath.Join(l.dir, checkpointsDir, strconv.FormatUint(cp.Size, 10))
				err = writeDurable(name, data, true)
			}
			if err != nil {
				l.setCheckpoint(nil, fmt.Errorf("archive checkpoint: %w", err))
			} else {
				last = data
				l.setCheckpoint(cp, nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *Log) setCheckpoint(cp *Checkpoint, err error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if cp != nil {
		l.latest = cp
	}
	l.cpError = err
	close(l.cpWait)
	l.cpWait = make(chan struct{})
}

// Append adds an entry and returns once it is on stable storage (written and
// fsynced by Tessera, directory entries included). A signed checkpoint that
// covers it follows within CheckpointInterval; AwaitCheckpoint waits for it.
func (l *Log) Append(ctx context.Context, rec Record) (Appended, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return Appended{}, fmt.Errorf("%w: %v", ErrLogFailed, l.failed)
	}
	t := l.now().UTC().Truncate(time.Millisecond)
	if t.Before(l.lastTime) {
		t = l.lastTime // entry times never go backwards
	}
	e := &Entry{Seq: l.size, Time: t, Prev: l.lastDigest, Kind: rec.Kind, Artefacts: rec.Artefacts,
		Fields: make(map[string]json.RawMessage, len(rec.Fields))}
	for k, v := range rec.Fields {
		raw, err := json.Marshal(v)
		if err != nil {
			return Appended{}, fmt.Errorf("entry field %q: %w", k, err)
		}
		e.Fields[k] = raw
	}
	data, err := e.Marshal()
	if err != nil {
		return Appended{}, err
	}
	for _, a := range rec.Artefacts {
		if _, err := os.Stat(filepath.Join(l.dir, artefactsDir, a.SHA256)); err != nil {
			return Appended{}, fmt.Errorf("entry cites artefact %s that is not stored: %w", a.Name, err)
		}
	}
	idx, err := l.app.Add(ctx, tessera.NewEntry(data))()
	if err != nil {
		l.failed = err
		return Appended{}, fmt.Errorf("append %s entry %d: %w", rec.Kind, l.size, err)
	}
	if idx.Index != l.size {
		l.failed = fmt.Errorf("entry went to index %d, want %d", idx.Index, l.size)
		return Appended{}, fmt.Errorf("%w: %v", ErrLogFailed, l.failed)
	}
	a := Appended{Index: idx.Index, Entry: data, Leaf: LeafHash(data), Time: t}
	l.size++
	l.lastDigest, l.lastTime = hex.EncodeToString(a.Leaf[:]), t
	return a, nil
}

// AwaitCheckpoint waits until a signed checkpoint covers the entry at index
// and has been archived, and returns it.
func (l *Log) AwaitCheckpoint(ctx context.Context, index uint64) (*Checkpoint, error) {
	for {
		l.cpMu.Lock()
		cp, err, wait := l.latest, l.cpError, l.cpWait
		l.cpMu.Unlock()
		if cp != nil && cp.Size > index {
			return cp, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a checkpoint covering entry %d: %w", index, ctx.Err())
		case <-wait:
		}
	}
}

// StoreArtefact stores a copy of a file that an entry will cite, under
// artefacts/sha256/<hex>, durably, and returns the reference for the entry.
func (l *Log) StoreArtefact(name string, data []byte) (ArtefactRef, error) {
	ref := ArtefactRef{Name: name, SHA256: SHA256Hex(data), Size: int64(len(data))}
	if err := ref.validate(); err != nil {
		return ArtefactRef{}, err
	}
	if err := writeDurable(filepath.Join(l.dir, artefactsDir, ref.SHA256), data, true); err != nil {
		return ArtefactRef{}, fmt.Errorf("store artefact %s: %w", name, err)
	}
	return ref, nil
}

// Latest returns the latest archived checkpoint.
func (l *Log) Latest() *Checkpoint {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.latest
}

// Size returns the number of entries on stable storage.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Origin returns the log's origin line.
func (l *Log) Origin() string { return l.origin }

// Dir returns the log folder.
func (l *Log) Dir() string { return l.dir }

// Close waits until a signed checkpoint covers every entry, then stops the log.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	size, failed := l.size, l.failed
	l.mu.Unlock()
	var err error
	if size > 0 && failed == nil {
		_, err = l.AwaitCheckpoint(ctx, size-1)
	}
	if serr := l.stop(ctx); err == nil {
		err = serr
	}
	return err
}

func (l *Log) stop(ctx context.Context) error {
	err := l.shutdown(ctx)
	l.cancel()
	<-l.done
	l.lock.Close()
	return err
}
