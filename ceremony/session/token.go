package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// Errors of OpenToken that say the profile or its PIN is wrong, rather
// than the token.
var (
	// ErrProfileToken: the profile's token section cannot be a token
	// (a software key file that is not a key, an unknown backend).
	ErrProfileToken = errors.New("the profile's token")
	// ErrNoPIN: the token needs a PIN and none was given.
	ErrNoPIN = errors.New("the token needs its PIN")
)

// OpenToken opens a profile's token. A software token (rehearsals and
// tests) is made from its key files, named relative to dir, and needs no
// PIN. A PKCS#11 token is found by its label (and serial, when the
// profile gives one), and logged in with the PIN pin gives for its label
// (wiped after) unless pin is nil. A token not found wraps
// hsm.ErrTokenNotFound; a wrong PIN, hsm.ErrPINIncorrect. The function
// returned closes the token.
func OpenToken(ctx context.Context, p *ceremony.Profile, dir string, pin func(label string) ([]byte, error)) (hsm.Token, func(), error) {
	switch p.Token.Backend {
	case "software":
		files := map[string]string{}
		for label, f := range p.Token.Keys {
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			files[label] = f
		}
		tok, err := hsm.LoadSoftToken(p.Token.Label, files)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrProfileToken, err)
		}
		if err := tok.Login(ctx, nil); err != nil {
			return nil, nil, err
		}
		return tok, func() {}, nil
	case "pkcs11":
		tok, err := hsm.OpenPKCS11Serial(p.Token.Module, p.Token.Label, p.Token.Serial)
		if err != nil {
			return nil, nil, err
		}
		closeTok := func() { tok.Close() }
		if pin == nil {
			return tok, closeTok, nil
		}
		b, err := pin(p.Token.Label)
		if err != nil {
			tok.Close()
			return nil, nil, err
		}
		defer quorum.Wipe(b)
		if len(b) == 0 {
			tok.Close()
			return nil, nil, fmt.Errorf("token %q: %w", p.Token.Label, ErrNoPIN)
		}
		if err := tok.Login(ctx, b); err != nil {
			tok.Close()
			return nil, nil, err
		}
		return tok, closeTok, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown backend %q", ErrProfileToken, p.Token.Backend)
}
