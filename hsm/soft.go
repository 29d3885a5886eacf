package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"embed"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"

	"github.com/keyceremony/keyceremony/hsm/backup"
)

// SoftToken is a software token for rehearsals: keys in memory, a PIN checked
// against a stored SHA-256 digest, signing refused until login. It is not a
// place for a real key.
type SoftToken struct {
	label     string
	pinDigest [32]byte

	mu       sync.Mutex
	loggedIn bool
	keys     map[string]crypto.Signer
}

// NewSoftToken makes a software token whose PIN has the given SHA-256 digest.
func NewSoftToken(label string, pinDigest [32]byte, keys map[string]crypto.Signer) *SoftToken {
	return &SoftToken{label: label, pinDigest: pinDigest, keys: keys}
}

func (t *SoftToken) Label() string { return t.label }

func (t *SoftToken) Login(_ context.Context, pin []byte) error {
	d := sha256.Sum256(pin)
	t.mu.Lock()
	defer t.mu.Unlock()
	if subtle.ConstantTimeCompare(d[:], t.pinDigest[:]) != 1 {
		return fmt.Errorf("log in to token %q: %w", t.label, ErrPINIncorrect)
	}
	t.loggedIn = true
	return nil
}

// SetPIN changes the token's PIN while logged in, from old (which must be
// the current one) to new; the software token keeps only its digest.
func (t *SoftToken) SetPIN(_ context.Context, old, new []byte) error {
	d := sha256.Sum256(old)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loggedIn {
		return fmt.Errorf("set the PIN of token %q: %w", t.label, ErrNotLoggedIn)
	}
	if subtle.ConstantTimeCompare(d[:], t.pinDigest[:]) != 1 {
		return fmt.Errorf("set the PIN of token %q: %w", t.label, ErrPINIncorrect)
	}
	t.pinDigest = sha256.Sum256(new)
	return nil
}

func (t *SoftToken) Logout(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loggedIn = false
	return nil
}

func (t *SoftToken) LoggedIn() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loggedIn
}

func (t *SoftToken) Key(_ context.Context, label string) (Key, error) {
	t.mu.Lock()
	s, ok := t.keys[label]
	t.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("token %q, key %q: %w", t.label, label, ErrKeyNotFound)
	}
	return &softKey{t: t, label: label, s: s}, nil
}

