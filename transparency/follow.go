package transparency

import (
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/safetext"

	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

// A Source reads a published log's files by their path in the log's layout
// (checkpoint, log.vkey, tile/entries/…, artefacts/sha256/…): a folder, or
// an HTTP server that serves the folder (keyceremony serve, or any static
// host). A missing file is an error wrapping fs.ErrNotExist.
type Source interface {
	Read(ctx context.Context, name string) ([]byte, error)
	String() string
}

// DirSource reads a log folder.
type DirSource string

func (d DirSource) String() string { return string(d) }

func (d DirSource) Read(_ context.Context, name string) ([]byte, error) {
	if !fs.ValidPath(name) || strings.HasPrefix(name, stateDir) {
		return nil, fmt.Errorf("%s: not a log path", name)
	}
	p := filepath.Join(string(d), filepath.FromSlash(name))
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCappedAt(f, p, capFor(name))
}

// readCappedAt reads at most max bytes from r, whatever the source sends:
// the most a file of its kind can hold (capFor).
func readCappedAt(r io.Reader, name string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than any such file of a log (%d bytes)", safetext.Printable(name), max)
	}
	return b, nil
}

// Bounds on what a follower reads and holds, whatever a source claims: a
// ceremony log has hundreds of entries, and a viewer must not be made to
// fetch or keep more than a log of a million.
const (
	maxCheckpointFile = 64 << 10 // a checkpoint note with every cosignature
	maxVKeyFile       = 4 << 10
	maxArtefactFile   = 64 << 20 // a script, a roster, a KSR or an SKR
	// MaxFollowEntries and MaxFollowBytes bound the entries a Follower
	// holds: a checkpoint that claims more, or entries that add up to
	// more, are an alarm, before anything more is fetched.
	MaxFollowEntries = 1 << 20
	MaxFollowBytes   = 128 << 20
)

// CheckBounds is the alarm of a source that claims more than a follower
// holds.
const CheckBounds = "bounds"

// capFor is the largest a file of the log's layout can be, by its name.
func capFor(name string) int64 {
	switch {
	case name == checkpointFile || strings.HasPrefix(name, checkpointsDir+"/"):
		return maxCheckpointFile
	case name == vkeyFile:
		return maxVKeyFile
	case strings.HasPrefix(name, entriesPrefix):
		return maxBundleFile
	case strings.HasPrefix(name, tilePrefix):
		return maxTileFile
	case strings.HasPrefix(name, artefactsDir+"/"):
		return maxArtefactFile
	}
	return maxCheckpointFile
}

// HTTPSource reads a log served over HTTP(S) under a base URL.
type HTTPSource struct {
	Base   *url.URL
	Client *http.Client
}

// NewHTTPSource parses a base URL (http or https).
func NewHTTPSource(raw string) (*HTTPSource, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: not an http(s) URL", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	// A server that stalls is a problem to report and retry, not a hang;
	// one that redirects elsewhere is not the log asked for.
	return &HTTPSource{Base: u, Client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: sameHost}}, nil
}

// sameHost refuses a redirect to another scheme, host or port, and more
// than a few redirects.
func sameHost(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("%w: %s redirects to %s, another host", ErrRedirect, first.Redacted(), req.URL.Redacted())
	}
	if len(via) >= 5 {
		return fmt.Errorf("%w: %s: more than %d redirects", ErrRedirect, first.Redacted(), len(via))
	}
	return nil
}

// ErrRedirect: a server sent the viewer to another host; it is not
// followed.
var ErrRedirect = errors.New("redirect refused")

func (h *HTTPSource) String() string { return h.Base.String() }

func (h *HTTPSource) Read(ctx context.Context, name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s: not a log path", name)
	}
	u := h.Base.JoinPath(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if name == checkpointFile {
		req.Header.Set("Cache-Control", "no-cache") // the one file that changes
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", u, fs.ErrNotExist)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%s: %s: %w", u, resp.Status, ErrUnavailable)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return readCappedAt(resp.Body, u.String(), capFor(name))
}

// ErrUnavailable: the server answered with an error of its own (5xx); a
// later read may succeed.
var ErrUnavailable = errors.New("server unavailable")

// Alarms a Follower raises: each means the published log cannot be trusted
// from this checkpoint on.
var (
	// ErrAlarm wraps every alarm.
	ErrAlarm = errors.New("ALARM")
)

// Alarm is a check a new checkpoint failed, with what it means.
type Alarm struct {
	Check  string // CheckSignature, CheckOrigin, CheckRoot, CheckConsistency
	Detail string
}

