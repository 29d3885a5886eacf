package hsm

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// BackupFormat names the format of a KSK backup file.
const BackupFormat = "keyceremony-ksk-backup/1"

// MaxBackupSize bounds a backup file read from a log or a folder.
const MaxBackupSize = 1 << 20

// Backup is what a KSK backup holds: each key's public half and its private
// half wrapped under a storage master key, that key's check value, and the
// roster of the recovery key share holders whose cards rebuild it. Alone
// it is useless: the storage master key is in no file.
type Backup struct {
	Format    string `json:"format"`
	Mechanism string `json:"mechanism"`
	// SMKCheck is the storage master key's check value (CheckValue).
	SMKCheck string `json:"smk_check"`
	// Token is the label of the token the keys were wrapped in.
	Token string `json:"token"`
	// Roster is the recovery key share holders' roster file, as written.
	Roster string      `json:"recovery_roster"`
	Keys   []BackupKey `json:"keys"`
}

// BackupKey is one key of a backup.
type BackupKey struct {
	Label string `json:"label"`
	// Public is the public half, PKIX DER.
	Public []byte `json:"public"`
	// Wrapped is the private half, wrapped (Backup.Mechanism).
	Wrapped []byte `json:"wrapped"`
}

var backupLabelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Marshal writes the backup file.
func (b *Backup) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ErrBackup: a file is not a KSK backup this version reads.
var ErrBackup = errors.New("not a KSK backup")

// ParseBackup reads a backup file strictly.
func ParseBackup(data []byte) (*Backup, error) {
	if len(data) > MaxBackupSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBackup, len(data), MaxBackupSize)
	}
	var b Backup
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackup, err)
	}
	switch {
	case b.Format != BackupFormat:
		return nil, fmt.Errorf("%w: format %q, want %s", ErrBackup, b.Format, BackupFormat)
	case b.Mechanism != BackupMechanism:
		return nil, fmt.Errorf("%w: mechanism %q, want %s", ErrBackup, b.Mechanism, BackupMechanism)
	case len(b.SMKCheck) != 6:
		return nil, fmt.Errorf("%w: no storage master key check value", ErrBackup)
	case len(b.Keys) == 0:
		return nil, fmt.Errorf("%w: it holds no key", ErrBackup)
	case b.Roster == "":
		return nil, fmt.Errorf("%w: it names no recovery key share holders", ErrBackup)
	}
	seen := map[string]bool{}
	for _, k := range b.Keys {
		if !backupLabelRE.MatchString(k.Label) || seen[k.Label] {
			return nil, fmt.Errorf("%w: key label %q is not a plain label used once", ErrBackup, k.Label)
		}
		seen[k.Label] = true
		if _, err := k.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: key %s: %v", ErrBackup, k.Label, err)
		}
		if len(k.Wrapped) < 16 || len(k.Wrapped)%8 != 0 {
			return nil, fmt.Errorf("%w: key %s: %d wrapped bytes is not a wrapped key", ErrBackup, k.Label, len(k.Wrapped))
		}
	}
	return &b, nil
}

// PublicKey is the key's public half.
func (k BackupKey) PublicKey() (crypto.PublicKey, error) {
	return x509.ParsePKIXPublicKey(k.Public)
}
