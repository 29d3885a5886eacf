package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// previousCeremony is what a ceremony carries over from the one it follows
// (--previous-log): the previous log's final checkpoint as published, with
// the officers' cosignatures, and the SKR it wrote.
type previousCeremony struct {
	dir        string
	origin     string
	vkey       string
	size       uint64
	root       string
	checkpoint []byte
	skrSHA     string
	skr        []byte
	// custody is the register of sealed items the previous ceremony
	// ended with.
	custody map[string]string
	// backup is the KSK backup on record when it ended: the one it made or
	// the one it carried over.
	backup []byte
	// roster is the officers' roster it ended with (a roster file): its
	// own, or the one a cards.reshare step dealt.
	roster []byte
}

// readPrevious verifies the log of the ceremony this one follows, which
// must be closed, and reads what the new ceremony cites and carries over.
func readPrevious(dir string) (*previousCeremony, error) {
	rep, err := audit.Verify(os.DirFS(dir), audit.Options{})
	if err != nil {
		return nil, usageErr("--previous-log %s: %v", dir, err)
	}
	if !rep.OK {
		f := rep.FirstFailure()
		return nil, badInput(fmt.Errorf("--previous-log %s: the previous ceremony's log does not verify (%s: %s); a ceremony follows only a verified, closed one: check it with keyceremony verify %s", dir, f.ID, f.Detail, dir))
	}
	read := func(name string, limit int64) ([]byte, error) {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
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
	p := &previousCeremony{dir: dir, origin: rep.Origin, size: rep.Size, root: hex.EncodeToString(rep.Root)}
	if p.checkpoint, err = read("checkpoint", 64<<10); err != nil {
		return nil, operational(fmt.Errorf("--previous-log %s: %w", dir, err))
	}
	vkey, err := read("log.vkey", 4<<10)
	if err != nil {
		return nil, operational(fmt.Errorf("--previous-log %s: %w", dir, err))
	}
	p.vkey = strings.TrimSpace(string(vkey))
	for _, e := range rep.Events {
		if w, ok := e.Event.(event.SKRWritten); ok {
			p.skrSHA = w.SHA256
		}
	}
	if c, err := audit.ReadCeremony(os.DirFS(dir), rep); err == nil {
		p.custody = c.State.Custody
		switch {
		case c.State.Reshared != nil:
			if p.roster, err = read("artefacts/sha256/"+c.State.Reshared.Roster.SHA256, 1<<20); err != nil {
				return nil, operational(fmt.Errorf("--previous-log %s: the roster it dealt: %w", dir, err))
			}
		case c.Script.RosterRaw != nil:
			p.roster = c.Script.RosterRaw
		case c.Script.Quorum != nil:
			p.roster, _ = quorum.MarshalRosterFile(c.Script.Quorum)
		}
		if sha := c.State.Backup; sha != "" {
			if p.backup, err = read("artefacts/sha256/"+sha, backup.MaxSize); err != nil {
				return nil, operational(fmt.Errorf("--previous-log %s: the KSK backup on record: %w", dir, err))
			}
		}
	}
	if p.skrSHA != "" {
		if p.skr, err = read("artefacts/sha256/"+p.skrSHA, dnssec.MaxDocumentSize); err != nil {
			return nil, operational(fmt.Errorf("--previous-log %s: the SKR it wrote: %w", dir, err))
		}
	}
	return p, nil
}

// cite writes the citation into a new log's opening entry, with the
// previous checkpoint as an artefact of the new log.
func (p *previousCeremony) cite(open *event.Open, arts []transparency.Artefact) []transparency.Artefact {
	open.PreviousOrigin, open.PreviousVKey, open.PreviousSize, open.PreviousRoot = p.origin, p.vkey, p.size, p.root
	open.PreviousCheckpoint, open.PreviousSKR = dnssec.DigestOf(p.checkpoint).Hex(), p.skrSHA
	arts = append(arts, transparency.Artefact{Name: "previous-checkpoint", Data: p.checkpoint})
	if p.backup != nil {
		// The backup on record goes on with the chain: a recovery restores
		// it from its own log.
		open.Backup = dnssec.DigestOf(p.backup).Hex()
		arts = append(arts, transparency.Artefact{Name: session.BackupName, Data: p.backup})
	}
	return arts
}

// openingRegister is the custody register a new ceremony opens with: the
// previous ceremony's, and the items the script records that it does not
// hold.
func openingRegister(script *ceremony.Script, p *previousCeremony) (map[string]string, error) {
	var prev map[string]string
	if p != nil {
		prev = p.custody
	}
	reg, err := ceremony.OpeningRegister(script, prev)
	if err != nil {
		return nil, badInput(err)
	}
	return reg, nil
}

// previousSKR is the SKR the previous ceremony wrote, parsed, or nil.
func (p *previousCeremony) previousSKR() (*dnssec.Document, error) {
	if p == nil || p.skr == nil {
		return nil, nil
	}
	doc, err := dnssec.ParseAny(p.skr, nil)
	if err != nil {
		return nil, badInput(fmt.Errorf("--previous-log %s: the SKR it wrote: %w", p.dir, err))
	}
	return doc, nil
}