// Error says the alarm on one line, what the source said shown escaped.
func (a *Alarm) Error() string {
	return "ALARM: " + safetext.Printable(a.Check) + ": " + safetext.Printable(a.Detail)
}
func (a *Alarm) Unwrap() error { return ErrAlarm }

// Follower keeps a verified copy of a published log as it grows: each new
// checkpoint must carry the pinned key's signature and origin, its root must
// be the one recomputed from the entries, and it must extend the one seen
// before (every earlier entry unchanged). A checkpoint that fails is an
// *Alarm and is not taken: the Follower keeps what it verified last.
type Follower struct {
	src    Source
	nv     note.Verifier
	origin string
	// VKey is the key the checkpoints are verified with; Pinned says
	// whether it was given (true) or read from the log itself.
	VKey   string
	Pinned bool
	// Witnesses, when set, is the policy whose quorum must have cosigned
	// each checkpoint before it is taken.
	Witnesses *WitnessPolicy

	cp      *Checkpoint
	entries [][]byte
	leaves  []Hash
}

// Update is a newly verified checkpoint and the entries it added.
type Update struct {
	Checkpoint *Checkpoint
	Previous   uint64   // the size verified before
	New        [][]byte // entries Previous … Checkpoint.Size-1
}

// NewFollower starts following src. vkey is the log key announced at the
// ceremony; empty reads the log's own log.vkey (trust on first use, which
// the caller must say). origin, if not empty, is the expected origin line.
func NewFollower(ctx context.Context, src Source, vkey, origin string) (*Follower, error) {
	f := &Follower{src: src, origin: origin, Pinned: vkey != ""}
	if vkey == "" {
		b, err := src.Read(ctx, vkeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: the log's key: %w; give the key announced at the ceremony", src, err)
		}
		vkey = strings.TrimSpace(string(b))
	}
	nv, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("log key: %v", err)
	}
	f.nv, f.VKey = nv, vkey
	if f.origin == "" {
		f.origin = nv.Name() // a ceremony log's origin is its key's name
	}
	return f, nil
}

// Checkpoint is the last verified checkpoint, nil before the first.
func (f *Follower) Checkpoint() *Checkpoint { return f.cp }

// Entries are the verified entries, in log order.
func (f *Follower) Entries() [][]byte { return f.entries }

// Source is where the log is read from.
func (f *Follower) Source() Source { return f.src }

// Poll reads the checkpoint and, if it moved on, the entries it adds. It
// returns nil, nil when nothing changed, an Update when a new checkpoint
// verified, or an *Alarm when one did not (other errors are the source's:
// the network, a missing file, and may be retried).
func (f *Follower) Poll(ctx context.Context) (*Update, error) {
	data, err := f.src.Read(ctx, checkpointFile)
	if err != nil {
		return nil, err
	}
	if f.cp != nil && bytes.Equal(data, f.cp.Note) {
		return nil, nil
	}
	cp, err := OpenCheckpoint(data, f.nv, f.origin)
	if err != nil {
		check := CheckSignature
		if f.origin != "" && strings.Contains(err.Error(), "origin") {
			check = CheckOrigin
		}
		return nil, &Alarm{check, fmt.Sprintf("the checkpoint at %s: %v", f.src, err)}
	}
	if cp.Size > MaxFollowEntries {
		return nil, &Alarm{CheckBounds, fmt.Sprintf("checkpoint %d claims more entries than a viewer holds (%d): a ceremony log has hundreds; nothing fetched", cp.Size, MaxFollowEntries)}
	}
	if f.Witnesses != nil {
		if ok, signed := f.Witnesses.Check(data); !ok {
			return nil, &Alarm{CheckWitnesses, fmt.Sprintf("checkpoint %d: cosigned by %v, which does not satisfy the witness policy's quorum", cp.Size, signed)}
		}
	}
	var prev uint64
	if f.cp != nil {
		prev = f.cp.Size
		switch {
		case cp.Origin != f.cp.Origin:
			return nil, &Alarm{CheckOrigin, fmt.Sprintf("the origin changed from %q to %q", f.cp.Origin, cp.Origin)}
		case cp.Size < prev:
			return nil, &Alarm{CheckConsistency, fmt.Sprintf("the log shrank from %d to %d entries: history was rewritten", prev, cp.Size)}
		case cp.Size == prev && cp.Root != f.cp.Root:
			return nil, &Alarm{CheckConsistency, fmt.Sprintf("two checkpoints of size %d with different roots (%s and %s), both signed: a split view", prev, f.cp.RootHex(), cp.RootHex())}
		case cp.Size == prev:
			f.cp = cp // the same tree, signed again
			return nil, nil
		}
	}
	entries, err := f.fetch(ctx, prev, cp.Size)
	if err != nil {
		return nil, err
	}
	leaves := append([]Hash(nil), f.leaves...)
	for _, e := range entries[prev:] {
		leaves = append(leaves, LeafHash(e))
	}
	root, err := newTree(leaves).root(cp.Size)
	if err != nil {
		return nil, err
	}
	if root != cp.Root {
		if f.cp != nil {
			return nil, &Alarm{CheckConsistency, fmt.Sprintf("checkpoint %d (root %s) does not extend checkpoint %d seen before: the entries it commits to are not the ones served, or earlier ones were rewritten", cp.Size, cp.RootHex(), prev)}
		}
		return nil, &Alarm{CheckRoot, fmt.Sprintf("checkpoint %d: root %s, but the entries served give %s", cp.Size, cp.RootHex(), root)}
	}
	u := &Update{Checkpoint: cp, Previous: prev, New: entries[prev:]}
	f.cp, f.entries, f.leaves = cp, entries, leaves
	return u, nil
}

