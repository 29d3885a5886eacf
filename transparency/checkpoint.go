package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a parsed, signature-checked C2SP tlog-checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   Hash
	// Note is the whole signed note, as stored.
	Note []byte
}

// ErrCheckpoint reports a checkpoint that does not parse or is not signed by
// the expected key.
var ErrCheckpoint = errors.New("bad checkpoint")

// ParseCheckpointBody parses the text of a checkpoint note (origin, size, root).
// Extension lines are refused: this log never writes them and monitors cannot
// audit them.
func ParseCheckpointBody(text string) (origin string, size uint64, root Hash, err error) {
	if !strings.HasSuffix(text, "\n") {
		return "", 0, Hash{}, fmt.Errorf("%w: body does not end in a newline", ErrCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 {
		return "", 0, Hash{}, fmt.Errorf("%w: body has %d lines, want 3 (origin, size, root)", ErrCheckpoint, len(lines))
	}
	origin = lines[0]
	if origin == "" || strings.TrimSpace(origin) != origin {
		return "", 0, Hash{}, fmt.Errorf("%w: empty or padded origin line", ErrCheckpoint)
	}
	if lines[1] != "0" && strings.HasPrefix(lines[1], "0") {
		return "", 0, Hash{}, fmt.Errorf("%w: size %q has leading zeros", ErrCheckpoint, lines[1])
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size >= 1<<62 {
		return "", 0, Hash{}, fmt.Errorf("%w: size %q is not a decimal tree size", ErrCheckpoint, lines[1])
	}
	r, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(r) != len(root) || base64.StdEncoding.EncodeToString(r) != lines[2] {
		return "", 0, Hash{}, fmt.Errorf("%w: root %q is not base64 of 32 bytes", ErrCheckpoint, lines[2])
	}
	copy(root[:], r)
	return origin, size, root, nil
}

// FormatCheckpointBody is the inverse of ParseCheckpointBody.
func FormatCheckpointBody(origin string, size uint64, root Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// OpenCheckpoint checks that data is a checkpoint note signed by v for the
// given origin (any origin when origin is ""). Signatures by other keys, such
// as witness cosignatures, are ignored here.
func OpenCheckpoint(data []byte, v note.Verifier, origin string) (*Checkpoint, error) {
	if len(data) > 64<<10 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCheckpoint, len(data))
	}
	if err := canonicalSignatures(data, v); err != nil {
		return nil, err
	}
	n, err := note.Open(data, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("%w: not signed by %s", ErrCheckpoint, v.Name())
		}
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	o, size, root, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	if origin != "" && o != origin {
		return nil, fmt.Errorf("%w: origin %q, want %q", ErrCheckpoint, o, origin)
	}
	return &Checkpoint{Origin: o, Size: size, Root: root, Note: bytes.Clone(data)}, nil
}

// RootHex returns the root as lowercase hex.
func (c *Checkpoint) RootHex() string { return hex.EncodeToString(c.Root[:]) }

// IsRehearsal reports whether an origin names a rehearsal log. A rehearsal log's
// origin ends in "/rehearsal", so its checkpoints can never pass for a real
// ceremony's, whose origin an auditor pins.
func IsRehearsal(origin string) bool { return strings.HasSuffix(origin, "/rehearsal") }

// KeyFingerprint is the SHA-256 of a verifier key's text, in hex, so that a
// person can compare the key a verifier used with the one announced.
func KeyFingerprint(vkey string) string {
	d := sha256.Sum256([]byte(strings.TrimSpace(vkey)))
	return hex.EncodeToString(d[:])
}

// canonicalSignatures refuses signature lines whose base64 is not canonical
// (non-zero padding bits decode to the same signature, so a note could be
// altered without touching any signature's meaning), and a note with more than
// one line by the log's key (note.Open checks only the first of them).
func canonicalSignatures(data []byte, v note.Verifier) error {
	byLog := 0
	text, lines := SplitNote(data)
	if text == nil {
		return fmt.Errorf("%w: no signature block", ErrCheckpoint)
	}
	for _, l := range lines {
		switch {
		case l.Name == "":
			return fmt.Errorf("%w: malformed signature line %q", ErrCheckpoint, l.Base64)
		case !l.Canonical:
			return fmt.Errorf("%w: signature by %s is not canonical base64", ErrCheckpoint, l.Name)
		case !l.Malformed && l.Name == v.Name() && l.Hash == v.KeyHash():
			byLog++
		}
	}
	if byLog > 1 {
		return fmt.Errorf("%w: %d signature lines by %s, want one", ErrCheckpoint, byLog, v.Name())
	}
	return nil
}