// KeyLabels lists the token's key labels.
func (t *SoftToken) KeyLabels(context.Context) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for l := range t.keys {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

type softKey struct {
	t     *SoftToken
	label string
	s     crypto.Signer
}

func (k *softKey) Label() string            { return k.label }
func (k *softKey) Public() crypto.PublicKey { return k.s.Public() }

// Sign signs a digest. Signing must not need randomness (RSA PKCS #1 v1.5 is
// deterministic), so the reader given is replaced by one that fails if used.
func (k *softKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if !k.t.LoggedIn() {
		return nil, fmt.Errorf("sign with %q: %w", k.label, ErrNotLoggedIn)
	}
	if _, ok := k.s.(*ecdsa.PrivateKey); ok {
		// ECDSA needs a nonce: the token draws it itself, as an HSM does.
		return k.s.Sign(rand.Reader, digest, opts)
	}
	return k.s.Sign(noRandom{}, digest, opts)
}

// Generator is a token that generates KSKs (a key-generation ceremony).
type Generator interface {
	GenerateKSK(ctx context.Context, spec KeySpec) (Key, error)
}

// GenerateKSK makes a key in the software token, for rehearsals of a
// key-generation ceremony: RSA (2048 bits unless told, exponent 65537) or
// ECDSA P-256. A label in use is refused; the token must be logged in.
func (t *SoftToken) GenerateKSK(ctx context.Context, spec KeySpec) (Key, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("generate %q: %w", spec.Label, ErrNotLoggedIn)
	}
	t.mu.Lock()
	_, exists := t.keys[spec.Label]
	t.mu.Unlock()
	if exists {
		return nil, fmt.Errorf("token %q, key %q: %w", t.label, spec.Label, ErrLabelExists)
	}
	var priv crypto.Signer
	var err error
	switch spec.Algorithm {
	case 8:
		bits := spec.Bits
		if bits == 0 {
			bits = 2048
		}
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	case 13:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("generate %q: algorithm %d (want 8 or 13)", spec.Label, spec.Algorithm)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.keys[spec.Label] = priv
	t.mu.Unlock()
	return t.Key(ctx, spec.Label)
}

// noRandom fails if a signature ever asks for randomness.
type noRandom struct{}

func (noRandom) Read([]byte) (int, error) {
	return 0, errors.New("signing asked for randomness; deterministic signatures expected")
}

//go:embed assets/*.key
var rehearsalKeys embed.FS

// RehearsalKey is a private key file the command carries for rehearsals,
// by the name a profile gives it: demo-ksk1.key, IANA's public test KSK1
// (tag 5017, never for a real zone).
func RehearsalKey(name string) ([]byte, bool) {
	b, err := rehearsalKeys.ReadFile("assets/" + name)
	return b, err == nil && name == path.Base(name)
}

// SoftTokenOf makes a software token holding PEM private keys (PKCS #1 or
// PKCS #8, RSA or ECDSA), by label, that opens with the PIN whose SHA-256
// is pinDigest.
func SoftTokenOf(label string, pems map[string][]byte, pinDigest [32]byte) (*SoftToken, error) {
	keys := map[string]crypto.Signer{}
	for l, b := range pems {
		k, err := parsePEMKey(b)
		if err != nil {
			return nil, fmt.Errorf("software token %q: key %s: %v", label, l, err)
		}
		keys[l] = k
	}
	return NewSoftToken(label, pinDigest, keys), nil
}

// parsePEMKey reads a PEM private key: PKCS #1, PKCS #8 or SEC 1, RSA or
// ECDSA.
func parsePEMKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("holds no PEM block")
	}
	var k any
	var err error
	if k, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
		if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
			if k, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
				return nil, errors.New("is not an RSA or ECDSA private key")
			}
		}
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("is not a signing key")
	}
	return s, nil
}

// LoadSoftToken makes a software token from PEM private keys (PKCS #1 or
// PKCS #8, RSA or ECDSA), named by label. It has no PIN: a software token is
// for rehearsals and tests, and its keys are only as safe as their files.
func LoadSoftToken(label string, files map[string]string) (*SoftToken, error) {
	pems := map[string][]byte{}
	for l, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("software token %q: key %s: %w", label, l, err)
		}
		if _, err := parsePEMKey(b); err != nil {
			return nil, fmt.Errorf("software token %q: key %s: %s %v", label, l, path, err)
		}
		pems[l] = b
	}
	return SoftTokenOf(label, pems, sha256.Sum256(nil))
}

// WrapKSK wraps a software key's private half under the storage master
// key, as a token does (RFC 5649 over PKCS#8): the rehearsal's backup.
func (t *SoftToken) WrapKSK(ctx context.Context, label string, smk []byte) ([]byte, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("back up %q: %w", label, ErrNotLoggedIn)
	}
	t.mu.Lock()
	k, ok := t.keys[label]
	t.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("token %q, key %q: %w", t.label, label, ErrKeyNotFound)
	}
	return backup.WrapPKCS8(smk, k)
}

// UnwrapKSK restores a wrapped key into the software token.
func (t *SoftToken) UnwrapKSK(ctx context.Context, label string, smk, wrapped []byte, pub crypto.PublicKey, _ bool) (Key, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("restore %q: %w", label, ErrNotLoggedIn)
	}
	t.mu.Lock()
	_, exists := t.keys[label]
	t.mu.Unlock()
	if exists {
		return nil, fmt.Errorf("restore %q in token %q: %w", label, t.label, ErrLabelExists)
	}
	s, err := backup.UnwrapPKCS8(smk, wrapped)
	if err != nil {
		return nil, fmt.Errorf("restore %q in token %q: %w", label, t.label, err)
	}
	if !SamePublic(s.Public(), pub) {
		return nil, fmt.Errorf("restore %q in token %q: the restored private half does not match the public key on record: the backup is another key's", label, t.label)
	}
	t.mu.Lock()
	t.keys[label] = s
	t.mu.Unlock()
	return t.Key(ctx, label)
}
