package transparency

import (
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/durable"

	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

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
	// ErrForeignEntry: the tiles hold an entry that neither a signed
	// checkpoint nor the log's journal accounts for. It wraps ErrBrokenLog.
	ErrForeignEntry = fmt.Errorf("%w: an entry this log did not write", ErrBrokenLog)
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
	// Open is the ceremony.open entry a new log starts with (script digest,
	// roster, tool version, …); the log sets its Origin and LogVKey.
	Open event.Open
	// OpenArtefacts are files that the ceremony.open entry of a new log cites
	// (the script, the roster); they are stored before the entry is written.
	OpenArtefacts []Artefact
	// Now is the clock for entry times; nil means time.Now.
	Now func() time.Time
	// WitnessPolicy is a C2SP tlog-policy file: the witnesses asked to
	// cosign each checkpoint before it is published, and the quorum of them
	// it needs. A checkpoint whose quorum does not answer within
	// WitnessTimeout is published without it (the ceremony never waits on a
	// witness); verify and watch with the same policy then say so.
	WitnessPolicy []byte
	// WitnessTimeout bounds the wait for the witnesses; 0 means 5 s.
	WitnessTimeout time.Duration
	// Disk is where the log's files are written; its zero value is the
	// machine's. Tests inject failing fsyncs and renames through it.
	Disk durable.Disk
	// AfterDurable, if set, is called with each entry the moment it is
	// durable, before Append returns or anything else happens: for tests
	// that crash the process there. It MUST NOT call the log.
	AfterDurable func(Appended)
}

// Artefact is a file to store beside the log and cite from an entry.
type Artefact struct {
	Name string
	Data []byte
}

// Appended describes an entry that is on stable storage.
type Appended struct {
	Index uint64
	Data  []byte       // the entry's bytes: the Merkle leaf
	Entry *event.Entry // the entry as written
	Leaf  Hash         // RFC 6962 leaf hash; its hex is the next entry's prev
	Time  time.Time
}

// Log is an open ceremony log. Its methods are safe for concurrent use;
// appends are serialised.
type Log struct {
	dir    string
	key    *Key
	origin string
	now    func() time.Time
	// witnesses, when set, cosign each checkpoint before it is published.
	witnesses      *tessera.WitnessGroup
	witnessTimeout time.Duration

	app      *tessera.Appender
	reader   tessera.LogReader
	shutdown func(context.Context) error
	tctx     context.Context // Tessera's, until stop
	cancel   context.CancelFunc
	lock     *os.File
	journal  *journal
	done     chan struct{} // closed when the archiver has stopped
	disk     durable.Disk
	// afterDurable is Options.AfterDurable.
	afterDurable func(Appended)

	pending   chan pendingEntry // journaled entries for the integrator, in order
	integDone chan struct{}     // closed when the integrator has stopped
	stopOnce  sync.Once

	mu         sync.Mutex // serialises appends; guards the fields below
	size       uint64     // entries in the journal or the log (durable)
	lastDigest string
	lastTime   time.Time
	failed     error
	closed     bool
	// publishOnStop: Close publishes the cosigned final checkpoint.
	publishOnStop bool

	cpMu     sync.Mutex // guards the fields below
	latest   *Checkpoint
	cpWait   chan struct{} // closed and replaced when anything below changes
	cpError  error
	integErr error // Tessera refused or failed an entry: reopen the log
	// archErr: a checkpoint could not be archived (a failed write or fsync,
	// a full or read-only disk). It stays: a disk that failed once is not
	// trusted with more of the ceremony until the log is reopened, even if
	// Tessera's next try at that checkpoint succeeds.
	archErr error
	integ   uint64 // entries integrated by Tessera
}

type pendingEntry struct {
	seq  uint64
	data []byte
}

