package audit

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/transparency"
	"golang.org/x/mod/sumdb/note"
)

// CheckPrevious checks a log's citation of the ceremony it follows.
const CheckPrevious = "ceremony.previous"

// checkPrevious checks, from the log alone, the citation its opening
// entry makes of the previous ceremony: the cited checkpoint is an
// artefact of this log, a note signed by the previous log's key, for the
// previous origin, with the size and root the entry names. Whether that
// checkpoint is the previous log's final one is VerifyHistory's, which
// has both logs.
func checkPrevious(fsys fs.FS, rep *transparency.Report) {
	if len(rep.Events) == 0 || len(rep.Entries) == 0 {
		return
	}
	open, ok := rep.Events[0].Event.(event.Open)
	if !ok || open.PreviousCheckpoint == "" {
		return
	}
	fail := func(format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckPrevious, Detail: fmt.Sprintf(format, args...)})
		rep.OK = false
	}
	if !slices.ContainsFunc(rep.Entries[0].Artefacts, func(a event.Artefact) bool { return a.SHA256 == open.PreviousCheckpoint }) {
		fail("the opening entry cites the previous ceremony's checkpoint %s but not as one of its artefacts", open.PreviousCheckpoint)
		return
	}
	data, err := readBounded(fsys, "artefacts/sha256/"+open.PreviousCheckpoint, maxCheckpoint)
	if err != nil {
		fail("the previous ceremony's checkpoint: %v", err)
		return
	}
	v, err := note.NewVerifier(open.PreviousVKey)
	if err != nil {
		fail("the previous log's key %q: %v", open.PreviousVKey, err)
		return
	}
	cp, err := transparency.OpenCheckpoint(data, v, open.PreviousOrigin)
	if err != nil {
		fail("the previous ceremony's checkpoint does not open with its log's key and origin %s: %v", open.PreviousOrigin, err)
		return
	}
	if cp.Size != open.PreviousSize || hex.EncodeToString(cp.Root[:]) != open.PreviousRoot {
		fail("the previous ceremony's checkpoint is for size %d, root %x; the opening entry says size %d, root %s", cp.Size, cp.Root[:], open.PreviousSize, open.PreviousRoot)
		return
	}
	rep.Checks = append(rep.Checks, transparency.Check{ID: CheckPrevious, OK: true,
		Detail: fmt.Sprintf("follows the ceremony logged as %s: its final checkpoint (size %d, root %.16s…), signed by that log's key, is cited; verify --history checks it against that log", open.PreviousOrigin, cp.Size, open.PreviousRoot)})
}
