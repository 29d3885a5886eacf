package transparency

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Officers cosign the log: at fixed points the crypto officers present sign
// a checkpoint with the personal Ed25519 key their card carries, in the C2SP
// tlog-cosignature format (cosignature/v1, with a timestamp). Each
// cosignature is one more signature line of the checkpoint note, stored with
// the checkpoint under checkpoints/<size>; the final one is also published
// as the log's checkpoint when the log closes.

// Ed25519Signer is a key that signs with pure Ed25519: an officer's card.
type Ed25519Signer interface {
	Public() ed25519.PublicKey
	SignEd25519(msg []byte) ([]byte, error)
}

// cosigner is a note.Signer of cosignature/v1 signatures by a card's key.
type cosigner struct {
	v   note.Verifier // formats/note's verifier for the roster's key
	key Ed25519Signer
	now func() time.Time
}

// NewCosigner returns a note.Signer that cosigns checkpoints with key, under
// the cosignature/v1 verifier key vkey the roster lists for it. now stamps
// the cosignature (nil: time.Now). Every signature it makes is checked with
// formats/note's cosignature/v1 verifier before it is returned, so a card
// whose key is not the roster's, or any slip in the signed message, fails
// at once instead of storing a cosignature no one can verify.
func NewCosigner(vkey string, key Ed25519Signer, now func() time.Time) (note.Signer, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("cosigning key %q: %v", vkey, err)
	}
	if now == nil {
		now = time.Now
	}
	return &cosigner{v: v, key: key, now: now}, nil
}

func (c *cosigner) Name() string    { return c.v.Name() }
func (c *cosigner) KeyHash() uint32 { return c.v.KeyHash() }

// Sign signs "cosignature/v1\ntime T\n" followed by the checkpoint body, as
// C2SP tlog-cosignature specifies, and returns T ‖ signature.
func (c *cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.now().Unix())
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	sig, err := c.key.SignEd25519(m)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(nil, t)
	out = append(out, sig...)
	if !c.v.Verify(msg, out) {
		return nil, fmt.Errorf("the cosignature by %s does not verify with the roster's key: is this the officer's own card?", c.v.Name())
	}
	return out, nil
}

// ErrCosignerFailed wraps a cosigner's own failure (a card pulled, a key
// that is not the roster's), as against the log's storage failing.
var ErrCosignerFailed = errors.New("the cosigner failed")

// ErrNotArchived: no checkpoint of that size was archived.
var ErrNotArchived = errors.New("no archived checkpoint of that size")

// Cosign adds the signers' cosignatures to the archived checkpoint of the
// given size (checkpoints/<size>), durably, and returns the names of those
// who signed. A signer whose line is already there is not asked again. The
// checkpoint must be the log's own; nothing is written if a signer fails
// (the error names it, and the others' lines are not kept either).
func (l *Log) Cosign(size uint64, signers []note.Signer) ([]string, error) {
	path := filepath.Join(l.dir, checkpointsDir, strconv.FormatUint(size, 10))
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cosign checkpoint %d: %w", size, ErrNotArchived)
	}
	if err != nil {
		return nil, err
	}
	nv, err := noteVerifier(l.key.VKey)
	if err != nil {
		return nil, err
	}
	cp, err := OpenCheckpoint(data, nv, l.origin)
	if err != nil || cp.Size != size {
		return nil, fmt.Errorf("cosign checkpoint %d: the archived checkpoint is not the log's (%v)", size, err)
	}
	body, _ := SplitNote(data)
	var lines []byte
	var names []string
	for _, s := range signers {
		if hasSignatureLine(data, s.Name(), s.KeyHash()) {
			names = append(names, s.Name())
			continue
		}
		sig, err := s.Sign(body)
		if err != nil {
			return nil, fmt.Errorf("cosign checkpoint %d: %s: %w: %v", size, s.Name(), ErrCosignerFailed, err)
		}
		lines = append(lines, signatureLine(s.Name(), s.KeyHash(), sig)...)
		names = append(names, s.Name())
	}
	if len(lines) == 0 {
		return names, nil
	}
	out := append(bytes.Clone(data), lines...)
	if err := writeDurable(l.disk, path, out, false); err != nil {
		return nil, fmt.Errorf("store the cosignatures of checkpoint %d: %w", size, err)
	}
	return names, nil
}

