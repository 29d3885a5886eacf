package transparency

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/transparency-dev/tessera/api/layout"
)

// Mirror copies what a published log serves into dst, an empty private
// folder, so that the folder verifier can check it as it checks a log
// folder: the checkpoint the Follower f verified last, the log key, the
// entry bundles and the tiles for its size, every artefact an entry
// cites, and the archived checkpoints and anchors named in more (paths
// such as checkpoints/21; one the source does not have is left out). Each
// file is read as served, within the bounds of its kind; the entries and
// the checkpoint are those f verified.
func Mirror(ctx context.Context, f *Follower, dst string, more []string) error {
	cp := f.Checkpoint()
	if cp == nil {
		return errors.New("mirror: no checkpoint verified yet")
	}
	src := f.Source()
	write := func(name string, data []byte) error {
		p := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o600)
	}
	fetch := func(name string, optional bool) error {
		if !fs.ValidPath(name) || path.Clean(name) != name {
			return fmt.Errorf("mirror: %q is not a log path", name)
		}
		data, err := src.Read(ctx, name)
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return write(name, data)
	}
	if err := write(checkpointFile, cp.Note); err != nil {
		return err
	}
	if err := fetch(vkeyFile, false); err != nil {
		return err
	}
	size := cp.Size
	for idx := uint64(0); idx*layout.EntryBundleWidth < size; idx++ {
		if err := fetch(layout.EntriesPath(idx, layout.PartialTileSize(0, idx, size)), false); err != nil {
			return err
		}
	}
	// The tiles for the size: at each level, the hashes of the level
	// below, 256 to a tile.
	for level, n := uint64(0), size; n > 0; level, n = level+1, n/layout.TileWidth {
		for idx := uint64(0); idx*layout.TileWidth < n; idx++ {
			if err := fetch(layout.TilePath(level, idx, layout.PartialTileSize(level, idx, size)), false); err != nil {
				return err
			}
		}
		if n < layout.TileWidth {
			break
		}
	}
	cited := map[string]bool{}
	for _, raw := range f.Entries() {
		h, err := event.ParseHeader(raw)
		if err != nil {
			continue // the verifier names it
		}
		for _, a := range h.Artefacts {
			if cited[a.SHA256] || !event.IsSHA256Hex(a.SHA256) {
				continue
			}
			cited[a.SHA256] = true
			data, err := ReadArtefactFrom(ctx, src, a.SHA256)
			if errors.Is(err, fs.ErrNotExist) {
				continue // the verifier names it missing
			}
			if err != nil {
				return err
			}
			if err := write(path.Join(artefactsDir, a.SHA256), data); err != nil {
				return err
			}
		}
	}
	for _, name := range more {
		if err := fetch(name, true); err != nil {
			return err
		}
	}
	return nil
}
