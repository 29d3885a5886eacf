package transparency

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/keyceremony/keyceremony/internal/durable"
)

// journalFile is the log's write-ahead journal, in the private state folder.
const journalFile = "journal"

// journal is the log's write-ahead journal. Every entry is written and synced
// here first, so an append is durable after one write and one sync; Tessera
// then integrates it into the bundles and tiles (three atomic file
// replacements, each with its own syncs). Reopening a log replays whatever the
// journal holds that Tessera had not integrated, and then empties the journal.
//
// A record is: uint16 big-endian length, the entry, the entry's leaf hash. The
// hash makes a torn last record (a crash during the write) recognisable; that
// append never returned, so the record is dropped.
type journal struct {
	f    *os.File
	size int64
	// faults, in tests, fail chosen syncs.
	faults *durable.Faults
}

// openJournal opens (or creates) the journal and returns the entries of its
// intact records.
func openJournal(dir string, faults *durable.Faults) (*journal, [][]byte, error) {
	path := filepath.Join(dir, stateDir, journalFile)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	if statErr != nil {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	entries, valid := parseJournal(data)
	return &journal{f: f, size: int64(valid), faults: faults}, entries, nil
}

// parseJournal returns the entries of the intact records at the start of data
// and the length of those records.
func parseJournal(data []byte) (entries [][]byte, valid int) {
	for valid+2 <= len(data) {
		n := int(binary.BigEndian.Uint16(data[valid:]))
		end := valid + 2 + n + 32
		if end > len(data) {
			break
		}
		entry := data[valid+2 : valid+2+n]
		if h := LeafHash(entry); !bytes.Equal(h[:], data[valid+2+n:end]) {
			break
		}
		entries = append(entries, entry)
		valid = end
	}
	return entries, valid
}

// append writes one record and syncs it. On failure it cuts the journal back
// to where it was, so that a failed append cannot reappear on replay.
func (j *journal) append(entry []byte, leaf Hash) error {
	rec := make([]byte, 0, 2+len(entry)+32)
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(entry)))
	rec = append(rec, entry...)
	rec = append(rec, leaf[:]...)
	_, err := j.f.WriteAt(rec, j.size)
	if err == nil {
		err = j.faults.Check(durable.OpFsync, j.f.Name())
	}
	if err == nil {
		err = syscall.Fdatasync(int(j.f.Fd()))
	}
	if err != nil {
		if terr := j.f.Truncate(j.size); terr == nil {
			syscall.Fdatasync(int(j.f.Fd()))
		}
		return fmt.Errorf("write journal: %w", err)
	}
	j.size += int64(len(rec))
	return nil
}

// reset empties the journal once everything in it is integrated.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("empty journal: %w", err)
	}
	if err := syscall.Fdatasync(int(j.f.Fd())); err != nil {
		return fmt.Errorf("empty journal: %w", err)
	}
	j.size = 0
	return nil
}

func (j *journal) close() error { return j.f.Close() }
