package transparency

import (
	"iter"
	"slices"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// Stable ids of the verifier's checks, in the order they are reported.
const (
	CheckFiles        = "files"
	CheckKey          = "key"
	CheckSignature    = "checkpoint.signature"
	CheckOrigin       = "checkpoint.origin"
	CheckBundles      = "bundles"
	CheckTiles        = "tiles"
	CheckRoot         = "root"
	CheckLeafHashes   = "leaf-hashes"
	CheckSeq          = "entries.seq"
	CheckPrev         = "entries.prev"
	CheckEntryJSON    = "entries.json"
	CheckEntryTime    = "entries.time"
	CheckOpenEntry    = "entries.open"
	CheckArtefacts    = "artefacts"
	CheckConsistency  = "consistency"
	CheckUnsignedTail = "tail"
	CheckClosed       = "entries.close"
	CheckUnpublished  = "checkpoint.unpublished"
)

// VerifyOptions says what the verifier trusts.
type VerifyOptions struct {
	// VKey is the log's note verifier key. Empty means the folder's own
	// log.vkey, whose fingerprint the report carries for comparison with the
	// one announced at the ceremony.
	VKey string
	// Origin is the expected origin line. Empty means the key's name.
	Origin string
	// Checkpoints are signed checkpoints seen elsewhere (on the stream, by a
	// viewer); each must be consistent with the log's latest checkpoint.
	Checkpoints []NamedCheckpoint
	// Raw checks only the Merkle and checkpoint layer: entries need not be
	// ceremony JSON and no other files are expected.
	Raw bool
	// AllowInterrupted accepts, with a warning, what a writer stopped by a
	// crash leaves until the log is reopened: entries stored after the latest
	// checkpoint, and a checkpoint signed and archived but not yet published.
	// Without it both fail: no signature covers such entries, and a published
	// folder's checkpoint must be its newest.
	AllowInterrupted bool
	// Witnesses, when set, is the policy whose quorum must have cosigned the
	// latest checkpoint.
	Witnesses *WitnessPolicy
}

// NamedCheckpoint is a checkpoint note and where it came from, for messages.
type NamedCheckpoint struct {
	Name string
	Data []byte
}

// Check is the result of one verifier check.
type Check struct {
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Warn marks a passing check with something a person should know.
	Warn bool `json:"warn,omitempty"`
}

// Report is what Verify found.
type Report struct {
	OK             bool    `json:"ok"`
	Origin         string  `json:"origin"`
	Size           uint64  `json:"size"`
	Root           []byte  `json:"root"`
	KeyFingerprint string  `json:"key_fingerprint,omitempty"`
	VKey           string  `json:"vkey,omitempty"`
	Rehearsal      bool    `json:"rehearsal"`
	Checks         []Check `json:"checks"`
	// RawEntries are the bytes of the entries the checkpoint covers, in log
	// order.
	RawEntries [][]byte `json:"-"`
	// Entries are RawEntries parsed (not in raw mode): their header and
	// artefacts; Events are the same entries with what each records.
	Entries []*event.Header `json:"-"`
	Events  []*event.Entry  `json:"-"`
	// Tail are the bytes of entries stored after the checkpoint's size, which
	// no signature covers (see VerifyOptions.AllowInterrupted).
	Tail [][]byte `json:"-"`
	// Closed reports whether the last covered entry closes the ceremony.
	Closed bool `json:"closed"`
	// Stored is how many entries the folder holds, including any that no
	// checkpoint covers yet.
	Stored uint64 `json:"stored"`
	// Checkpoint is the verified latest checkpoint.
	Checkpoint *Checkpoint `json:"-"`
	// Anchors are the anchors/<size>.json files: checkpoints anchored in
	// Rekor, which only the anchor package checks (verify --rekor-key).
	Anchors []string `json:"anchors,omitempty"`
	// RestsOn is what the verdict rests on, part by part: the log key, the
	// roster, checkpoints seen elsewhere, the officers' cosignatures,
	// witnesses, anchors. The ceremony verifier (package audit) fills it.
	RestsOn []Basis `json:"rests_on,omitempty"`
}

// Basis is one thing a verdict rests on.
type Basis struct {
	Part   string `json:"part"`
	Detail string `json:"detail"`
	// Outside marks evidence that the log key alone cannot produce: a
	// checkpoint seen elsewhere, cosignatures by keys pinned from outside
	// the log, a witness quorum, an anchor checked with a pinned key.
	Outside bool `json:"outside"`
}

// KeyAlone reports whether nothing the verdict rests on is outside the log
// key's reach: anyone holding that key could have written the log.
func (r *Report) KeyAlone() bool {
	for _, b := range r.RestsOn {
		if b.Outside {
			return false
		}
	}
	return true
}

// SetBasis sets (or adds) the basis for part.
func (r *Report) SetBasis(b Basis) {
	for i := range r.RestsOn {
		if r.RestsOn[i].Part == b.Part {
			r.RestsOn[i] = b
			return
		}
	}
	r.RestsOn = append(r.RestsOn, b)
}

// FirstFailure returns the first failing check, or nil.
func (r *Report) FirstFailure() *Check {
	for i := range r.Checks {
		if !r.Checks[i].OK {
			return &r.Checks[i]
		}
	}
	return nil
}

func (r *Report) pass(id, format string, args ...any) {
	r.Checks = append(r.Checks, Check{ID: id, OK: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) warn(id, format string, args ...any) {
	r.Checks = append(r.Checks, Check{ID: id, OK: true, Warn: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(id, format string, args ...any) {
	r.Checks = append(r.Checks, Check{ID: id, OK: false, Detail: fmt.Sprintf(format, args...)})
	r.OK = false
}

// verifier holds the state of one verification run.
type verifier struct {
	fsys      fs.FS
	opts      VerifyOptions
	r         *Report
	regular   map[string]bool // checkpoint and log.vkey, when they are regular files
	published *Checkpoint     // the published checkpoint, when an archived one is newer
	tiles     map[string]tileRef
	bundles   map[string]tileRef
	archive   []string
	arts      []string
	bundleOf  map[uint64]string // entry bundle index -> the file its entries came from
	entries   []*event.Header   // every stored entry, parsed
	leaves    []Hash            // their leaf hashes
}

// Verify checks a log folder offline: the checkpoint's signature and origin,
// every tile and the root recomputed from the entry bundles, every leaf hash,
// the entries' sequence numbers, hash chain and JSON, every cited artefact, and
// the consistency of every archived or given checkpoint with the latest one.
// It never modifies fsys. Verify reports problems in the Report, not as an
// error; the error is only for a folder that cannot be read at all.
func Verify(fsys fs.FS, opts VerifyOptions) (*Report, error) {
	v := &verifier{fsys: fsys, opts: opts, r: &Report{OK: true},
		tiles: map[string]tileRef{}, bundles: map[string]tileRef{}, bundleOf: map[uint64]string{}, regular: map[string]bool{}}
	if err := v.scan(); err != nil {
		return nil, err
	}
	v.run()
	return v.r, nil
}

func (v *verifier) run() {
	r := v.r
	nv := v.key()
	if nv == nil {
		return
	}
	cp := v.checkpoint(nv)
	if cp == nil {
		return
	}
	if cp = v.newestSigned(nv, cp); cp == nil {
		return
	}
	v.checkWitnesses(cp)
	entries, ok := v.readBundles()
	if !ok {
		return
	}
	r.Stored = uint64(len(entries))
	leaves, parsed, full, parseErrs := hashAndParse(entries, !v.opts.Raw)
	t := newTree(leaves)
	v.checkTiles(t, cp.Size)
	v.leaves = leaves
	if cp.Size > t.size() {
		r.fail(CheckRoot, "checkpoint: size %d, but the entry bundles hold only %d entries", cp.Size, t.size())
		return
	}
	root, err := t.root(cp.Size)
	if err != nil || root != cp.Root {
		r.fail(CheckRoot, "checkpoint: root %s of size %d does not match the root %s recomputed from the entry bundles", cp.Root, cp.Size, root)
		return
	}
	r.pass(CheckRoot, "root of %d entries recomputed from the entry bundles matches the checkpoint", cp.Size)
	r.RawEntries, r.Tail = entries[:cp.Size], entries[cp.Size:]
	if !v.opts.Raw {
		v.checkEntries(entries, parsed, parseErrs, cp)
		if r.OK {
			r.Events = full[:cp.Size]
		}
		v.checkArtefacts()
	}
	v.checkConsistency(t, cp)
	if tail := t.size() - cp.Size; tail > 0 {
		msg := fmt.Sprintf("%d entries after entry %d are stored but no signed checkpoint covers them", tail, int64(cp.Size)-1)
		if v.opts.AllowInterrupted {
			r.warn(CheckUnsignedTail, "%s (the log was not closed cleanly; reopening it signs them)", msg)
		} else {
			r.fail(CheckUnsignedTail, "%s: nothing vouches for them; reopen the log to sign them, or publish only what a checkpoint covers", msg)
		}
	}
}

// scan lists the folder and sorts its files by kind.
func (v *verifier) scan() error {
	var unknown, temps, unreadable []string
	err := fs.WalkDir(v.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			unreadable = append(unreadable, p)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == "." {
			return nil
		}
		kind, ref := classify(p)
		if d.IsDir() {
			if kind == fileState {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			// A link could point outside the folder, a pipe could block forever:
			// neither is ever read.
			unknown = append(unknown, fmt.Sprintf("%s (not a regular file: %s)", p, d.Type()))
			return nil
		}
		switch kind {
		case fileCheckpoint, fileVKey:
			v.regular[p] = true
		case fileTile:
			v.tiles[p] = ref
		case fileBundle:
			v.bundles[p] = ref
		case fileArchivedCheckpoint:
			v.archive = append(v.archive, p)
		case fileArtefact:
			v.arts = append(v.arts, p)
		case fileAnchor:
			v.r.Anchors = append(v.r.Anchors, p)
		case fileTemp:
			temps = append(temps, p)
		case fileUnknown:
			if !v.opts.Raw {
				unknown = append(unknown, p)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read log folder: %w", err)
	}
	r := v.r
	sort.Strings(unknown)
	switch {
	case len(unreadable) > 0:
		r.fail(CheckFiles, "%s: cannot be read (%d such paths); a verifier must be able to read the whole folder", unreadable[0], len(unreadable))
	case len(unknown) > 0:
		r.fail(CheckFiles, "%s: not part of a log folder (%d such files); a log folder holds only checkpoint, log.vkey, tile/, checkpoints/, artefacts/ and anchors/, as regular files", unknown[0], len(unknown))
	case len(temps) > 0:
		r.warn(CheckFiles, "%d temporary files left by an interrupted write (e.g. %s); they hold nothing the log relies on and reopening the log removes them", len(temps), temps[0])
	default:
		r.pass(CheckFiles, "%d tiles, %d entry bundles, %d archived checkpoints, %d artefacts", len(v.tiles), len(v.bundles), len(v.archive), len(v.arts))
	}
	return nil
}

func (v *verifier) key() note.Verifier {
	r := v.r
	vkey := strings.TrimSpace(v.opts.VKey)
	source := "--key"
	data, err := []byte(nil), error(fs.ErrNotExist)
	if v.regular[vkeyFile] {
		data, err = readLimited(v.fsys, vkeyFile, maxSmallFile)
	}
	folderKey := strings.TrimSpace(string(data))
	switch {
	case vkey == "" && err != nil:
		r.fail(CheckKey, "%s: cannot read the log's key (%v); pass the key announced at the ceremony with --key", vkeyFile, err)
		return nil
	case vkey == "":
		vkey, source = folderKey, vkeyFile
	case err == nil && folderKey != vkey && !v.opts.Raw:
		r.fail(CheckKey, "%s: holds %q, not the expected key %q; this folder's key is not the one announced", vkeyFile, folderKey, vkey)
		return nil
	}
	if err == nil && (len(data) == 0 || data[len(data)-1] != '\n' || strings.Count(string(data), "\n") != 1) && source == vkeyFile {
		r.fail(CheckKey, "%s: must hold exactly one line", vkeyFile)
		return nil
	}
	nv, nerr := note.NewVerifier(vkey)
	if nerr != nil {
		r.fail(CheckKey, "%s: not a note verifier key: %v", source, nerr)
		return nil
	}
	r.VKey = vkey
	r.KeyFingerprint = KeyFingerprint(vkey)
	r.pass(CheckKey, "log key %s from %s, fingerprint %s", nv.Name(), source, r.KeyFingerprint)
	return nv
}

func (v *verifier) checkpoint(nv note.Verifier) *Checkpoint {
	r := v.r
	data, err := []byte(nil), error(fs.ErrNotExist)
	if v.regular[checkpointFile] {
		data, err = readLimited(v.fsys, checkpointFile, maxSmallFile)
	}
	if err != nil {
		r.fail(CheckSignature, "%s: cannot read (%v); a log folder starts with its signed checkpoint", checkpointFile, err)
		return nil
	}
	cp, err := OpenCheckpoint(data, nv, "")
	if err != nil {
		r.fail(CheckSignature, "%s: %v", checkpointFile, err)
		return nil
	}
	r.pass(CheckSignature, "%s: signed by %s, size %d", checkpointFile, nv.Name(), cp.Size)
	want := v.opts.Origin
	if want == "" {
		want = nv.Name()
	}
	if cp.Origin != want {
		r.fail(CheckOrigin, "%s: origin %q, want %q", checkpointFile, cp.Origin, want)
		return nil
	}
	r.Origin, r.Size, r.Root, r.Checkpoint = cp.Origin, cp.Size, cp.Root[:], cp
	r.Rehearsal = IsRehearsal(cp.Origin)
	if r.Rehearsal {
		r.pass(CheckOrigin, "origin %q: a REHEARSAL log, not a real ceremony's", cp.Origin)
	} else {
		r.pass(CheckOrigin, "origin %q", cp.Origin)
	}
	return cp
}

// Largest files the verifier reads into memory; anything larger is not a
// well-formed part of a log folder.
const (
	maxSmallFile  = 64 << 10                       // checkpoint, log.vkey
	maxTileFile   = 256 * 32                       // a full hash tile
	maxBundleFile = 256 * (2 + event.MaxEntrySize) // a full entry bundle
)

// readLimited reads a file of at most limit bytes.
func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	return readInto(fsys, name, limit, nil)
}

// readInto is readLimited into buf, reused: what a loop over many files
// reads without a new buffer for each.
func readInto(fsys fs.FS, name string, limit int64, buf []byte) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("larger than %d bytes", limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// newestSigned returns the newest signed checkpoint: the published one, or a
// larger one in checkpoints/ that a crash kept from being published (the log
// archives each checkpoint before publishing it). The published one is then
// checked for consistency like every archived one.
func (v *verifier) newestSigned(nv note.Verifier, published *Checkpoint) *Checkpoint {
	var best string
	var bestSize uint64
	for _, name := range v.archive {
		n, _ := strconv.ParseUint(path.Base(name), 10, 64)
		if n > published.Size && n > bestSize {
			best, bestSize = name, n
		}
	}
	if best == "" {
		return published
	}
	r := v.r
	data, err := readLimited(v.fsys, best, maxSmallFile)
	if err == nil {
		var cp *Checkpoint
		if cp, err = OpenCheckpoint(data, nv, published.Origin); err == nil && cp.Size == bestSize {
			msg := fmt.Sprintf("%s: signed but not published: %s says size %d", best, checkpointFile, published.Size)
			if v.opts.AllowInterrupted {
				r.warn(CheckUnpublished, "%s (the log stopped before publishing it; reopening it publishes the next); verifying up to size %d", msg, cp.Size)
			} else {
				r.fail(CheckUnpublished, "%s: the folder was copied while the log was writing, or its checkpoint was rolled back; reopen the log, or publish a complete copy", msg)
			}
			r.Size, r.Root, r.Checkpoint = cp.Size, cp.Root[:], cp
			v.published = published
			return cp
		}
	}
	r.fail(CheckConsistency, "%s: larger than the published checkpoint, but not a checkpoint of size %d signed by the log (%v)", best, bestSize, err)
	return nil
}

// parseBundle splits a tlog-tiles entry bundle into entries.
func parseBundle(data []byte) ([][]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return nil, err
	}
	return b.Entries, nil
}

// readBundles reads every entry bundle, checks that each holds as many entries
// as its name says and that every partial bundle is a prefix of the bundle that
// supersedes it, and returns all entries in log order.
func (v *verifier) readBundles() ([][]byte, bool) {
	r := v.r
	// The bundles of each index, longest first: the full one (or the
	// longest partial), whose entries the log holds, and the partial ones
	// a checkpoint of an earlier size left, each of which must be a prefix
	// of it, byte for byte, ending where an entry does.
	byIndex := map[uint64][]bundleFile{}
	for name, ref := range v.bundles {
		w := int(ref.partial)
		if w == 0 {
			w = 256
		}
		byIndex[ref.index] = append(byIndex[ref.index], bundleFile{name, w})
	}
	indexes := make([]uint64, 0, len(byIndex))
	for i := range byIndex {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for k, i := range indexes {
		if i != uint64(k) {
			r.fail(CheckBundles, "%s: entry bundle %d is missing before it", byIndex[i][0].name, k)
			return nil, false
		}
		slices.SortFunc(byIndex[i], func(a, b bundleFile) int { return b.width - a.width })
	}
	// Each index is read and checked on its own, on every core; the first
	// problem in log order is the one reported.
	type result struct {
		entries [][]byte
		problem string
	}
	results := make([]result, len(indexes))
	onCores(len(indexes), 8, func(ks iter.Seq[int]) {
		var buf []byte
		for k := range ks {
			i := uint64(k)
			results[k].entries, results[k].problem, buf = v.readBundleIndex(i, byIndex[i], buf)
		}
	})
	var all [][]byte
	for k, res := range results {
		if res.problem != "" {
			r.fail(CheckBundles, "%s", res.problem)
			return nil, false
		}
		top := byIndex[uint64(k)][0]
		if len(all)%256 != 0 {
			r.fail(CheckBundles, "%s: follows partial bundle %s", top.name, v.bundleOf[uint64(k-1)])
			return nil, false
		}
		all = append(all, res.entries...)
		v.bundleOf[uint64(k)] = top.name
	}
	r.pass(CheckBundles, "%d entry bundles hold %d entries; every partial bundle is a prefix of its successor", len(v.bundles), len(all))
	return all, true
}

// bundleFile is an entry bundle's file and how many entries its name says
// it holds.
type bundleFile struct {
	name  string
	width int
}

// readBundleIndex reads the bundles of index i, longest first, and checks
// each shorter one is a prefix of the longest; it returns the longest's
// entries, or what is wrong. buf is reused for the shorter ones.
func (v *verifier) readBundleIndex(i uint64, bs []bundleFile, buf []byte) ([][]byte, string, []byte) {
	top := bs[0]
	data, err := readLimited(v.fsys, top.name, maxBundleFile)
	if err != nil {
		return nil, fmt.Sprintf("%s: cannot read: %v", top.name, err), buf
	}
	es, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", top.name, err), buf
	}
	if len(es) != top.width {
		return nil, fmt.Sprintf("%s: holds %d entries, its name says %d", top.name, len(es), top.width), buf
	}
	// ends[w] is where the first w entries end in the top bundle.
	ends := make([]int, len(es)+1)
	for j, e := range es {
		ends[j+1] = ends[j] + 2 + len(e)
	}
	for _, b := range bs[1:] {
		if buf, err = readInto(v.fsys, b.name, maxBundleFile, buf); err != nil {
			return nil, fmt.Sprintf("%s: cannot read: %v", b.name, err), buf
		}
		if bytes.Equal(buf, data[:ends[b.width]]) {
			continue
		}
		// Say which entry differs, as a parse of it shows.
		pes, perr := parseBundle(buf)
		switch {
		case perr != nil:
			return nil, fmt.Sprintf("%s: %v", b.name, perr), buf
		case len(pes) != b.width:
			return nil, fmt.Sprintf("%s: holds %d entries, its name says %d", b.name, len(pes), b.width), buf
		}
		j := 0
		for j < len(pes) && bytes.Equal(pes[j], es[j]) {
			j++
		}
		return nil, fmt.Sprintf("%s: entry %d differs from %s", b.name, i*256+uint64(j), top.name), buf
	}
	return es, "", buf
}

// hashAndParse computes every entry's leaf hash and, when parse is set, parses
// it, spreading the entries over the available cores: each entry is
// independent of the others.
func hashAndParse(entries [][]byte, parse bool) ([]Hash, []*event.Header, []*event.Entry, []error) {
	leaves := make([]Hash, len(entries))
	var parsed []*event.Header
	var full []*event.Entry
	var errs []error
	if parse {
		parsed, full, errs = make([]*event.Header, len(entries)), make([]*event.Entry, len(entries)), make([]error, len(entries))
	}
	onCores(len(entries), 512, func(is iter.Seq[int]) {
		for i := range is {
			leaves[i] = LeafHash(entries[i])
			if parse {
				// Each entry must be the one encoding of what it records:
				// a log re-signed with other bytes for the same entries
				// fails here.
				e, err := event.ParseCanonical(entries[i])
				if err != nil {
					errs[i] = err
					continue
				}
				full[i] = e
				parsed[i] = &event.Header{Seq: e.Seq, Time: e.Time, Prev: e.Prev, Kind: e.Kind(), Artefacts: e.Artefacts}
			}
		}
	})
	return leaves, parsed, full, errs
}

// checkTiles compares every stored tile with the hashes recomputed from the
// entries, and checks that every tile a client needs for the checkpoint's size
// is there.
func (v *verifier) checkTiles(t *tree, size uint64) {
	r := v.r
	names := make([]string, 0, len(v.tiles))
	for n := range v.tiles {
		names = append(names, n)
	}
	sort.Strings(names)
	// Each tile is read and compared on its own, on every core; the first
	// problem in name order is the one reported.
	type result struct{ problem, leafFail string }
	results := make([]result, len(names))
	onCores(len(names), 64, func(ks iter.Seq[int]) {
		var buf []byte
		for k := range ks {
			results[k].problem, results[k].leafFail, buf = v.checkTile(t, names[k], buf)
		}
	})
	leafFail := ""
	for _, res := range results {
		if res.problem != "" {
			r.fail(CheckTiles, "%s", res.problem)
			return
		}
		if leafFail == "" {
			leafFail = res.leafFail
		}
	}
	if leafFail != "" {
		r.fail(CheckLeafHashes, "%s (the entry or the tile was altered)", leafFail)
		return
	}
	// Every tile and bundle that a client reading the tree of this size needs.
	for level := uint64(0); size>>(8*level) > 0; level++ {
		n := size >> (8 * level)
		for i := uint64(0); i <= n/256; i++ {
			w := uint8(0)
			if i == n/256 {
				if w = uint8(n % 256); w == 0 {
					break
				}
			}
			if !v.hasTile(level, i, w) {
				r.fail(CheckTiles, "%s: missing; a client reading the tree of size %d needs it", layout.TilePath(level, i, w), size)
				return
			}
			if level == 0 && !v.hasBundle(i, w) {
				r.fail(CheckBundles, "%s: missing; a client reading the tree of size %d needs it", layout.EntriesPath(i, w), size)
				return
			}
		}
	}
	r.pass(CheckTiles, "%d tiles match the hashes recomputed from the entries; none is missing for size %d", len(v.tiles), size)
	r.pass(CheckLeafHashes, "every entry's leaf hash matches its level-0 tile")
}

// checkTile compares one tile with the hashes recomputed from the entries:
// what is wrong with it, or the first leaf hash of a level-0 tile that
// differs (a changed entry or tile). buf is reused.
func (v *verifier) checkTile(t *tree, name string, buf []byte) (problem, leafFail string, _ []byte) {
	ref := v.tiles[name]
	data, err := readInto(v.fsys, name, maxTileFile, buf)
	if err != nil {
		return fmt.Sprintf("%s: cannot read: %v", name, err), "", buf
	}
	width := int(ref.partial)
	if width == 0 {
		width = 256
	}
	if len(data) != width*32 {
		return fmt.Sprintf("%s: %d bytes, want %d (%d hashes)", name, len(data), width*32, width), "", data
	}
	lvl := int(8 * ref.level)
	for j := 0; j < width; j++ {
		n := ref.index*256 + uint64(j)
		if lvl >= len(t.levels) || n >= uint64(len(t.levels[lvl])) {
			return fmt.Sprintf("%s: covers entries that no entry bundle holds (the bundles hold %d)", name, t.size()), "", data
		}
		if !bytes.Equal(data[j*32:(j+1)*32], t.levels[lvl][n][:]) {
			if ref.level == 0 {
				return "", fmt.Sprintf("entry %d: its leaf hash is not hash %d of %s", n, j, name), data
			}
			return fmt.Sprintf("%s: hash %d does not match the hashes recomputed from the entries", name, j), "", data
		}
	}
	return "", "", data
}

func (v *verifier) hasTile(level, index uint64, w uint8) bool {
	_, ok := v.tiles[layout.TilePath(level, index, w)]
	_, full := v.tiles[layout.TilePath(level, index, 0)]
	return ok || full
}

func (v *verifier) hasBundle(index uint64, w uint8) bool {
	_, ok := v.bundles[layout.EntriesPath(index, w)]
	_, full := v.bundles[layout.EntriesPath(index, 0)]
	return ok || full
}

// checkEntries checks every stored entry: JSON, seq, prev chain, time order and
// the opening entry.
func (v *verifier) checkEntries(raw [][]byte, entries []*event.Header, errs []error, cp *Checkpoint) {
	r := v.r
	where := func(i int) string { return v.bundleOf[uint64(i)/256] }
	for i, err := range errs {
		if err != nil {
			r.fail(CheckEntryJSON, "entry %d (%s): %v", i, where(i), err)
			return
		}
	}
	for i, e := range entries {
		if e.Seq != uint64(i) {
			r.fail(CheckSeq, "entry %d (%s): seq is %d", i, where(i), e.Seq)
			return
		}
	}
	r.pass(CheckSeq, "seq runs 0..%d with no gap", len(entries)-1)
	for i := 1; i < len(entries); i++ {
		if want := hex.EncodeToString(v.leaves[i-1][:]); entries[i].Prev != want {
			r.fail(CheckPrev, "entry %d (%s): prev is %s, but entry %d's leaf hash is %s", i, where(i), entries[i].Prev, i-1, want)
			return
		}
	}
	r.pass(CheckPrev, "each entry's prev is the leaf hash of the entry before it")
	r.pass(CheckEntryJSON, "%d entries are well-formed JSON log entries, each in its one canonical encoding", len(entries))
	for i := 1; i < len(entries); i++ {
		if entries[i].Time.Before(entries[i-1].Time) {
			r.fail(CheckEntryTime, "entry %d (%s): time %s is before entry %d's %s", i, where(i), entries[i].Time.Format(event.TimeFormat), i-1, entries[i-1].Time.Format(event.TimeFormat))
			return
		}
	}
	r.pass(CheckEntryTime, "entry times never go backwards")
	if len(entries) == 0 {
		r.fail(CheckOpenEntry, "%s: the log has no entries; entry 0 must be %s", checkpointFile, event.KindOpen)
		return
	}
	if entries[0].Kind != event.KindOpen {
		r.fail(CheckOpenEntry, "entry 0: kind %q, want %s", entries[0].Kind, event.KindOpen)
		return
	}
	e0, err := event.Parse(raw[0]) // with its fields
	if err != nil {
		r.fail(CheckOpenEntry, "entry 0: %v", err)
		return
	}
	switch open := e0.Event.(event.Open); {
	case open.Origin != cp.Origin:
		r.fail(CheckOpenEntry, "entry 0: origin %q, but the checkpoint's is %q", open.Origin, cp.Origin)
		return
	case open.LogVKey != r.VKey:
		r.fail(CheckOpenEntry, "entry 0: log_vkey %q is not the key that signs the checkpoints (%s)", open.LogVKey, r.VKey)
		return
	}
	for i, e := range entries[1:] {
		if e.Kind == event.KindOpen {
			r.fail(CheckOpenEntry, "entry %d: a second %s", i+1, event.KindOpen)
			return
		}
	}
	r.pass(CheckOpenEntry, "entry 0 opens the log with its origin and key")
	r.Entries = entries[:cp.Size]
	v.entries = entries
	if cp.Size > 0 && entries[cp.Size-1].Kind == event.KindClose {
		r.Closed = true
		r.pass(CheckClosed, "entry %d closes the ceremony", cp.Size-1)
	} else {
		r.warn(CheckClosed, "the signed log ends at entry %d without %s: the ceremony was in progress or interrupted", int64(cp.Size)-1, event.KindClose)
	}
}

// checkArtefacts checks that every stored artefact is named by its SHA-256 and
// that every artefact an entry cites is stored with the cited size.
func (v *verifier) checkArtefacts() {
	r := v.r
	stored := map[string]int64{}
	for _, name := range v.arts {
		got, size, err := hashFile(v.fsys, name)
		if err != nil {
			r.fail(CheckArtefacts, "%s: cannot read: %v", name, err)
			return
		}
		if got != path.Base(name) {
			r.fail(CheckArtefacts, "%s: content's SHA-256 is %s (the file was altered)", name, got)
			return
		}
		stored[path.Base(name)] = size
	}
	cited := 0
	for _, e := range v.entries {
		for _, a := range e.Artefacts {
			cited++
			size, ok := stored[a.SHA256]
			switch {
			case !ok:
				r.fail(CheckArtefacts, "entry %d cites %s (%s), but %s/%s is missing", e.Seq, a.Name, a.SHA256, artefactsDir, a.SHA256)
				return
			case size != a.Size:
				r.fail(CheckArtefacts, "entry %d cites %s with %d bytes, but %s/%s has %d", e.Seq, a.Name, a.Size, artefactsDir, a.SHA256, size)
				return
			}
		}
	}
	// Every stored artefact is cited: a file that no entry names is
	// something nothing in the log vouches for, beside files that it does.
	citedBy := map[string]bool{}
	for _, e := range v.entries {
		for _, a := range e.Artefacts {
			citedBy[a.SHA256] = true
		}
	}
	var uncited []string
	for _, name := range v.arts {
		if !citedBy[path.Base(name)] {
			uncited = append(uncited, name)
		}
	}
	if len(uncited) > 0 {
		it := "them"
		if len(uncited) == 1 {
			it = "it"
		}
		msg := fmt.Sprintf("%s: cited by no entry; nothing in the log vouches for %s", strings.Join(uncited, ", "), it)
		if v.opts.AllowInterrupted {
			r.warn(CheckArtefacts, "%s (stored for an entry a crash kept from the log)", msg)
			return
		}
		r.fail(CheckArtefacts, "%s: remove %s from the published folder, or find the entry that should cite %s", msg, it, it)
		return
	}
	r.pass(CheckArtefacts, "%d artefacts match their SHA-256; all %d citations resolve", len(stored), cited)
}

// hashFile returns the hex SHA-256 and size of a file, read as a stream.
func hashFile(fsys fs.FS, name string) (string, int64, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkConsistency checks that every archived checkpoint and every checkpoint
// given by the caller is signed by the log key and is a prefix of the latest
// checkpoint, through an RFC 9162 consistency proof built from the tree.
func (v *verifier) checkConsistency(t *tree, latest *Checkpoint) {
	r := v.r
	nv, _ := note.NewVerifier(r.VKey)
	sort.Slice(v.archive, func(a, b int) bool {
		x, _ := strconv.ParseUint(path.Base(v.archive[a]), 10, 64)
		y, _ := strconv.ParseUint(path.Base(v.archive[b]), 10, 64)
		return x < y
	})
	var all []NamedCheckpoint
	for _, name := range v.archive {
		data, err := readLimited(v.fsys, name, maxSmallFile)
		if err != nil {
			r.fail(CheckConsistency, "%s: cannot read: %v", name, err)
			return
		}
		all = append(all, NamedCheckpoint{Name: name, Data: data})
	}
	if v.published != nil {
		all = append(all, NamedCheckpoint{Name: checkpointFile, Data: v.published.Note})
	}
	archived := len(all)
	all = append(all, v.opts.Checkpoints...)
	// Each checkpoint's signature and root, on every core: a log that
	// checkpoints every few entries archives thousands. The first failure
	// in the order above is the one reported.
	problems := make([]string, len(all))
	onCores(len(all), 64, func(is iter.Seq[int]) {
		for i := range is {
			problems[i] = v.consistencyProblem(t, nv, all[i], i < archived, latest)
		}
	})
	for _, p := range problems {
		if p != "" {
			r.fail(CheckConsistency, "%s", p)
			return
		}
	}
	r.pass(CheckConsistency, "%d archived and %d given checkpoints are consistent with the latest (size %d)", archived, len(v.opts.Checkpoints), latest.Size)
}

// consistencyProblem checks one checkpoint against the latest: signed by the
// log key with its origin, named by its size when archived, no larger than
// the latest, and its root the root of the first entries of its size (the
// verifier holds every leaf, so it compares roots rather than a proof).
func (v *verifier) consistencyProblem(t *tree, nv note.Verifier, nc NamedCheckpoint, archived bool, latest *Checkpoint) string {
	cp, err := OpenCheckpoint(nc.Data, nv, latest.Origin)
	if err != nil {
		return fmt.Sprintf("%s: %v", nc.Name, err)
	}
	if archived && strings.HasPrefix(nc.Name, checkpointsDir+"/") && strconv.FormatUint(cp.Size, 10) != path.Base(nc.Name) {
		return fmt.Sprintf("%s: holds a checkpoint of size %d", nc.Name, cp.Size)
	}
	if cp.Size > latest.Size {
		return fmt.Sprintf("%s: size %d is larger than the latest checkpoint's %d; the log was cut back or this copy is stale", nc.Name, cp.Size, latest.Size)
	}
	root, err := t.root(cp.Size)
	if err == nil && root != cp.Root {
		err = fmt.Errorf("its root %s is not %s, the root of the first %d entries", cp.RootHex(), hex.EncodeToString(root[:]), cp.Size)
	}
	if err != nil {
		return fmt.Sprintf("%s: size %d is not a prefix of the latest checkpoint: %v", nc.Name, cp.Size, err)
	}
	return ""
}

// onCores runs work on one goroutine per core (fewer when n is small: one
// for every per items), each handed its share of the indexes below n, and
// returns once all are done. The verifier's checks of independent files
// and entries run so; each keeps its results by index, so that the first
// problem in order is the one reported.
func onCores(n, per int, work func(indexes iter.Seq[int])) {
	workers := min(runtime.GOMAXPROCS(0), 1+n/per)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(func(yield func(int) bool) {
				for i := w; i < n; i += workers {
					if !yield(i) {
						return
					}
				}
			})
		}()
	}
	wg.Wait()
}