// Open opens the log in dir, or creates one when opts.New is set and dir is
// missing or empty. An existing log is verified in full (signature, root
// against tiles, hash chain) before anything can be appended; one that does
// not verify is refused with ErrBrokenLog.
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	if opts.Key == nil {
		return nil, errors.New("open log: no checkpoint key")
	}
	l := &Log{dir: dir, key: opts.Key, origin: opts.Key.Signer.Name(), now: opts.Now, cpWait: make(chan struct{}), witnessTimeout: opts.WitnessTimeout,
		disk: opts.Disk, afterDurable: opts.AfterDurable}
	if opts.WitnessPolicy != nil {
		g, err := tessera.NewWitnessGroupFromPolicy(opts.WitnessPolicy)
		if err != nil {
			return nil, fmt.Errorf("witness policy: %w", err)
		}
		l.witnesses = &g
	}
	if l.now == nil {
		l.now = time.Now
	}
	state, err := folderState(dir)
	if err != nil {
		return nil, err
	}
	if state == folderOther {
		return nil, fmt.Errorf("%s: %w; choose an empty folder for a new log", dir, ErrNotLog)
	}
	if state == folderEmpty && !opts.New {
		return nil, fmt.Errorf("%s: %w; start a new log there explicitly", dir, ErrNoLog)
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("create log folder: %w", err)
	}
	// From here on no other process can create, open or change this log.
	if err := l.lockFolder(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.lock.Close()
		}
	}()
	if state, err = folderState(dir); err != nil {
		return nil, err
	}
	switch {
	case state == folderOther:
		return nil, fmt.Errorf("%s: %w; choose an empty folder for a new log", dir, ErrNotLog)
	case state == folderLog && opts.New:
		return nil, fmt.Errorf("%s: %w; open it without asking for a new log to resume it", dir, ErrLogExists)
	case state != folderLog && !opts.New:
		return nil, fmt.Errorf("%s: %w: the log was created but never opened; start it as a new log", dir, ErrNoLog)
	}
	if err := removeTempLeftovers(dir); err != nil {
		return nil, err
	}
	var rep *Report
	if state == folderLog {
		if rep, err = l.check(); err != nil {
			return nil, err
		}
	} else if err := writeDurable(opts.Disk, filepath.Join(dir, vkeyFile), []byte(opts.Key.VKey+"\n"), true); err != nil {
		return nil, fmt.Errorf("%s: %w: %s holds another log's key", dir, ErrNotLog, vkeyFile)
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
	var stored [][]byte
	if rep != nil {
		stored = append(append(stored, rep.RawEntries...), rep.Tail...)
	}
	if uint64(len(stored)) < integrated {
		return nil, fmt.Errorf("%s: %w: Tessera's state says %d entries, the bundles hold %d", dir, ErrBrokenLog, integrated, len(stored))
	}
	covered := 0
	if rep != nil {
		covered = len(rep.RawEntries)
	}
	if err := l.replayJournal(ctx, stored[:integrated], covered); err != nil {
		return nil, err
	}
	l.integ = l.size
	l.startIntegrator()
	if l.size > 0 {
		if _, err := l.AwaitCheckpoint(ctx, l.size-1); err != nil {
			return nil, err
		}
	} else {
		if !opts.New {
			return nil, fmt.Errorf("%s: %w: the log was created but never opened; start it as a new log", dir, ErrNoLog)
		}
		open := opts.Open
		open.Origin, open.LogVKey = l.origin, opts.Key.VKey
		var refs []event.Artefact
		for _, f := range opts.OpenArtefacts {
			ref, err := l.StoreArtefact(f.Name, f.Data)
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
		}
		a, err := l.Append(ctx, open, refs...)
		if err != nil {
			return nil, fmt.Errorf("write %s entry: %w", event.KindOpen, err)
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
	folderEmpty    folderKind = iota // missing, empty, or only private state
	folderCreating                   // a log whose creation was interrupted before its first checkpoint
	folderLog
	folderOther
)

// folderState tells what a folder holds, without changing it. A folder with
// a log key but no checkpoint and no tiles is a creation that a crash
// interrupted: it holds no entry, and may be started again.
func folderState(dir string) (folderKind, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return folderEmpty, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read log folder: %w", err)
	}
	state := folderEmpty
	for _, de := range des {
		name := de.Name()
		switch {
		case name+"/" == tilePrefix || name == checkpointsDir:
			return folderLog, nil
		case name == checkpointFile:
			if !emptyCheckpoint(filepath.Join(dir, name)) {
				return folderLog, nil
			}
			state = folderCreating
		case name == vkeyFile && de.Type().IsRegular():
			state = folderCreating
		case (name == stateDir || name == "artefacts" || name == anchorsDir) && de.IsDir(), isTempLeftover(name):
		default:
			return folderOther, nil
		}
	}
	return state, nil
}

// emptyCheckpoint reports whether a checkpoint file commits to the empty
// tree (Tessera publishes one as it creates a log).
func emptyCheckpoint(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxSmallFile {
		return false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	text, _, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return false
	}
	_, size, _, err := ParseCheckpointBody(string(text) + "\n")
	return err == nil && size == 0
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
	rep, err := Verify(os.DirFS(l.dir), VerifyOptions{VKey: l.key.VKey, Origin: l.origin, AllowInterrupted: true})
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

// replayJournal brings Tessera up to date with the journal: entries that it
// already holds must match, the others are checked and integrated in order.
// Then the journal is emptied. logged are the entries Tessera holds, of which
// the first covered are under the latest signed checkpoint.
//
// Every logged entry after those is one this log appended and journaled
// before a crash kept it from a checkpoint: an entry that the journal does
// not hold was written by something else, into the tiles and Tessera's
// state, and reopening would sign it. The log is not opened.
func (l *Log) replayJournal(ctx context.Context, logged [][]byte, covered int) error {
	j, records, err := openJournal(l.dir, l.disk.Faults)
	if err != nil {
		return err
	}
	l.journal = j
	journaled := map[uint64][]byte{}
	for _, data := range records {
		if e, err := event.ParseHeader(data); err == nil {
			journaled[e.Seq] = data
		}
	}
	for i := covered; i < len(logged); i++ {
		if d, ok := journaled[uint64(i)]; !ok || !bytes.Equal(d, logged[i]) {
			return fmt.Errorf("%s: %w: entry %d is in the tiles, but neither the last signed checkpoint (size %d) nor the journal accounts for it: something other than this log wrote it; the log is not reopened (verify it, and keep the folder as it is for the auditors)",
				l.dir, ErrForeignEntry, i, covered)
		}
	}
	all := logged
	for _, data := range records {
		e, err := event.ParseHeader(data)
		if err != nil {
			return fmt.Errorf("%s: %w: journal: %v", l.dir, ErrBrokenLog, err)
		}
		if e.Seq < uint64(len(logged)) {
			if !bytes.Equal(data, logged[e.Seq]) {
				return fmt.Errorf("%s: %w: journal entry %d differs from the logged one", l.dir, ErrBrokenLog, e.Seq)
			}
			continue
		}
		if e.Seq != uint64(len(all)) {
			return fmt.Errorf("%s: %w: journal holds entry %d where %d was next", l.dir, ErrBrokenLog, e.Seq, len(all))
		}
		if len(all) > 0 && e.Prev != PrevHash(all[len(all)-1]) {
			return fmt.Errorf("%s: %w: journal entry %d does not chain to entry %d", l.dir, ErrBrokenLog, e.Seq, e.Seq-1)
		}
		idx, err := l.app.Add(l.tctx, tessera.NewEntry(data))()
		if err != nil {
			return fmt.Errorf("replay journal entry %d: %w", e.Seq, err)
		}
		if idx.Index != e.Seq {
			return fmt.Errorf("%s: %w: journal entry %d went to index %d", l.dir, ErrBrokenLog, e.Seq, idx.Index)
		}
		all = append(all, data)
	}
	if err := j.reset(); err != nil {
		return err
	}
	if err := l.pruneArtefacts(all); err != nil {
		return err
	}
	l.size = uint64(len(all))
	if l.size > 0 {
		last, err := event.ParseHeader(all[l.size-1])
		if err != nil {
			return fmt.Errorf("%s: %w: entry %d: %v", l.dir, ErrBrokenLog, l.size-1, err)
		}
		l.lastDigest, l.lastTime = PrevHash(all[l.size-1]), last.Time
	}
	return nil
}

// pruneArtefacts removes the artefacts that no entry cites: files stored
// for an append that a crash or a failed write kept from the log. They
// record nothing, and a published folder holds only what its entries
// vouch for (the verifier fails an uncited artefact); the step that
// stored one stores it again when it is done.
func (l *Log) pruneArtefacts(entries [][]byte) error {
	dir := filepath.Join(l.dir, artefactsDir)
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cited := map[string]bool{}
	for _, data := range entries {
		h, err := event.ParseHeader(data)
		if err != nil {
			return fmt.Errorf("%s: %w: %v", l.dir, ErrBrokenLog, err)
		}
		for _, a := range h.Artefacts {
			cited[a.SHA256] = true
		}
	}
	removed := false
	for _, n := range names {
		if !n.Type().IsRegular() || !event.IsSHA256Hex(n.Name()) || cited[n.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n.Name())); err != nil {
			return err
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(dir)
	}
	return nil
}

// startIntegrator starts the goroutine that hands journaled entries to
// Tessera, in order, one at a time.
func (l *Log) startIntegrator() {
	l.pending = make(chan pendingEntry, 1024)
	l.integDone = make(chan struct{})
	go func() {
		defer close(l.integDone)
		var failed error
		for p := range l.pending {
			if failed != nil {
				continue // later entries cannot go in before the failed one
			}
			idx, err := l.app.Add(l.tctx, tessera.NewEntry(p.data))()
			if err == nil && idx.Index != p.seq {
				err = fmt.Errorf("entry %d went to index %d", p.seq, idx.Index)
			}
			l.cpMu.Lock()
			if err != nil {
				failed = fmt.Errorf("integrate entry %d: %w", p.seq, err)
				l.integErr = failed
			} else {
				l.integ = p.seq + 1
			}
			close(l.cpWait)
			l.cpWait = make(chan struct{})
			l.cpMu.Unlock()
		}
	}()
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
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(archivingSigner{Signer: l.key.Signer, dir: l.dir, disk: l.disk, failed: l.archiveFailed}).
		WithBatching(1, time.Millisecond).
		WithCheckpointInterval(CheckpointInterval).
		WithCheckpointRepublishInterval(0)
	if l.witnesses != nil {
		timeout := l.witnessTimeout
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		opts = opts.WithWitnesses(*l.witnesses, &tessera.WitnessOptions{Timeout: timeout, FailOpen: true})
	}
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, opts)
	if err != nil {
		cancel()
		return fmt.Errorf("open log storage: %w", err)
	}
	l.app, l.shutdown, l.reader, l.cancel, l.tctx = app, shutdown, reader, cancel, ctx
	l.done = make(chan struct{})
	go l.archive(ctx)
	return nil
}

// archive follows the published checkpoint and wakes AwaitCheckpoint callers
// when it grows. (Each checkpoint was copied to checkpoints/ before Tessera
// published it: see archivingSigner.)
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
			if cp, err := OpenCheckpoint(data, nv, l.origin); err == nil {
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

// archivingSigner signs checkpoints for Tessera, and stores each signed
// checkpoint under checkpoints/<size> before returning the signature: so a
// checkpoint is archived before it is published, and none is ever missed.
type archivingSigner struct {
	note.Signer
	dir  string
	disk durable.Disk
	// failed reports a checkpoint that could not be archived (a full or
	// read-only disk), so that those waiting for one learn why none comes.
	failed func(error)
}

func (s archivingSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := s.Signer.Sign(msg)
	if err != nil {
		return nil, err
	}
	_, size, _, err := ParseCheckpointBody(string(msg))
	if err != nil || size == 0 {
		return sig, err
	}
	// The note exactly as note.Sign writes it for a single signer.
	var b bytes.Buffer
	b.Write(msg)
	b.WriteString("\n")
	b.Write(signatureLine(s.Name(), s.KeyHash(), sig))
	path := filepath.Join(s.dir, checkpointsDir, strconv.FormatUint(size, 10))
	if old, err := os.ReadFile(path); err == nil && bytes.HasPrefix(old, append(bytes.Clone(msg), '\n')) {
		return sig, nil // archived already (a re-signing, or later cosigned)
	}
	if err := writeDurable(s.disk, path, b.Bytes(), false); err != nil {
		err = fmt.Errorf("archive checkpoint %d: %w", size, err)
		if s.failed != nil {
			s.failed(err)
		}
		return nil, err
	}
	return sig, nil
}

// archiveFailed records a checkpoint that could not be archived; see archErr.
func (l *Log) archiveFailed(err error) {
	l.cpMu.Lock()
	if l.archErr == nil {
		l.archErr = err
	}
	l.cpMu.Unlock()
	l.setCheckpoint(nil, err)
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

// Append adds an entry and returns once it is on stable storage: written and
// synced to the log's journal, from which Tessera integrates it into the
// bundles and tiles at once (and from which reopening the log after a crash
// integrates it). A signed checkpoint that covers it follows within
// CheckpointInterval; AwaitCheckpoint waits for it.
func (l *Log) Append(ctx context.Context, ev event.Event, arts ...event.Artefact) (Appended, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Appended{}, errors.New("append to a closed log")
	}
	if l.failed == nil {
		l.cpMu.Lock()
		l.failed = l.integErr
		l.cpMu.Unlock()
	}
	if l.failed != nil {
		return Appended{}, fmt.Errorf("%w: %v", ErrLogFailed, l.failed)
	}
	t := l.now().UTC().Truncate(time.Millisecond)
	if t.Before(l.lastTime) {
		t = l.lastTime // entry times never go backwards
	}
	e := &event.Entry{Seq: l.size, Time: t, Prev: l.lastDigest, Event: ev, Artefacts: arts}
	data, err := e.Marshal()
	if err != nil {
		return Appended{}, err
	}
	for _, a := range arts {
		if _, err := os.Stat(filepath.Join(l.dir, artefactsDir, a.SHA256)); err != nil {
			return Appended{}, fmt.Errorf("entry cites artefact %s that is not stored: %w", a.Name, err)
		}
	}
	a := Appended{Index: l.size, Data: data, Entry: e, Leaf: LeafHash(data), Time: t}
	if err := l.journal.append(data, a.Leaf); err != nil {
		l.failed = err
		return Appended{}, fmt.Errorf("append %s entry %d: %w", ev.Kind(), l.size, err)
	}
	if l.afterDurable != nil {
		l.afterDurable(a)
	}
	l.size++
	l.lastDigest, l.lastTime = hex.EncodeToString(a.Leaf[:]), t
	// The entry is durable: the integrator must get it, in order, whatever ctx says.
	l.pending <- pendingEntry{seq: a.Index, data: data}
	return a, nil
}

// checkpointStall is how long AwaitCheckpoint waits with no new checkpoint
// before it says why none comes: Tessera retries a checkpoint it cannot
// write (a full or read-only disk) without telling anyone.
const checkpointStall = 10 * time.Second

// ErrNoCheckpoint: entries are durable but no signed checkpoint covers them
// and none has come for a while; the error says what the disk shows.
var ErrNoCheckpoint = errors.New("no signed checkpoint is being published")

// AwaitCheckpoint waits until a signed checkpoint covers the entry at index
// and has been archived, and returns it.
func (l *Log) AwaitCheckpoint(ctx context.Context, index uint64) (*Checkpoint, error) {
	stall := max(checkpointStall, 2*l.witnessTimeout+checkpointStall)
	timer := time.NewTimer(stall)
	defer timer.Stop()
	var lastSize uint64
	for {
		l.cpMu.Lock()
		cp, err, wait := l.latest, l.cpError, l.cpWait
		sticky := l.archErr != nil // fail-stop, even if a later try archived one
		if l.integErr != nil {
			err, sticky = fmt.Errorf("%w: %v", ErrLogFailed, l.integErr), true
		} else if sticky {
			err = l.archErr
		}
		l.cpMu.Unlock()
		if sticky {
			return nil, err
		}
		if cp != nil && cp.Size > index {
			return cp, nil
		}
		if err != nil {
			return nil, err
		}
		if cp != nil && cp.Size > lastSize {
			lastSize = cp.Size
			timer.Reset(stall) // checkpoints still come
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a checkpoint covering entry %d: %w", index, ctx.Err())
		case <-l.done:
			return nil, fmt.Errorf("wait for a checkpoint covering entry %d: the log is closed", index)
		case <-timer.C:
			return nil, fmt.Errorf("wait for a checkpoint covering entry %d: %w for %s%s", index, ErrNoCheckpoint, stall, diskState(l.dir))
		case <-wait:
		}
	}
}

// diskState says, when it can, why the log's folder takes no writes: full
// (wrapping ENOSPC) or read-only (EROFS).
func diskState(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Bavail*uint64(st.Bsize) < 256<<10 {
		return fmt.Sprintf(": %v", syscall.ENOSPC)
	}
	if f, err := os.CreateTemp(dir, ".probe-*"); err != nil {
		return fmt.Sprintf(": %v", err)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	return ""
}

// awaitIntegrated waits until Tessera has integrated the entry at index.
func (l *Log) awaitIntegrated(ctx context.Context, index uint64) error {
	for {
		l.cpMu.Lock()
		n, err, wait := l.integ, l.integErr, l.cpWait
		l.cpMu.Unlock()
		if n > index {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// StoreArtefact stores a copy of a file that an entry will cite, under
// artefacts/sha256/<hex>, durably, and returns the reference for the entry.
func (l *Log) StoreArtefact(name string, data []byte) (event.Artefact, error) {
	ref := event.Artefact{Name: name, SHA256: SHA256Hex(data), Size: int64(len(data))}
	if err := ref.Validate(); err != nil {
		return event.Artefact{}, err
	}
	if err := writeDurable(l.disk, filepath.Join(l.dir, artefactsDir, ref.SHA256), data, true); err != nil {
		return event.Artefact{}, fmt.Errorf("store artefact %s: %w", name, err)
	}
	return ref, nil
}

// ReadArtefact returns the artefact stored under its SHA-256, checking the
// digest.
func (l *Log) ReadArtefact(sha string) ([]byte, error) {
	if !event.IsSHA256Hex(sha) {
		return nil, fmt.Errorf("artefact %q: not a SHA-256 in hex", sha)
	}
	data, err := os.ReadFile(filepath.Join(l.dir, artefactsDir, sha))
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sha {
		return nil, fmt.Errorf("artefact %s: the stored file has another SHA-256", sha)
	}
	return data, nil
}

// Latest returns the latest archived checkpoint.
func (l *Log) Latest() *Checkpoint {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.latest
}

// Now reads the clock that stamps the log's entries.
func (l *Log) Now() time.Time { return l.now() }

// Size returns the number of entries on stable storage.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// VKey returns the verifier key of the log's checkpoints (log.vkey).
func (l *Log) VKey() string { return l.key.VKey }

// Archived returns the signed checkpoint archived for a size
// (checkpoints/<size>), with every signature it carries: the log's, and
// once they have cosigned, the officers'. Only the log's is checked here.
func (l *Log) Archived(size uint64) (*Checkpoint, error) {
	data, err := readLimited(os.DirFS(l.dir), checkpointsDir+"/"+strconv.FormatUint(size, 10), 64<<10)
	if err != nil {
		return nil, err
	}
	nv, err := noteVerifier(l.key.VKey)
	if err != nil {
		return nil, err
	}
	return OpenCheckpoint(data, nv, l.origin)
}

// Origin returns the log's origin line.
func (l *Log) Origin() string { return l.origin }

// Dir returns the log folder.
func (l *Log) Dir() string { return l.dir }

// Close waits until a signed checkpoint covers every entry, empties the
// journal, and stops the log.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	size, failed, was := l.size, l.failed, l.closed
	l.closed = true
	l.mu.Unlock()
	if was {
		return nil
	}
	l.stopIntegrator()
	var err error
	if size > 0 && failed == nil {
		_, err = l.AwaitCheckpoint(ctx, size-1)
		if err == nil {
			err = l.journal.reset()
		}
	}
	// The officers' cosignatures of the final checkpoint are published
	// with it, once Tessera is stopped and before the folder is unlocked.
	l.publishOnStop = err == nil
	if serr := l.stop(ctx); err == nil {
		err = serr
	}
	return err
}

// stopIntegrator lets the integrator finish what is pending and waits for it.
func (l *Log) stopIntegrator() {
	l.stopOnce.Do(func() {
		if l.pending != nil {
			close(l.pending)
			<-l.integDone
		}
	})
}

func (l *Log) stop(ctx context.Context) error {
	l.stopIntegrator()
	err := l.shutdown(ctx)
	l.cancel()
	<-l.done
	if l.journal != nil {
		l.journal.close()
	}
	if l.publishOnStop && err == nil {
		err = l.publishCosigned()
	}
	l.lock.Close()
	return err
}
