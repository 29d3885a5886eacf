package durable

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

// Faults make chosen fsyncs and renames fail with an I/O error (EIO), as a
// failing disk or controller does: a test gives them to a Disk and checks
// that nothing half-written is left and the ceremony resumes. The product
// never makes one: a nil *Faults injects nothing.
type Faults struct {
	mu   sync.Mutex
	list []*fault
}

// Operations that can be made to fail.
const (
	OpFsync  = "fsync"  // a file's fsync (or fdatasync, for the log's journal)
	OpRename = "rename" // the rename that puts a file in place
)

type fault struct {
	op, match string
	nth, seen int
}

// Inject makes the nth (from 1) op on a path containing match fail with
// EIO, once.
func (f *Faults) Inject(op, match string, nth int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, &fault{op: op, match: match, nth: nth})
}

// Check returns the failure due for op on path, or nil. A nil *Faults
// returns nil.
func (f *Faults) Check(op, path string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.list {
		if ft.op != op || !strings.Contains(path, ft.match) {
			continue
		}
		ft.seen++
		if ft.seen == ft.nth {
			return &os.PathError{Op: op, Path: path, Err: syscall.EIO}
		}
	}
	return nil
}
