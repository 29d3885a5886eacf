package hsm

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ErrLabelExists: the token already holds a key with the label asked for;
// key generation never replaces or duplicates a key.
var ErrLabelExists = errors.New("a key with this label already exists")

// KeySpec says what KSK to generate.
type KeySpec struct {
	Label string
	// Algorithm is the DNSSEC algorithm: 8 (RSA/SHA-256) or 13 (ECDSA
	// P-256/SHA-256).
	Algorithm uint8
	// Bits is the RSA modulus size (2048 when zero); ignored for ECDSA.
	Bits int
	// Extractable makes a key that can be wrapped for a backup HSM; by
	// default the private key is sensitive and never leaves the token.
	Extractable bool
}

// p256OID is the DER of the P-256 curve's object identifier (CKA_EC_PARAMS).
var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// GenerateKSK makes a key pair in the token: persistent, private, sensitive,
// never extractable unless the spec asks for a backup-capable key, with a
// random 16-byte CKA_ID shared by both halves. A label already in use is
// refused. The token must be logged in.
func (t *PKCS11Token) GenerateKSK(ctx context.Context, spec KeySpec) (Key, error) {
	if spec.Label == "" {
		return nil, errors.New("generate a key: give it a label")
	}
	if !t.LoggedIn() {
		return nil, fmt.Errorf("generate %q: %w", spec.Label, ErrNotLoggedIn)
	}
	for _, class := range []uint{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_PRIVATE_KEY} {
		if _, err := t.find(class, spec.Label); err == nil || !errors.Is(err, ErrKeyNotFound) {
			if err == nil {
				err = ErrLabelExists
			}
			return nil, fmt.Errorf("generate %q in token %q: %w", spec.Label, t.label, err)
		}
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}
	}
	// A KSK's public half only verifies, and its private half only signs:
	// every other use a token may default to is turned off.
	pub := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY_RECOVER, false), pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false))
	priv := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, spec.Extractable),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN_RECOVER, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	)
	var mech *pkcs11.Mechanism
	switch spec.Algorithm {
	case 8:
		bits := spec.Bits
		if bits == 0 {
			bits = 2048
		}
		if bits < 2048 || bits > 4096 || bits%8 != 0 {
			return nil, fmt.Errorf("generate %q: an RSA KSK of %d bits (want 2048 to 4096)", spec.Label, bits)
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)
		pub = append(pub, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
	case 13:
		mech = pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)
		pub = append(pub, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	default:
		return nil, fmt.Errorf("generate %q: DNSSEC algorithm %d (want 8, RSA/SHA-256, or 13, ECDSA P-256)", spec.Label, spec.Algorithm)
	}
	t.mu.Lock()
	pubObj, privObj, err := t.ctx.GenerateKeyPair(t.session, []*pkcs11.Mechanism{mech}, pub, priv)
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("generate %q in token %q: %w", spec.Label, t.label, mapErr(err))
	}
	key, err := t.Key(ctx, spec.Label)
	if err != nil {
		// Do not leave a half-usable pair behind.
		t.mu.Lock()
		t.ctx.DestroyObject(t.session, pubObj)
		t.ctx.DestroyObject(t.session, privObj)
		t.mu.Unlock()
		return nil, fmt.Errorf("generate %q in token %q: reading the new key back: %w", spec.Label, t.label, err)
	}
	return key, nil
}

// PrivateAttributes reports how the token holds a key's private half:
// whether it is sensitive and whether it can ever leave the token.
func (t *PKCS11Token) PrivateAttributes(label string) (sensitive, extractable, neverExtractable bool, err error) {
	obj, err := t.find(pkcs11.CKO_PRIVATE_KEY, label)
	if err != nil {
		return false, false, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
	})
	if err != nil {
		return false, false, false, mapErr(err)
	}
	b := func(v []byte) bool { return len(v) == 1 && v[0] != 0 }
	return b(a[0].Value), b(a[1].Value), b(a[2].Value), nil
}

// KeyUses are what a token allows a key pair to do, as its attributes say.
type KeyUses struct {
	// The public half: a KSK's only verifies.
	Verify, Encrypt, Wrap, VerifyRecover, Derive bool
	// The private half: a KSK's only signs, is sensitive, and is never
	// extractable unless the profile backs its keys up. PrivateRead says
	// whether it could be read: a token shows private objects only once
	// logged in.
	Sign, Decrypt, Unwrap, SignRecover, PrivDerive, Sensitive, Extractable bool
	PrivateRead                                                            bool
}

