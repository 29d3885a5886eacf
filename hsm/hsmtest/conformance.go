// Package hsmtest is the conformance suite that every hsm.Token
// implementation runs: the software token, the PKCS#11 backend, and any fault
// injecting wrapper.
package hsmtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
)

// Fixture is a fresh token, logged out, with a key and its PIN.
type Fixture struct {
	Token    hsm.Token
	PIN      []byte
	KeyLabel string
}

// Run checks the behaviour every Token must have.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	ctx := context.Background()
	t.Run("public key before login, no signature", func(t *testing.T) {
		f := newFixture(t)
		k, err := f.Token.Key(ctx, f.KeyLabel)
		if err != nil {
			t.Fatal(err)
		}
		if k.Public() == nil || k.Label() != f.KeyLabel {
			t.Fatal("no public key or wrong label")
		}
		d := sha256.Sum256([]byte("bundle"))
		if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrNotLoggedIn) {
			t.Fatalf("sign before login: %v, want ErrNotLoggedIn", err)
		}
	})
	t.Run("wrong PIN", func(t *testing.T) {
		f := newFixture(t)
		if err := f.Token.Login(ctx, append([]byte("x"), f.PIN...)); !errors.Is(err, hsm.ErrPINIncorrect) {
			t.Fatalf("login with a wrong PIN: %v, want ErrPINIncorrect", err)
		}
		if f.Token.LoggedIn() {
			t.Fatal("logged in after a wrong PIN")
		}
	})
	t.Run("sign while logged in, not after logout", func(t *testing.T) {
		f := newFixture(t)
		if err := f.Token.Login(ctx, f.PIN); err != nil {
			t.Fatal(err)
		}
		k, err := f.Token.Key(ctx, f.KeyLabel)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256([]byte("bundle"))
		sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		switch pub := k.Public().(type) {
		case *rsa.PublicKey:
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
				t.Fatalf("RSA signature does not verify: %v", err)
			}
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(pub, d[:], sig) {
				t.Fatal("ECDSA signature does not verify")
			}
		default:
			t.Fatalf("public key of type %T", pub)
		}
		if err := f.Token.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrNotLoggedIn) {
			t.Fatalf("sign after logout: %v, want ErrNotLoggedIn", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.Token.Key(ctx, f.KeyLabel+"-missing"); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Fatalf("unknown key: %v, want ErrKeyNotFound", err)
		}
	})
	t.Run("set the PIN while logged in", func(t *testing.T) {
		f := newFixture(t)
		ps, ok := f.Token.(hsm.PINSetter)
		if !ok {
			t.Skip("the token's PIN cannot be changed")
		}
		if err := f.Token.Login(ctx, f.PIN); err != nil {
			t.Fatal(err)
		}
		newPIN := []byte("fedcba9876543210")
		if err := ps.SetPIN(ctx, append([]byte("x"), f.PIN...), newPIN); !errors.Is(err, hsm.ErrPINIncorrect) {
			t.Fatalf("set the PIN with a wrong old one: %v, want ErrPINIncorrect", err)
		}
		if err := ps.SetPIN(ctx, f.PIN, newPIN); err != nil {
			t.Fatal(err)
		}
		defer ps.SetPIN(ctx, newPIN, f.PIN)
		if err := f.Token.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.Token.Login(ctx, f.PIN); !errors.Is(err, hsm.ErrPINIncorrect) {
			t.Fatalf("the old PIN after the change: %v, want ErrPINIncorrect", err)
		}
		if err := f.Token.Login(ctx, newPIN); err != nil {
			t.Fatalf("the new PIN: %v", err)
		}
	})
}
