package quorum

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/keyceremony/keyceremony/internal/durable"
	"gopkg.in/yaml.v3"
)

// ErrNotRoster: a file read as a roster has no quorum: block.
var ErrNotRoster = errors.New("not a roster: it has no quorum: block")

// rosterFile is a roster as a file: the quorum: block that cards provision
// writes and a script includes.
type rosterFile struct {
	Quorum *Roster `yaml:"quorum"`
}

// ParseRosterFile reads a roster file strictly: unknown or duplicate keys
// are errors (the YAML decoder's, with their lines), and a file with no
// quorum: block is ErrNotRoster. The roster is not validated (Validate).
func ParseRosterFile(data []byte) (*Roster, error) {
	var f rosterFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f.Quorum == nil {
		return nil, ErrNotRoster
	}
	return f.Quorum, nil
}

// MarshalRosterFile writes a roster as a roster file.
func MarshalRosterFile(r *Roster) ([]byte, error) {
	return yaml.Marshal(rosterFile{Quorum: r})
}

// WriteCardFiles writes each card as a passphrase-encrypted card file
// <id>.card in dir, which is made readable by its owner only; no existing
// file is overwritten. It returns the files' paths, in the cards' order.
func WriteCardFiles(dir string, cards []Card, passphrases map[string]string, workFactor int) ([]string, error) {
	if err := durable.MkdirPrivate(dir); err != nil {
		return nil, err
	}
	var paths []string
	for _, c := range cards {
		path := filepath.Join(dir, c.ID+CardFileExt)
		if err := WriteCardFile(path, c, passphrases[c.ID], workFactor); err != nil {
			return paths, fmt.Errorf("%s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// RecoverPIN recovers the secret of a roster from cards just dealt for it
// (their first threshold are presented, as officers would) and derives the
// token's PIN from it, the PIN a quorum of the cards will derive. The
// secret is wiped; the caller wipes the PIN. The cards keep their values.
func RecoverPIN(r *Roster, cards []Card, tokenLabel string) ([]byte, error) {
	col, err := NewCollector(r)
	if err != nil {
		return nil, err
	}
	for _, c := range cards {
		if col.Reached() {
			break
		}
		c.Value = bytes.Clone(c.Value) // a copy is presented: the caller's cards are untouched
		if err := col.Present(c); err != nil {
			col.Wipe()
			return nil, err
		}
	}
	secret, err := col.Recover()
	if err != nil {
		return nil, err
	}
	defer Wipe(secret)
	return DerivePIN(secret, tokenLabel)
}
