package hsm

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// PKCS#11 v3.0 values that github.com/miekg/pkcs11 does not name.
const (
	ckkECEdwards            = 0x40
	ckmECEdwardsKeyPairGen  = 0x1055
	ckmEdDSA                = 0x1057
	ed25519PublicKeyOctets  = 32
	ed25519SignatureOctets  = 64
	ed25519MaxMessageOctets = 64 << 10
)

// ed25519Params is CKA_EC_PARAMS for Ed25519: the curve's OID, 1.3.101.112.
var ed25519Params, _ = asn1.Marshal(asn1.ObjectIdentifier{1, 3, 101, 112})

// GenerateEd25519 makes an Ed25519 key pair in the token, its private half
// sensitive and never extractable, and returns the public key. A crypto
// officer's card holds one to cosign the ceremony log; the private key never
// leaves the card.
func (t *PKCS11Token) GenerateEd25519(ctx context.Context, label string) (ed25519.PublicKey, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("generate %q: %w", label, ErrNotLoggedIn)
	}
	for _, class := range []uint{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_PRIVATE_KEY} {
		if _, err := t.find(class, label); err == nil || !errors.Is(err, ErrKeyNotFound) {
			if err == nil {
				err = ErrLabelExists
			}
			return nil, fmt.Errorf("generate %q in token %q: %w", label, t.label, err)
		}
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}
	}
	pub := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519Params))
	priv := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	)
	t.mu.Lock()
	pubObj, privObj, err := t.ctx.GenerateKeyPair(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pub, priv)
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key %q in token %q: %w", label, t.label, mapErr(err))
	}
	key, err := t.Ed25519Public(ctx, label)
	if err != nil {
		t.mu.Lock()
		t.ctx.DestroyObject(t.session, pubObj)
		t.ctx.DestroyObject(t.session, privObj)
		t.mu.Unlock()
		return nil, err
	}
	return key, nil
}

// Ed25519Public reads the public half of the token's Ed25519 key.
func (t *PKCS11Token) Ed25519Public(_ context.Context, label string) (ed25519.PublicKey, error) {
	obj, err := t.find(pkcs11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("token %q, key %q: %w", t.label, label, mapErr(err))
	}
	point := a[0].Value
	var octets []byte
	if rest, err := asn1.Unmarshal(point, &octets); err == nil && len(rest) == 0 {
		point = octets // DER OCTET STRING around the 32 bytes, as PKCS#11 v3.0 says
	}
	if len(point) != ed25519PublicKeyOctets {
		return nil, fmt.Errorf("token %q, key %q: not an Ed25519 public key (%d bytes)", t.label, label, len(point))
	}
	return ed25519.PublicKey(point), nil
}

// SignEd25519 signs msg with the token's Ed25519 key (CKM_EDDSA, pure
// Ed25519). The token must be logged in.
func (t *PKCS11Token) SignEd25519(_ context.Context, label string, msg []byte) ([]byte, error) {
	if len(msg) > ed25519MaxMessageOctets {
		return nil, fmt.Errorf("sign with %q: a message of %d bytes", label, len(msg))
	}
	if !t.LoggedIn() {
		return nil, fmt.Errorf("sign with %q: %w", label, ErrNotLoggedIn)
	}
	priv, err := t.find(pkcs11.CKO_PRIVATE_KEY, label)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ctx.SignInit(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, priv); err != nil {
		return nil, fmt.Errorf("sign with %q: %w", label, mapErr(err))
	}
	sig, err := t.ctx.Sign(t.session, msg)
	if err != nil {
		return nil, fmt.Errorf("sign with %q: %w", label, mapErr(err))
	}
	if len(sig) != ed25519SignatureOctets {
		return nil, fmt.Errorf("sign with %q: the token returned %d bytes for an Ed25519 signature", label, len(sig))
	}
	return sig, nil
}
