package transparency

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/keyceremony/keyceremony/internal/durable"

	"golang.org/x/mod/sumdb/note"
)

// GenerateKey makes a new Ed25519 checkpoint key for a log with the given
// origin. The key name is the origin, as C2SP tlog-checkpoint expects.
func GenerateKey(origin string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}

// WriteKeyFile stores a private note key in a new file readable only by its
// owner. It refuses to overwrite an existing file.
func WriteKeyFile(path, skey string) error {
	if err := durable.WriteFile(path, []byte(skey+"\n"), 0o600, durable.New); err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	return nil
}

// Key is a log's checkpoint signing key together with its public verifier key.
type Key struct {
	Signer note.Signer
	VKey   string // name+hash+base64(type||pubkey), as in log.vkey
}

// ParseKey parses a private note key (PRIVATE+KEY+name+hash+base64) and derives
// its verifier key. Only Ed25519 keys are accepted.
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("not a note signing key: %w", err)
	}
	// PRIVATE+KEY+name+hash+base64(alg||seed); the base64 may itself hold '+'.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, fmt.Errorf("not an Ed25519 note signing key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: s, VKey: vkey}, nil
}

// LoadKey reads a private note key written by WriteKeyFile.
func LoadKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read log key: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return k, nil
}

func noteVerifier(vkey string) (note.Verifier, error) { return note.NewVerifier(vkey) }
