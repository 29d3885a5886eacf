package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/miekg/pkcs11"
)

// Wrapper is a token that backs its keys up under a storage master key and
// restores them from such a backup.
type Wrapper interface {
	// WrapKSK returns the private half of the key labelled label wrapped
	// under smk (backup.Mechanism). The key must be extractable.
	WrapKSK(ctx context.Context, label string, smk []byte) ([]byte, error)
	// UnwrapKSK restores a wrapped private half into the token under
	// label, with its public half pub: sensitive, sign-only, and not
	// extractable unless extractable is set. It checks that the two halves
	// are one key pair before it returns.
	UnwrapKSK(ctx context.Context, label string, smk, wrapped []byte, pub crypto.PublicKey, extractable bool) (Key, error)
}

// smkObject makes the storage master key a session object of the token
// (never stored in it), for wrapping or for unwrapping only. The PKCS#11
// binding copies the key into C memory for the call and frees it without
// zeroing it; the caller wipes its own copy.
func (t *PKCS11Token) smkObject(smk []byte, wrap bool) (pkcs11.ObjectHandle, error) {
	if len(smk) != backup.SMKSize {
		return 0, fmt.Errorf("a storage master key of %d bytes, not %d", len(smk), backup.SMKSize)
	}
	return t.ctx.CreateObject(t.session, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, wrap),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, !wrap),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, smk),
	})
}

// WrapKSK wraps a key's private half under the storage master key, which
// lives in the token only for the call.
func (t *PKCS11Token) WrapKSK(_ context.Context, label string, smk []byte) ([]byte, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("back up %q: %w", label, ErrNotLoggedIn)
	}
	priv, err := t.find(pkcs11.CKO_PRIVATE_KEY, label)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.smkObject(smk, true)
	if err != nil {
		return nil, fmt.Errorf("back up %q in token %q: the storage master key: %w", label, t.label, mapErr(err))
	}
	defer t.ctx.DestroyObject(t.session, k)
	wrapped, err := t.ctx.WrapKey(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, k, priv)
	if err != nil {
		if e, ok := err.(pkcs11.Error); ok && e == pkcs11.CKR_KEY_UNEXTRACTABLE {
			return nil, fmt.Errorf("back up %q in token %q: the key is not extractable; a KSK is backed up only if generated backup-capable (the profile's backup_capable)", label, t.label)
		}
		return nil, fmt.Errorf("back up %q in token %q: %w", label, t.label, mapErr(err))
	}
	return wrapped, nil
}

// UnwrapKSK restores a key from its wrapped private half and its public
// half.
func (t *PKCS11Token) UnwrapKSK(ctx context.Context, label string, smk, wrapped []byte, pub crypto.PublicKey, extractable bool) (Key, error) {
	if !t.LoggedIn() {
		return nil, fmt.Errorf("restore %q: %w", label, ErrNotLoggedIn)
	}
	for _, class := range []uint{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_PRIVATE_KEY} {
		if _, err := t.find(class, label); err == nil || !errors.Is(err, ErrKeyNotFound) {
			if err == nil {
				err = ErrLabelExists
			}
			return nil, fmt.Errorf("restore %q in token %q: %w", label, t.label, err)
		}
	}
	id := []byte("restored:" + label)
	var keyType uint
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY_RECOVER, false), pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		keyType = pkcs11.CKK_RSA
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType), pkcs11.NewAttribute(pkcs11.CKA_MODULUS, p.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(p.E)).Bytes()))
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("restore %q: an EC key on a curve other than P-256", label)
		}
		keyType = pkcs11.CKK_EC
		point, err := p.Bytes()
		if err != nil {
			return nil, err
		}
		// DER OCTET STRING around 04||X||Y, as PKCS#11 v2.20 and SoftHSM want it.
		der := append([]byte{0x04, byte(len(point))}, point...)
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, der))
	default:
		return nil, fmt.Errorf("restore %q: a public key of type %T", label, pub)
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN_RECOVER, false), pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
	t.mu.Lock()
	k, err := t.smkObject(smk, false)
	if err != nil {
		t.mu.Unlock()
		return nil, fmt.Errorf("restore %q in token %q: the storage master key: %w", label, t.label, mapErr(err))
	}
	privObj, err := t.ctx.UnwrapKey(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, k, wrapped, privT)
	t.ctx.DestroyObject(t.session, k)
	if err != nil {
		t.mu.Unlock()
		if e, ok := err.(pkcs11.Error); ok && (e == pkcs11.CKR_WRAPPED_KEY_INVALID || e == pkcs11.CKR_WRAPPED_KEY_LEN_RANGE || e == pkcs11.CKR_ENCRYPTED_DATA_INVALID ||
			e == pkcs11.CKR_GENERAL_ERROR) {
			// SoftHSM says only CKR_GENERAL_ERROR when the integrity check
			// of the key wrap fails.
			return nil, fmt.Errorf("restore %q in token %q: %w (the token says %v)", label, t.label, backup.ErrUnwrap, mapErr(err))
		}
		return nil, fmt.Errorf("restore %q in token %q: %w", label, t.label, mapErr(err))
	}
	pubObj, err := t.ctx.CreateObject(t.session, pubT)
	t.mu.Unlock()
	undo := func() {
		t.mu.Lock()
		t.ctx.DestroyObject(t.session, privObj)
		if pubObj != 0 {
			t.ctx.DestroyObject(t.session, pubObj)
		}
		t.mu.Unlock()
	}
	if err != nil {
		undo()
		return nil, fmt.Errorf("restore %q in token %q: the public half: %w", label, t.label, mapErr(err))
	}
	key, err := t.Key(ctx, label)
	if err == nil {
		err = pairs(key, pub)
	}
	if err != nil {
		undo()
		return nil, fmt.Errorf("restore %q in token %q: %w", label, t.label, err)
	}
	return key, nil
}

// pairs checks that a key's private half signs what its public half pub
// verifies: a restored private half that is another key's is refused.
func pairs(k Key, pub crypto.PublicKey) error {
	digest := make([]byte, 32)
	copy(digest, "keyceremony: restored key check")
	sig, err := k.Sign(nil, digest, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("signing with the restored key: %w", err)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(p, crypto.SHA256, digest, sig) == nil {
			return nil
		}
	case *ecdsa.PublicKey:
		if len(sig) == 64 && ecdsa.Verify(p, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil
		}
		if ecdsa.VerifyASN1(p, digest, sig) {
			return nil
		}
	}
	return errors.New("the restored private half does not match the public key on record: the backup is another key's")
}

// SamePublic reports whether two public keys are the same RSA or ECDSA key.
func SamePublic(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