// fetch returns the entries 0…size-1: those already verified below from,
// then the bundles from the one holding entry from onwards. The bundle that
// held the last verified entries is read again; its earlier entries must be
// the ones verified before.
func (f *Follower) fetch(ctx context.Context, from, size uint64) ([][]byte, error) {
	all := append([][]byte(nil), f.entries[:from]...)
	held := 0
	for _, e := range all {
		held += len(e)
	}
	for idx := from / layout.EntryBundleWidth; idx*layout.EntryBundleWidth < size; idx++ {
		n := min(size-idx*layout.EntryBundleWidth, layout.EntryBundleWidth)
		p := uint8(0)
		if n < layout.EntryBundleWidth {
			p = uint8(n)
		}
		name := layout.EntriesPath(idx, p)
		data, err := f.src.Read(ctx, name)
		if err != nil {
			return nil, err
		}
		es, err := parseBundle(data)
		if err != nil || uint64(len(es)) != n {
			return nil, &Alarm{CheckBundles, fmt.Sprintf("%s: holds %d entries, its name says %d (%v)", name, len(es), n, err)}
		}
		for j, e := range es {
			i := idx*layout.EntryBundleWidth + uint64(j)
			if i < from {
				if !bytes.Equal(e, f.entries[i]) {
					return nil, &Alarm{CheckConsistency, fmt.Sprintf("entry %d changed since checkpoint %d: history was rewritten", i, from)}
				}
				continue
			}
			if held += len(e); held > MaxFollowBytes {
				return nil, &Alarm{CheckBounds, fmt.Sprintf("entries 0…%d add up to more than a viewer holds (%d bytes): a ceremony log's entries are a few hundred bytes each; not fetched further", i, MaxFollowBytes)}
			}
			all = append(all, e)
		}
	}
	return all, nil
}

// ReadArtefactFrom reads an artefact an entry cites, checking its digest.
func ReadArtefactFrom(ctx context.Context, src Source, sha string) ([]byte, error) {
	if !event.IsSHA256Hex(sha) {
		return nil, fmt.Errorf("artefact %q: not a SHA-256 in hex", sha)
	}
	data, err := src.Read(ctx, path.Join(artefactsDir, sha))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		got := hex.EncodeToString(sum[:])
		return nil, &Alarm{CheckArtefacts, fmt.Sprintf("artefact %s: the file served has SHA-256 %s", sha, got)}
	}
	return data, nil
}

// ArchivedCheckpoint reads checkpoints/<size> from the source, with whatever
// cosignatures it carries, and checks that it is the log's signed
// checkpoint of the entries verified so far: the log key's signature, the
// origin, and the root recomputed from the first size entries. An archived
// checkpoint that is not is an *Alarm.
func (f *Follower) ArchivedCheckpoint(ctx context.Context, size uint64) (*Checkpoint, error) {
	if size == 0 || size > uint64(len(f.leaves)) {
		return nil, fmt.Errorf("checkpoint %d: %d entries verified so far", size, len(f.leaves))
	}
	name := path.Join(checkpointsDir, strconv.FormatUint(size, 10))
	data, err := f.src.Read(ctx, name)
	if err != nil {
		return nil, err
	}
	cp, err := OpenCheckpoint(data, f.nv, f.origin)
	if err != nil {
		return nil, &Alarm{Check: CheckSignature, Detail: fmt.Sprintf("%s: %v", name, err)}
	}
	if root, err := newTree(f.leaves[:size]).root(size); err != nil || cp.Size != size || cp.Root != root {
		return nil, &Alarm{Check: CheckRoot, Detail: fmt.Sprintf("%s: not the root of the first %d entries verified", name, size)}
	}
	return cp, nil
}
