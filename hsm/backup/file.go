package backup

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Format names the format of a KSK backup file.
const Format = "keyceremony-ksk-backup/1"

// MaxSize bounds a backup file read from a log or a folder.
const MaxSize = 1 << 20

// File is what a KSK backup holds: each key's public half and its private
// half wrapped under a storage master key, that key's check value, and the
// roster of the recovery key share holders whose cards rebuild it. Alone
// it is useless: the storage master key is in no file.
type File struct {
	Format    string `json:"format"`
	Mechanism string `json:"mechanism"`
	// SMKCheck is the storage master key's check value (CheckValue).
	SMKCheck string `json:"smk_check"`
	// Token is the label of the token the keys were wrapped in.
	Token string `json:"token"`
	// Roster is the recovery key share holders' roster file, as written.
	Roster string `json:"recovery_roster"`
	Keys   []Key  `json:"keys"`
}

// Key is one key of a backup.
type Key struct {
	Label string `json:"label"`
	// Public is the public half, PKIX DER.
	Public []byte `json:"public"`
	// Wrapped is the private half, wrapped (File.Mechanism).
	Wrapped []byte `json:"wrapped"`
}

var backupLabelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Marshal writes the backup file.
func (b *File) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ErrFile: a file is not a KSK backup this version reads.
var ErrFile = errors.New("not a KSK backup")

// Parse reads a backup file strictly.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFile, len(data), MaxSize)
	}
	var b File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFile, err)
	}
	switch {
	case b.Format != Format:
		return nil, fmt.Errorf("%w: format %q, want %s", ErrFile, b.Format, Format)
	case b.Mechanism != Mechanism:
		return nil, fmt.Errorf("%w: mechanism %q, want %s", ErrFile, b.Mechanism, Mechanism)
	case len(b.SMKCheck) != 6:
		return nil, fmt.Errorf("%w: no storage master key check value", ErrFile)
	case len(b.Keys) == 0:
		return nil, fmt.Errorf("%w: it holds no key", ErrFile)
	case b.Roster == "":
		return nil, fmt.Errorf("%w: it names no recovery key share holders", ErrFile)
	}
	seen := map[string]bool{}
	for _, k := range b.Keys {
		if !backupLabelRE.MatchString(k.Label) || seen[k.Label] {
			return nil, fmt.Errorf("%w: key label %q is not a plain label used once", ErrFile, k.Label)
		}
		seen[k.Label] = true
		if _, err := k.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: key %s: %v", ErrFile, k.Label, err)
		}
		if len(k.Wrapped) < 16 || len(k.Wrapped)%8 != 0 {
			return nil, fmt.Errorf("%w: key %s: %d wrapped bytes is not a wrapped key", ErrFile, k.Label, len(k.Wrapped))
		}
	}
	return &b, nil
}

// PublicKey is the key's public half.
func (k Key) PublicKey() (crypto.PublicKey, error) {
	return x509.ParsePKIXPublicKey(k.Public)
}
