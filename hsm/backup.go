package hsm

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// BackupMechanism is how a KSK's private half is wrapped for its backup:
// AES key wrap with padding (RFC 5649) of its PKCS#8 encoding, under a
// 256-bit storage master key.
const BackupMechanism = "CKM_AES_KEY_WRAP_PAD"

// SMKSize is the storage master key's size in bytes (AES-256).
const SMKSize = 32

// ErrUnwrap: a wrapped key does not unwrap under the storage master key
// given: another key, or a backup changed.
var ErrUnwrap = errors.New("the backup does not unwrap under this storage master key")

// Wrapper is a token that backs its keys up under a storage master key and
// restores them from such a backup.
type Wrapper interface {
	// WrapKSK returns the private half of the key labelled label wrapped
	// under smk (BackupMechanism). The key must be extractable.
	WrapKSK(ctx context.Context, label string, smk []byte) ([]byte, error)
	// UnwrapKSK restores a wrapped private half into the token under
	// label, with its public half pub: sensitive, sign-only, and not
	// extractable unless extractable is set. It checks that the two halves
	// are one key pair before it returns.
	UnwrapKSK(ctx context.Context, label string, smk, wrapped []byte, pub crypto.PublicKey, extractable bool) (Key, error)
}

// smkObject makes the storage master key a session object of the token
// (never stored in it), for wrapping or for unwrapping only.
func (t *PKCS11Token) smkObject(smk []byte, wrap bool) (pkcs11.ObjectHandle, error) {
	if len(smk) != SMKSize {
		return 0, fmt.Errorf("a storage master key of %d bytes, not %d", len(smk), SMKSize)
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
			return nil, fmt.Errorf("restore %q in token %q: %w (the token says %v)", label, t.label, ErrUnwrap, mapErr(err))
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

// UnwrapPKCS8 undoes BackupMechanism in software: the PKCS#8 private key a
// backup holds, for checking a backup's format against a token's (tests)
// and for a token without PKCS#11 (the rehearsal's software token).
func UnwrapPKCS8(smk, wrapped []byte) (crypto.Signer, error) {
	plain, err := unwrapPad(smk, wrapped)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: a %T", ErrUnwrap, k)
	}
	return s, nil
}

// WrapPKCS8 does BackupMechanism in software.
func WrapPKCS8(smk []byte, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return wrapPad(smk, der)
}

// aiv is RFC 5649's alternative initial value, before the length.
var aiv = []byte{0xa6, 0x59, 0x59, 0xa6}

// wrapPad is AES key wrap with padding (RFC 5649).
func wrapPad(kek, plain []byte) ([]byte, error) {
	c, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if len(plain) == 0 || len(plain) > 1<<24 {
		return nil, errors.New("key wrap: nothing, or too much, to wrap")
	}
	padded := make([]byte, (len(plain)+7)/8*8)
	copy(padded, plain)
	a := make([]byte, 8)
	copy(a, aiv)
	binary.BigEndian.PutUint32(a[4:], uint32(len(plain)))
	n := len(padded) / 8
	if n == 1 {
		out := make([]byte, 16)
		c.Encrypt(out, append(a, padded...))
		return out, nil
	}
	r := padded
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(b[:8], a)
			copy(b[8:], r[i*8:i*8+8])
			c.Encrypt(b[:], b[:])
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(b[:8])^t)
			copy(r[i*8:], b[8:])
		}
	}
	return append(a, r...), nil
}

// unwrapPad undoes wrapPad, checking the integrity value and the padding.
func unwrapPad(kek, wrapped []byte) ([]byte, error) {
	c, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped)%8 != 0 || len(wrapped) < 16 {
		return nil, fmt.Errorf("%w: %d bytes is not a wrapped key's length", ErrUnwrap, len(wrapped))
	}
	n := len(wrapped)/8 - 1
	a := make([]byte, 8)
	var r []byte
	if n == 1 {
		var b [16]byte
		c.Decrypt(b[:], wrapped)
		copy(a, b[:8])
		r = append([]byte(nil), b[8:]...)
	} else {
		copy(a, wrapped[:8])
		r = append([]byte(nil), wrapped[8:]...)
		var b [16]byte
		for j := 5; j >= 0; j-- {
			for i := n - 1; i >= 0; i-- {
				t := uint64(n*j + i + 1)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a)^t)
				copy(b[8:], r[i*8:i*8+8])
				c.Decrypt(b[:], b[:])
				copy(a, b[:8])
				copy(r[i*8:], b[8:])
			}
		}
	}
	if subtle.ConstantTimeCompare(a[:4], aiv) != 1 {
		return nil, ErrUnwrap
	}
	m := int(binary.BigEndian.Uint32(a[4:]))
	if m > len(r) || m <= len(r)-8 {
		return nil, ErrUnwrap
	}
	for _, z := range r[m:] {
		if z != 0 {
			return nil, ErrUnwrap
		}
	}
	return r[:m], nil
}

// SamePublic reports whether two public keys are the same RSA or ECDSA key.
func SamePublic(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// CheckValue is a storage master key's check value: the first three bytes
// of AES of a zero block under it, as HSM vendors print them. A backup
// records it, so that a key recovered from the wrong shares is refused
// before the token is asked to unwrap anything.
func CheckValue(smk []byte) (string, error) {
	c, err := aes.NewCipher(smk)
	if err != nil {
		return "", err
	}
	var b [16]byte
	c.Encrypt(b[:], b[:])
	return fmt.Sprintf("%X", b[:3]), nil
}
