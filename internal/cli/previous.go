package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
)

// previousCeremony is the ceremony a new one follows (--previous-log DIR):
// what it carries over (session.Previous), and its folder, beside which a
// rehearsal finds the cards it dealt.
type previousCeremony struct {
	dir string
	*session.Previous
}

// readPrevious verifies the log of the ceremony this one follows, which
// must be closed, and reads what the new ceremony cites and carries over.
func readPrevious(dir string) (*previousCeremony, error) {
	p, err := session.ReadPrevious(os.DirFS(dir))
	switch {
	case errors.Is(err, session.ErrPreviousUnreadable):
		return nil, usageErr("--previous-log %s: %v", dir, err)
	case errors.Is(err, session.ErrPreviousUnverified):
		return nil, badInput(fmt.Errorf("--previous-log %s: %v; a ceremony follows only a verified, closed one: check it with keyceremony verify %s", dir, err, dir))
	case err != nil:
		return nil, operational(fmt.Errorf("--previous-log %s: %w", dir, err))
	}
	return &previousCeremony{dir: dir, Previous: p}, nil
}

// carried is what the new ceremony carries over, nil when it follows none.
func (p *previousCeremony) carried() *session.Previous {
	if p == nil {
		return nil
	}
	return p.Previous
}

// previousSKR is the SKR the previous ceremony wrote, parsed, or nil.
func (p *previousCeremony) previousSKR() (*dnssec.Document, error) {
	doc, err := p.carried().PreviousSKR()
	if err != nil {
		return nil, badInput(fmt.Errorf("--previous-log %s: %w", p.dir, err))
	}
	return doc, nil
}
