package transparency

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Names inside a log folder.
const (
	checkpointFile = "checkpoint"
	vkeyFile       = "log.vkey"
	checkpointsDir = "checkpoints"
	artefactsDir   = "artefacts/sha256"
	stateDir       = ".state"
)

// syncDir fsyncs a directory so that renames and creations inside it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// mkdirDurable creates dir and its missing parents, syncing each parent so the
// new directory entries survive a crash.
func mkdirDurable(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// writeDurable writes data to path atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. When exclusive is set an
// existing file with the same content is accepted and one with other content is
// an error.
func writeDurable(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	if err := mkdirDurable(dir); err != nil {
		return err
	}
	if exclusive {
		if old, err := os.ReadFile(path); err == nil {
			if bytes.Equal(old, data) {
				return nil
			}
			return fmt.Errorf("%s exists with other content", path)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
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
)

// tileRef is a parsed tile or entry bundle path.
type tileRef struct {
	level   uint64 // hash tiles only
	index   uint64
	partial uint8 // 0 for a full tile
}

var (
	tileNRE    = regexp.MustCompile(`^(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/([1-9][0-9]{0,2}))?$`)
	sizeNameRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)
)

// parseTileN parses the N part of a tlog-tiles path ("x001/x234/067[.p/W]").
func parseTileN(s string) (index uint64, partial uint8, ok bool) {
	m := tileNRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	if m[1] != "" {
		w, _ := strconv.Atoi(m[1])
		if w >= 256 {
			return 0, 0, false
		}
		partial = uint8(w)
		s = strings.TrimSuffix(s, ".p/"+m[1])
	}
	for _, part := range strings.Split(s, "/") {
		d, _ := strconv.ParseUint(strings.TrimPrefix(part, "x"), 10, 64)
		if index > (1<<63)/1000 {
			return 0, 0, false
		}
		index = index*1000 + d
	}
	return index, partial, true
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
	case strings.HasPrefix(p, "tile/entries/"):
		n := strings.TrimPrefix(p, "tile/entries/")
		if i, w, ok := parseTileN(n); ok && tileN(i, w) == n {
			return fileBundle, tileRef{index: i, partial: w}
		}
	case strings.HasPrefix(p, "tile/"):
		rest := strings.TrimPrefix(p, "tile/")
		l, n, found := strings.Cut(rest, "/")
		if found && sizeNameRE.MatchString(l) {
			level, _ := strconv.ParseUint(l, 10, 64)
			if i, w, ok := parseTileN(n); ok && level < 8 && tileN(i, w) == n {
				return fileTile, tileRef{level: level, index: i, partial: w}
			}
		}
	case strings.HasPrefix(p, checkpointsDir+"/"):
		if sizeNameRE.MatchString(strings.TrimPrefix(p, checkpointsDir+"/")) {
			return fileArchivedCheckpoint, tileRef{}
		}
	case strings.HasPrefix(p, artefactsDir+"/"):
		if isSHA256Hex(strings.TrimPrefix(p, artefactsDir+"/")) {
			return fileArtefact, tileRef{}
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
