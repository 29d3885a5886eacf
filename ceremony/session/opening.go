package session

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// Previous is what a ceremony carries over from the one it follows: the
// previous log's final checkpoint as published (with the officers'
// cosignatures), the SKR it wrote, the custody register and the KSK backup
// on record it ended with, and its officers' roster.
type Previous struct {
	Origin     string
	VKey       string
	Size       uint64
	Root       string // hex
	Checkpoint []byte
	SKRSHA256  string
	SKR        []byte
	// Custody is the register of sealed items it ended with.
	Custody map[string]string
	// Backup is the KSK backup on record when it ended: the one it made
	// or the one it carried over.
	Backup []byte
	// Roster is the officers' roster it ended with (a roster file): its
	// own, or the one a cards.reshare step dealt.
	Roster []byte
}

// Errors of ReadPrevious, for the caller's exit code.
var (
	// ErrPreviousUnreadable: the folder cannot be read as a log at all.
	ErrPreviousUnreadable = errors.New("not readable as a log")
	// ErrPreviousUnverified: the previous ceremony's log does not verify.
	ErrPreviousUnverified = errors.New("the previous ceremony's log does not verify")
)

// ReadPrevious verifies the log of the ceremony a new one follows (read
// from fsys, its folder), which must be closed, and reads what the new
// ceremony cites and carries over. Every file is read within its bound.
func ReadPrevious(fsys fs.FS) (*Previous, error) {
	rep, err := audit.Verify(fsys, audit.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPreviousUnreadable, err)
	}
	if !rep.OK {
		f := rep.FirstFailure()
		return nil, fmt.Errorf("%w (%s: %s)", ErrPreviousUnverified, f.ID, f.Detail)
	}
	read := func(name string, limit int64) ([]byte, error) {
		f, err := fsys.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, limit+1))
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("%s: more than %d bytes", name, limit)
		}
		return b, err
	}
	p := &Previous{Origin: rep.Origin, Size: rep.Size, Root: hex.EncodeToString(rep.Root)}
	if p.Checkpoint, err = read("checkpoint", 64<<10); err != nil {
		return nil, err
	}
	vkey, err := read("log.vkey", 4<<10)
	if err != nil {
		return nil, err
	}
	p.VKey = strings.TrimSpace(string(vkey))
	for _, e := range rep.Events {
		if w, ok := e.Event.(event.SKRWritten); ok {
			p.SKRSHA256 = w.SHA256
		}
	}
	artefact := func(sha string) string { return path.Join("artefacts", "sha256", sha) }
	if c, err := audit.ReadCeremony(fsys, rep); err == nil {
		p.Custody = c.State.Custody
		switch {
		case c.State.Reshared != nil:
			if p.Roster, err = read(artefact(c.State.Reshared.Roster.SHA256), 1<<20); err != nil {
				return nil, fmt.Errorf("the roster it dealt: %w", err)
			}
		case c.Script.RosterRaw != nil:
			p.Roster = c.Script.RosterRaw
		case c.Script.Quorum != nil:
			p.Roster, _ = quorum.MarshalRosterFile(c.Script.Quorum)
		}
		if sha := c.State.Backup; sha != "" {
			if p.Backup, err = read(artefact(sha), backup.MaxSize); err != nil {
				return nil, fmt.Errorf("the KSK backup on record: %w", err)
			}
		}
	}
	if p.SKRSHA256 != "" {
		if p.SKR, err = read(artefact(p.SKRSHA256), dnssec.MaxDocumentSize); err != nil {
			return nil, fmt.Errorf("the SKR it wrote: %w", err)
		}
	}
	return p, nil
}

// PreviousSKR is the SKR the previous ceremony wrote, parsed; nil if it
// wrote none (or p is nil).
func (p *Previous) PreviousSKR() (*dnssec.Document, error) {
	if p == nil || p.SKR == nil {
		return nil, nil
	}
	doc, err := dnssec.ParseAny(p.SKR, nil)
	if err != nil {
		return nil, fmt.Errorf("the SKR it wrote: %w", err)
	}
	return doc, nil
}

// Opening is what a new ceremony's log opens with. run and demo open
// their logs with it.
type Opening struct {
	Script *ceremony.Script
	// ScriptName names the script's artefact; Ceremony is the ceremony's
	// name as logged (the script's when "").
	ScriptName, Ceremony string
	Rehearsal            bool
	Tool                 string
	// AnchorKey is the anchoring key the entry announces, if any.
	AnchorKey string
	// ProfileName and Profile are the profile cited (none when Profile is
	// nil), Token the token label the ceremony acts on.
	ProfileName string
	Profile     []byte
	Token       string
	// Previous is the ceremony this one follows, or nil.
	Previous *Previous
}

// Entry is the opening entry and the artefacts it cites: the script (and
// the roster it names), the profile, and, following a previous ceremony,
// its citation (its final checkpoint as an artefact), its KSK backup on
// record, and the custody register it ended with together with the items
// the script records (ceremony.OpeningRegister). An item the two disagree
// on is an error.
func (o Opening) Entry() (event.Open, []transparency.Artefact, error) {
	s := o.Script
	name := o.Ceremony
	if name == "" {
		name = s.Ceremony
	}
	open := event.Open{Ceremony: name, Zone: s.Zone, ScriptSHA256: s.Digest, Tool: o.Tool, Rehearsal: o.Rehearsal,
		OfficerKeys: ceremony.OfficerKeys(s.Quorum), QuorumThreshold: ceremony.QuorumThreshold(s), AnchorKey: o.AnchorKey, Token: o.Token}
	arts := []transparency.Artefact{{Name: o.ScriptName, Data: s.Raw}}
	if o.Profile != nil {
		arts = append(arts, transparency.Artefact{Name: o.ProfileName, Data: o.Profile})
		open.ProfileSHA256 = dnssec.DigestOf(o.Profile).Hex()
	}
	if s.RosterFile != "" {
		arts = append(arts, transparency.Artefact{Name: s.RosterFile, Data: s.RosterRaw})
	}
	var custody map[string]string
	if p := o.Previous; p != nil {
		open.PreviousOrigin, open.PreviousVKey, open.PreviousSize, open.PreviousRoot = p.Origin, p.VKey, p.Size, p.Root
		open.PreviousCheckpoint, open.PreviousSKR = dnssec.DigestOf(p.Checkpoint).Hex(), p.SKRSHA256
		arts = append(arts, transparency.Artefact{Name: "previous-checkpoint", Data: p.Checkpoint})
		if p.Backup != nil {
			// The backup on record goes on with the chain: a recovery
			// restores it from its own log.
			open.Backup = dnssec.DigestOf(p.Backup).Hex()
			arts = append(arts, transparency.Artefact{Name: BackupName, Data: p.Backup})
		}
		custody = p.Custody
	}
	var err error
	if open.Custody, err = ceremony.OpeningRegister(s, custody); err != nil {
		return event.Open{}, nil, err
	}
	return open, arts, nil
}
