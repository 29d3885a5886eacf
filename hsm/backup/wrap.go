// Package backup is a KSK backup as keyceremony writes it: the file that
// holds each key's public half and its private half wrapped under a storage
// master key, and the key wrap itself in software (RFC 5649 over PKCS#8),
// which a PKCS#11 token's CKM_AES_KEY_WRAP_PAD does in hardware. It links
// no PKCS#11: an auditor's program reads backups with it.
package backup

import (
	"crypto"
	"crypto/aes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// Mechanism is how a KSK's private half is wrapped for its backup:
// AES key wrap with padding (RFC 5649) of its PKCS#8 encoding, under a
// 256-bit storage master key.
const Mechanism = "CKM_AES_KEY_WRAP_PAD"

// SMKSize is the storage master key's size in bytes (AES-256).
const SMKSize = 32

// ErrUnwrap: a wrapped key does not unwrap under the storage master key
// given: another key, or a backup changed.
var ErrUnwrap = errors.New("the backup does not unwrap under this storage master key")

// UnwrapPKCS8 undoes Mechanism in software: the PKCS#8 private key a
// backup holds, for checking a backup's format against a token's (tests)
// and for a token without PKCS#11 (the rehearsal's software token).
func UnwrapPKCS8(smk, wrapped []byte) (crypto.Signer, error) {
	plain, err := unwrapPad(smk, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(plain) // the private key in the clear, for as short as may be
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

// WrapPKCS8 does Mechanism in software.
func WrapPKCS8(smk []byte, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	defer clear(der)
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
	defer clear(padded) // the wrapped key is a copy: padded holds the clear key until the rounds end
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
		clear(r)
		return nil, ErrUnwrap
	}
	m := int(binary.BigEndian.Uint32(a[4:]))
	if m > len(r) || m <= len(r)-8 {
		clear(r)
		return nil, ErrUnwrap
	}
	for _, z := range r[m:] {
		if z != 0 {
			clear(r)
			return nil, ErrUnwrap
		}
	}
	return r[:m], nil
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