// Problems words what is wrong with the uses of a KSK; backupCapable says
// whether the profile backs keys up (an extractable private key is then
// expected).
func (u KeyUses) Problems(backupCapable bool) []string {
	var out []string
	flag := func(bad bool, what string) {
		if bad {
			out = append(out, what)
		}
	}
	flag(!u.Verify, "the public key cannot verify")
	flag(u.Encrypt, "the public key can encrypt")
	flag(u.Wrap, "the public key can wrap keys")
	flag(u.VerifyRecover, "the public key can verify-recover")
	flag(u.Derive, "the public key can derive keys")
	if !u.PrivateRead {
		return out
	}
	flag(!u.Sign, "the private key cannot sign")
	flag(u.Decrypt, "the private key can decrypt")
	flag(u.Unwrap, "the private key can unwrap keys")
	flag(u.SignRecover, "the private key can sign-recover")
	flag(u.PrivDerive, "the private key can derive keys")
	flag(!u.Sensitive, "the private key is not sensitive")
	flag(u.Extractable && !backupCapable, "the private key is extractable, and the profile backs no key up")
	return out
}

// Uses reads what the token allows the key pair labelled label to do.
// An attribute a token does not know for a key type reads as false.
func (t *PKCS11Token) Uses(label string) (KeyUses, error) {
	var u KeyUses
	read := func(class uint, into map[uint]*bool) error {
		obj, err := t.find(class, label)
		if err != nil {
			return err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		for typ, dst := range into {
			// One at a time: a token refuses the whole query for one
			// attribute its key type lacks.
			a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
			*dst = err == nil && len(a) == 1 && len(a[0].Value) == 1 && a[0].Value[0] != 0
		}
		return nil
	}
	if err := read(pkcs11.CKO_PUBLIC_KEY, map[uint]*bool{pkcs11.CKA_VERIFY: &u.Verify, pkcs11.CKA_ENCRYPT: &u.Encrypt, pkcs11.CKA_WRAP: &u.Wrap,
		pkcs11.CKA_VERIFY_RECOVER: &u.VerifyRecover, pkcs11.CKA_DERIVE: &u.Derive}); err != nil {
		return u, err
	}
	err := read(pkcs11.CKO_PRIVATE_KEY, map[uint]*bool{pkcs11.CKA_SIGN: &u.Sign, pkcs11.CKA_DECRYPT: &u.Decrypt, pkcs11.CKA_UNWRAP: &u.Unwrap,
		pkcs11.CKA_SIGN_RECOVER: &u.SignRecover, pkcs11.CKA_DERIVE: &u.PrivDerive, pkcs11.CKA_SENSITIVE: &u.Sensitive, pkcs11.CKA_EXTRACTABLE: &u.Extractable})
	switch {
	case errors.Is(err, ErrKeyNotFound):
		return u, nil // not logged in: the public half alone
	case err != nil:
		return u, err
	}
	u.PrivateRead = true
	return u, nil
}

// Zeroizer is a token whose keys can be destroyed, for decommissioning.
type Zeroizer interface {
	Zeroize(ctx context.Context) ([]string, error)
}

// Zeroize destroys every key object in the token (private, public and
// secret keys), for an HSM's decommissioning, and returns the labels of the
// key pairs destroyed. The token must be logged in, so that the private
// objects are seen. What it reports is read back: no key is left.
func (t *PKCS11Token) Zeroize(ctx context.Context) ([]string, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("zeroize token %q: %w", t.label, ErrNotLoggedIn)
	}
	labels, err := t.KeyLabels(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY} {
		if err := t.ctx.FindObjectsInit(t.session, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}); err != nil {
			return nil, mapErr(err)
		}
		var objs []pkcs11.ObjectHandle
		for {
			o, _, err := t.ctx.FindObjects(t.session, 64)
			if err != nil {
				t.ctx.FindObjectsFinal(t.session)
				return nil, mapErr(err)
			}
			if len(o) == 0 {
				break
			}
			objs = append(objs, o...)
		}
		t.ctx.FindObjectsFinal(t.session)
		for _, o := range objs {
			if err := t.ctx.DestroyObject(t.session, o); err != nil {
				return nil, fmt.Errorf("zeroize token %q: %w; some keys may remain: run it again", t.label, mapErr(err))
			}
		}
	}
	t.login++ // cached private key handles are gone
	return labels, nil
}

// Zeroize forgets every key of the software token.
func (t *SoftToken) Zeroize(ctx context.Context) ([]string, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("zeroize token %q: %w", t.label, ErrNotLoggedIn)
	}
	labels, _ := t.KeyLabels(ctx)
	t.mu.Lock()
	t.keys = map[string]crypto.Signer{}
	t.mu.Unlock()
	return labels, nil
}
