// Package durable writes files so that they survive a crash or a power cut:
// the data goes to a temporary file in the same folder, is synced, and is
// renamed (or linked) into place, and then the folder itself is synced.
package durable

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Mode says what to do when the file already exists.
type Mode int

const (
	// Replace overwrites an existing file atomically.
	Replace Mode = iota
	// Same accepts an existing file with the same content and refuses one
	// with other content.
	Same
	// New refuses any existing file.
	New
)

// ErrExists reports that the file exists (with other content, for Same).
var ErrExists = errors.New("file exists")

// SyncDir fsyncs a folder so that creations and renames in it are durable.
func SyncDir(dir string) error {
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

// MkdirAll creates dir and its missing parents, syncing each parent.
func MkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return SyncDir(parent)
}

// MkdirPrivate makes dir, durably, readable by its owner only (0700): for
// folders that hold secrets, such as card files. An existing folder is
// narrowed to 0700.
func MkdirPrivate(dir string) error {
	if err := MkdirAll(dir); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// Disk writes files durably. Its zero value is the machine's own disk; a
// test sets Faults to make chosen writes fail.
type Disk struct {
	Faults *Faults
}

// WriteFile writes data to path durably, with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode, mode Mode) error {
	return Disk{}.WriteFile(path, data, perm, mode)
}

// WriteFile writes data to path durably, with the given permissions.
func (d Disk) WriteFile(path string, data []byte, perm os.FileMode, mode Mode) error {
	dir := filepath.Dir(path)
	if err := MkdirAll(dir); err != nil {
		return err
	}
	if mode != Replace {
		if old, err := os.ReadFile(path); err == nil {
			if mode == Same && bytes.Equal(old, data) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename or a link it is already gone, or harmless
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := d.Faults.Check(OpFsync, path); err != nil {
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
	if mode == New {
		// A link fails if the name is taken, even by a racing writer.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %w", path, ErrExists)
			}
			return err
		}
	} else if err := d.Faults.Check(OpRename, path); err != nil {
		return err
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}
