// Package hsm is the ceremony's view of a hardware security module: a token
// found by label, logged in with a PIN, holding keys found by label that sign
// through crypto.Signer. The PKCS#11 backend and the built-in software token
// for rehearsals implement the same Token interface, so the ceremony and its
// tests run the same code against both.
package hsm

import (
	"context"
	"crypto"
	"errors"
)

// Errors every Token returns where they apply; callers branch on them.
var (
	// ErrNotLoggedIn: the token must be logged in (the quorum reached) first.
	ErrNotLoggedIn = errors.New("token is not logged in")
	// ErrPINIncorrect: the PIN was refused. Check the quorum and try again;
	// tokens lock after a few wrong PINs.
	ErrPINIncorrect = errors.New("PIN incorrect")
	// ErrKeyNotFound: no key with that label on the token. Check the profile.
	ErrKeyNotFound = errors.New("key not found on the token")
)

// Token is a logged-in-or-not HSM partition holding signing keys.
type Token interface {
	// Label is the token's label, the only way the profile names it.
	Label() string
	// Login opens the token with a PIN. The PIN is not kept.
	Login(ctx context.Context, pin []byte) error
	// Logout closes the token; its signers stop working.
	Logout(ctx context.Context) error
	// LoggedIn reports whether the token is logged in.
	LoggedIn() bool
	// Key returns the key with the given label. Its public key is readable
	// at any time; Sign works only while the token is logged in.
	Key(ctx context.Context, label string) (Key, error)
}

// PINSetter is a token whose user PIN can be changed while logged in
// (C_SetPIN), for provisioning a new card set in a ceremony.
type PINSetter interface {
	SetPIN(ctx context.Context, old, new []byte) error
}

// Lister is a token that can list its keys (for the inventory).
type Lister interface {
	KeyLabels(ctx context.Context) ([]string, error)
}

// Key is a key on a token.
type Key interface {
	crypto.Signer
	Label() string
}

// Attributer is a token that tells how it holds a key's private half:
// whether it is sensitive and whether it can ever leave the token.
type Attributer interface {
	PrivateAttributes(label string) (sensitive, extractable, neverExtractable bool, err error)
}