// signatureLine is one signed-note signature line.
func signatureLine(name string, hash uint32, sig []byte) []byte {
	raw := binary.BigEndian.AppendUint32(nil, hash)
	return []byte("\u2014 " + name + " " + base64.StdEncoding.EncodeToString(append(raw, sig...)) + "\n")
}

// SignatureLine is one signature line of a signed note: "— name base64",
// the base64 holding a 4-byte key hash and the signature. A line that is
// not of that form has no Name and keeps its text in Base64. Malformed is
// set when the base64 does not decode to at least a key hash; Canonical
// when it is base64 in its one canonical form.
type SignatureLine struct {
	Name      string
	Hash      uint32
	Sig       []byte
	Base64    string
	Malformed bool
	Canonical bool
}

// SplitNote splits a signed note into its text (ending in a newline) and
// its signature lines, as note.Open does: at the last blank line. It is the
// one parser of signature lines, for the log's checkpoints and the
// officers' cosignatures; signatureLine is the one formatter.
func SplitNote(data []byte) (text []byte, lines []SignatureLine) {
	i := bytes.LastIndex(data, []byte("\n\n"))
	if i < 0 {
		return nil, nil
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(data[i+2:]), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || name == "" {
			lines = append(lines, SignatureLine{Base64: line, Malformed: true})
			continue
		}
		l := SignatureLine{Name: name, Base64: b64}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		l.Canonical = err == nil
		if err != nil {
			raw, err = base64.StdEncoding.DecodeString(b64)
		}
		if err != nil || len(raw) < 4 {
			l.Malformed = true
		} else {
			l.Hash, l.Sig = binary.BigEndian.Uint32(raw), raw[4:]
		}
		lines = append(lines, l)
	}
	return data[:i+1], lines
}

// hasSignatureLine reports whether a signed note holds a line by the key
// with that name and hash.
func hasSignatureLine(data []byte, name string, hash uint32) bool {
	_, lines := SplitNote(data)
	for _, l := range lines {
		if !l.Malformed && l.Name == name && l.Hash == hash {
			return true
		}
	}
	return false
}

// publishCosigned makes the published checkpoint carry the cosignatures
// archived with it: once the log is stopped, so that nothing else writes the
// checkpoint file meanwhile.
func (l *Log) publishCosigned() error {
	pub := filepath.Join(l.dir, checkpointFile)
	data, err := os.ReadFile(pub)
	if err != nil {
		return nil
	}
	nv, err := noteVerifier(l.key.VKey)
	if err != nil {
		return err
	}
	cp, err := OpenCheckpoint(data, nv, l.origin)
	if err != nil {
		return nil
	}
	arch, err := os.ReadFile(filepath.Join(l.dir, checkpointsDir, strconv.FormatUint(cp.Size, 10)))
	if err != nil {
		return nil
	}
	body, _, _ := bytes.Cut(data, []byte("\n\n"))
	abody, asigs, ok := bytes.Cut(arch, []byte("\n\n"))
	if !ok || !bytes.Equal(body, abody) {
		return nil
	}
	out := bytes.Clone(data)
	_, psigs, _ := bytes.Cut(data, []byte("\n\n"))
	for _, line := range strings.SplitAfter(string(asigs), "\n") {
		if line == "" || strings.Contains(string(psigs), line) {
			continue
		}
		out = append(out, line...)
	}
	if len(out) == len(data) {
		return nil
	}
	return writeDurable(l.disk, pub, out, false)
}

// LogSigned is a checkpoint note as the log first signed it: its text and
// the log key's signature line, without the cosignatures that officers and
// witnesses add to it later. What is anchored outside the log (Rekor) is
// this, so that an anchor survives the lines added after it. vkey is the
// log key.
func LogSigned(data []byte, vkey string) ([]byte, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	text, lines := SplitNote(data)
	if text == nil {
		return nil, errors.New("not a signed note")
	}
	out := append(bytes.Clone(text), '\n')
	n := 0
	for _, l := range lines {
		if !l.Malformed && l.Canonical && l.Name == v.Name() && l.Hash == v.KeyHash() {
			out = append(out, signatureLine(l.Name, l.Hash, l.Sig)...)
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("the note carries %d signature lines by the log key %s, not one", n, v.Name())
	}
	return out, nil
}
