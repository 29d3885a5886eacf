package transparency

import (
	"path"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/transparency-dev/tessera/api/layout"

	"regexp"
	"strconv"
	"strings"

	"github.com/keyceremony/keyceremony/internal/durable"
)

// Names inside a log folder.
const (
	checkpointFile = "checkpoint"
	vkeyFile       = "log.vkey"
	checkpointsDir = "checkpoints"
	artefactsDir   = "artefacts/sha256"
	anchorsDir     = "anchors" // anchors/<size>.json: a checkpoint anchored in Rekor (package anchor)
	stateDir       = ".state"
)

// syncDir, mkdirDurable and writeDurable write the folder's files so that
// they survive a crash (see internal/durable).
func syncDir(dir string) error { return durable.SyncDir(dir) }

func mkdirDurable(dir string) error { return durable.MkdirAll(dir) }

func writeDurable(d durable.Disk, path string, data []byte, exclusive bool) error {
	mode := durable.Replace
	if exclusive {
		mode = durable.Same
	}
	return d.WriteFile(path, data, 0o644, mode)
}

// fileKind classifies a path (slash-separated, relative to the log folder).
type fileKind int

const (
	fileUnknown fileKind = iota
	fileCheckpoint
	fileVKey
	fileTile
	fileBundle
	fileArchivedCheckpoint
	fileArtefact
	fileState
	fileTemp
	fileAnchor
)

// tileRef is a parsed tile or entry bundle path.
type tileRef struct {
	level   uint64 // hash tiles only
	index   uint64
	partial uint8 // 0 for a full tile
}

var sizeNameRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

// The tlog-tiles folders, as Tessera's layout names them: tiles under
// tile/<level>/, entry bundles under tile/entries/.
var (
	tilePrefix    = path.Dir(path.Dir(layout.TilePath(0, 0, 0))) + "/"
	entriesPrefix = path.Dir(layout.EntriesPath(0, 0)) + "/"
)

// parseTileN parses the N part of a tlog-tiles path ("x001/x234/067[.p/W]"),
// in its canonical spelling only.
func parseTileN(s string) (index uint64, partial uint8, ok bool) {
	i, w, err := layout.ParseTileIndexPartial(s)
	if err != nil || layout.NWithSuffix(0, i, w) != s {
		return 0, 0, false
	}
	return i, w, true
}

// classify tells what a file in a log folder is.
func classify(p string) (fileKind, tileRef) {
	if kind, ref := classifyExact(p); kind != fileUnknown {
		return kind, ref
	}
	if isTempLeftover(p) {
		return fileTemp, tileRef{}
	}
	return fileUnknown, tileRef{}
}

// classifyExact recognises the names of the log layout, in their canonical
// spelling only.
func classifyExact(p string) (fileKind, tileRef) {
	switch {
	case p == checkpointFile:
		return fileCheckpoint, tileRef{}
	case p == vkeyFile:
		return fileVKey, tileRef{}
	case strings.HasPrefix(p, stateDir+"/"):
		return fileState, tileRef{}
	case strings.HasPrefix(p, entriesPrefix):
		n := strings.TrimPrefix(p, entriesPrefix)
		if i, w, ok := parseTileN(n); ok {
			return fileBundle, tileRef{index: i, partial: w}
		}
	case strings.HasPrefix(p, tilePrefix):
		l, n, found := strings.Cut(strings.TrimPrefix(p, tilePrefix), "/")
		level, err := layout.ParseTileLevel(l)
		// Eight levels of 256-wide tiles hold 2⁶⁴ entries: no log has more.
		if found && err == nil && strconv.FormatUint(level, 10) == l && level < 8 {
			if i, w, ok := parseTileN(n); ok {
				return fileTile, tileRef{level: level, index: i, partial: w}
			}
		}
	case strings.HasPrefix(p, checkpointsDir+"/"):
		if sizeNameRE.MatchString(strings.TrimPrefix(p, checkpointsDir+"/")) {
			return fileArchivedCheckpoint, tileRef{}
		}
	case strings.HasPrefix(p, artefactsDir+"/"):
		if event.IsSHA256Hex(strings.TrimPrefix(p, artefactsDir+"/")) {
			return fileArtefact, tileRef{}
		}
	case strings.HasPrefix(p, anchorsDir+"/") && strings.HasSuffix(p, ".json"):
		if sizeNameRE.MatchString(strings.TrimSuffix(strings.TrimPrefix(p, anchorsDir+"/"), ".json")) {
			return fileAnchor, tileRef{}
		}
	}
	return fileUnknown, tileRef{}
}

// isTempLeftover reports whether p is a temporary file that an interrupted
// write can leave behind; nothing ever reads one as log content. Ours are
// dot-prefixed with a .tmp- part; Tessera's are the target's name followed by
// the decimal digits of a random int32 (at most 10).
func isTempLeftover(p string) bool {
	base := p[strings.LastIndex(p, "/")+1:]
	if strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-") {
		return true
	}
	for k := len(p) - 1; k > 0 && len(p)-k <= 10 && p[k] >= '0' && p[k] <= '9'; k-- {
		if kind, _ := classifyExact(p[:k]); kind != fileUnknown && kind != fileState {
			return true
		}
	}
	return false
}
