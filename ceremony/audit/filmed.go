package audit

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/transparency"
)

// CheckFilmed lists the checkpoints seen on a recording of the ceremony's
// screen, and the officers whose cosignatures each carries.
const CheckFilmed = "filmed"

// FilmedNote is a signed checkpoint note seen outside the log (read from a
// recording of the projected screen, or typed in by a viewer), and where
// it was seen ("ceremony.mp4 at 00:41:07.5").
type FilmedNote struct {
	Where string
	Note  []byte
}

// withFilmed is the log verifier's options with the filmed notes among
// the checkpoints the log must be consistent with: a note the log is not
// consistent with fails the consistency check, named by where it was seen.
func withFilmed(opts Options) transparency.VerifyOptions {
	vo := opts.VerifyOptions
	if len(opts.Filmed) == 0 {
		return vo
	}
	vo.Checkpoints = append([]transparency.NamedCheckpoint(nil), vo.Checkpoints...)
	for _, f := range opts.Filmed {
		vo.Checkpoints = append(vo.Checkpoints, transparency.NamedCheckpoint{Name: f.Where, Data: f.Note})
	}
	return vo
}

// checkFilmed names, for each filmed note of a log that verified, where it
// was seen, its size, and the officers whose cosignatures on it verify
// against the roster (the pinned one, or the log's own). An officer's line
// that does not verify fails the check: a forged cosignature was shown.
func checkFilmed(fsys fs.FS, rep *transparency.Report, opts Options) {
	if len(opts.Filmed) == 0 || !rep.OK {
		return // the consistency check names a filmed note the log contradicts
	}
	roster := opts.Roster
	if roster == nil && !opts.Raw {
		if c, err := ReadCeremony(fsys, rep); err == nil {
			roster = c.Script.Quorum
		}
	}
	var seen []string
	for _, f := range opts.Filmed {
		body, _ := transparency.SplitNote(f.Note)
		_, size, _, err := transparency.ParseCheckpointBody(string(body))
		if err != nil {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckFilmed, Detail: fmt.Sprintf("%s: %v", f.Where, err)})
			rep.OK = false
			return
		}
		cc := ReadCosignatures(roster, f.Note, size, nil)
		if len(cc.Rejected) > 0 {
			rep.Checks = append(rep.Checks, transparency.Check{ID: CheckFilmed, Detail: fmt.Sprintf("%s: checkpoint %d shows a %s", f.Where, size, cc.Rejected[0])})
			rep.OK = false
			return
		}
		s := fmt.Sprintf("%s checkpoint %d", f.Where, size)
		if len(cc.Valid) > 0 {
			var names []string
			for _, id := range cc.Valid {
				names = append(names, roster.Named(id))
			}
			s += " cosigned by " + strings.Join(names, ", ")
		}
		seen = append(seen, s)
	}
	rep.Checks = append(rep.Checks, transparency.Check{ID: CheckFilmed, OK: true, Detail: safetext.Printable(fmt.Sprintf(
		"%d filmed checkpoints, each consistent with the log: %s", len(opts.Filmed), strings.Join(seen, "; ")))})
}
