package durable

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

// A fault-injecting layer for the storage campaign: a test makes the nth
// fsync or rename of a path that contains a given string fail with an I/O
// error (EIO), as a failing disk or controller does, and checks that nothing
// half-written is left and the ceremony resumes. Nothing is injected unless
// a test asks.

// Operations that can be made to fail.
const (
	OpFsync  = "fsync"  // a file's fsync (or fdatasync, for the log's journal)
	OpRename = "rename" // the rename that puts a file in place
)

type fault struct {
	op, match string
	nth, seen int
}

var faults struct {
	mu   sync.Mutex
	list []*fault
}

// InjectFault makes the nth (from 1) op on a path containing match fail
// with EIO, once. For tests only.
func InjectFault(op, match string, nth int) {
	faults.mu.Lock()
	defer faults.mu.Unlock()
	faults.list = append(faults.list, &fault{op: op, match: match, nth: nth})
}

// ClearFaults removes every injected fault.
func ClearFaults() {
	faults.mu.Lock()
	defer faults.mu.Unlock()
	faults.list = nil
}

// Fault returns the injected failure due for op on path, or nil.
func Fault(op, path string) error {
	faults.mu.Lock()
	defer faults.mu.Unlock()
	for _, f := range faults.list {
		if f.op != op || !strings.Contains(path, f.match) {
			continue
		}
		f.seen++
		if f.seen == f.nth {
			return &os.PathError{Op: op, Path: path, Err: syscall.EIO}
		}
	}
	return nil
}
