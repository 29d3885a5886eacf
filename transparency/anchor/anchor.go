// Package anchor anchors a ceremony log's checkpoints in Sigstore's Rekor
// (v1): the SHA-256 of a signed checkpoint goes in as a hashedrekord entry,
// signed with an ECDSA P-256 anchoring key, and Rekor's answer (the entry,
// its inclusion proof and signed entry timestamp) is kept beside the log, to
// be checked offline against Rekor's public key. It is kept out of the core
// log and the verifier's default path: only `anchor rekor` and `verify
// --rekor-key` use it.
package anchor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Anchor is one checkpoint anchored in Rekor, as stored in
// anchors/<size>.json.
type Anchor struct {
	Size             uint64 `json:"size"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	Rekor            string `json:"rekor"`
	UUID             string `json:"uuid"`
	// Entry is Rekor's LogEntryAnon: body, integratedTime, logID, logIndex,
	// and verification (inclusion proof, signed entry timestamp).
	Entry json.RawMessage `json:"entry"`
}

// Submit anchors a signed checkpoint of the given size in the Rekor v1 log at
// url: a hashedrekord of its SHA-256, signed by key.
func Submit(ctx context.Context, url string, size uint64, checkpoint []byte, key *ecdsa.PrivateKey) (*Anchor, error) {
	digest := sha256.Sum256(checkpoint)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	rc, err := client.GetRekorClient(url, client.WithRetryCount(2))
	if err != nil {
		return nil, err
	}
	entry := &models.Hashedrekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.HashedrekordV001Schema{
		Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{
			Algorithm: conv.Pointer(models.HashedrekordV001SchemaDataHashAlgorithmSha256), Value: conv.Pointer(hex.EncodeToString(digest[:]))}},
		Signature: &models.HashedrekordV001SchemaSignature{Content: strfmt.Base64(sig),
			PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: strfmt.Base64(pubPEM)}},
	}}
	resp, err := rc.Entries.CreateLogEntryContext(ctx, entries.NewCreateLogEntryParams().WithProposedEntry(entry))
	if err != nil {
		return nil, fmt.Errorf("rekor %s: %w", url, err)
	}
	for uuid, e := range resp.Payload {
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		return &Anchor{Size: size, CheckpointSHA256: hex.EncodeToString(digest[:]), Rekor: url, UUID: uuid, Entry: raw}, nil
	}
	return nil, fmt.Errorf("rekor %s: no entry in the answer", url)
}

// Checked is what an anchor, checked, establishes.
type Checked struct {
	// KeyPEM is the anchoring key (PEM), KeySHA256 the SHA-256 of its
	// PKIX encoding in hex: what a log's opening entry announces.
	KeyPEM    []byte
	KeySHA256 string
	// LogIndex is the entry's index in Rekor, Integrated the time Rekor
	// says it integrated it (in its signed entry timestamp).
	LogIndex   int64
	Integrated time.Time
}

// KeySHA256 is the SHA-256 of a public key's PKIX (DER) encoding, in hex:
// how an anchoring key is named in a log and on the command line.
func KeySHA256(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// Check verifies an anchor offline: Rekor's signed entry timestamp and the
// inclusion proof against its checkpoint (both by rekorKey), the entry's
// digest against the SHA-256 of what was anchored (a checkpoint as the
// log signed it, transparency.LogSigned), and the anchoring key's
// signature over it.
func Check(ctx context.Context, a *Anchor, checkpoint []byte, rekorKey crypto.PublicKey) (*Checked, error) {
	var e models.LogEntryAnon
	if err := json.Unmarshal(a.Entry, &e); err != nil {
		return nil, fmt.Errorf("the stored entry: %w", err)
	}
	v, err := signature.LoadVerifier(rekorKey, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if err := verify.VerifyLogEntry(ctx, &e, v); err != nil {
		return nil, fmt.Errorf("the proof from Rekor: %w", err)
	}
	digest := sha256.Sum256(checkpoint)
	body, ok := e.Body.(string)
	if !ok {
		return nil, errors.New("the entry has no body")
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, err
	}
	var rec struct {
		Kind string `json:"kind"`
		Spec struct {
			Data struct {
				Hash struct {
					Algorithm string `json:"algorithm"`
					Value     string `json:"value"`
				} `json:"hash"`
			} `json:"data"`
			Signature struct {
				Content   []byte `json:"content"`
				PublicKey struct {
					Content []byte `json:"content"`
				} `json:"publicKey"`
			} `json:"signature"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil || rec.Kind != "hashedrekord" {
		return nil, fmt.Errorf("the entry is not a hashedrekord (%v)", err)
	}
	if rec.Spec.Data.Hash.Algorithm != "sha256" || rec.Spec.Data.Hash.Value != hex.EncodeToString(digest[:]) {
		return nil, fmt.Errorf("the entry in Rekor holds digest %s, the checkpoint's SHA-256 is %x", rec.Spec.Data.Hash.Value, digest)
	}
	block, _ := pem.Decode(rec.Spec.Signature.PublicKey.Content)
	if block == nil {
		return nil, errors.New("the entry's public key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() || !ecdsa.VerifyASN1(ec, digest[:], rec.Spec.Signature.Content) {
		return nil, errors.New("the anchoring signature does not verify")
	}
	keySHA, err := KeySHA256(ec)
	if err != nil {
		return nil, err
	}
	return &Checked{KeyPEM: rec.Spec.Signature.PublicKey.Content, KeySHA256: keySHA, LogIndex: conv.Value(e.LogIndex),
		Integrated: time.Unix(conv.Value(e.IntegratedTime), 0).UTC()}, nil
}

// LoadOrCreateKey reads a PEM ECDSA P-256 private key, or makes one at path
// (mode 0600) when there is none; created says which.
func LoadOrCreateKey(path string, read func(string) ([]byte, error), write func(string, []byte) error) (key *ecdsa.PrivateKey, created bool, err error) {
	if b, err := read(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, false, fmt.Errorf("%s: not PEM", path)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			pk, perr := x509.ParsePKCS8PrivateKey(block.Bytes)
			var ok bool
			if k, ok = pk.(*ecdsa.PrivateKey); perr != nil || !ok {
				return nil, false, fmt.Errorf("%s: not an ECDSA private key", path)
			}
		}
		if k.Curve != elliptic.P256() {
			return nil, false, fmt.Errorf("%s: not a P-256 key", path)
		}
		return k, false, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, false, err
	}
	if err := write(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// ParsePublicKey reads a PEM public key (Rekor's, from /api/v1/log/publicKey).
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}
