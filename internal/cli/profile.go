package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// pinEnv is where non-interactive commands (ksr sign, anchor export, hsm
// inventory) take a PKCS#11 token's PIN from: automation and tests. In a
// ceremony the console derives the PIN from the crypto officers' cards.
const pinEnv = "KEYCEREMONY_PIN"

// cardAuth, when its fields are set, activates a PKCS#11 token with the
// crypto officers' cards (card files, or PKCS#11 cards) instead of
// KEYCEREMONY_PIN.
type cardAuth struct {
	roster string
	src    cardSource
	stdin  io.Reader
	stderr io.Writer
}

func (a *cardAuth) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.roster, "roster", "", "activate the token with the crypto officers' cards: the roster (a quorum: block) they were dealt for")
	fs.StringVar(&a.src.dir, "cards", "", "the folder of card files <id>.card (with --roster)")
	fs.StringVar(&a.src.module, "card-module", "", "or the PKCS#11 library of the card readers: card CO1 is the token labelled CO1 (with --roster)")
}

// pin asks the holders of the cards found in the folder for their
// passphrases, one card after another, until the roster's threshold is
// reached, and derives the token's PIN. Refused cards are named and skipped.
func (a *cardAuth) pin(ctx context.Context, label string) ([]byte, error) {
	roster, err := loadRoster(a.roster)
	if err != nil {
		return nil, err
	}
	if (a.src.dir == "") == (a.src.module == "") {
		return nil, usageErr("--roster needs --cards DIR or --card-module LIB")
	}
	secret, err := collectSecret(ctx, roster, a.src, passphraseReader(a.stdin, a.stderr), a.stderr)
	if err != nil {
		return nil, err
	}
	defer quorum.Wipe(secret)
	return quorum.DerivePIN(secret, label)
}

// loadProfile reads a profile and opens its token, logged in when login is
// set (with the PIN from the cards when auth gives a roster, otherwise from
// KEYCEREMONY_PIN). The returned function closes the token.
func loadProfile(ctx context.Context, path string, login bool, auth ...*cardAuth) (*ceremony.Profile, hsm.Token, func(), error) {
	return loadProfileWith(ctx, path, ceremony.LoadProfile, login, auth...)
}

// readProfileFile reads a profile for what it says, without opening its
// token (ksr check's and skr verify's text timing).
func readProfileFile(path string) (*ceremony.Profile, error) {
	b, err := readInput(path)
	if err != nil {
		return nil, usageErr("--profile: %v", err)
	}
	p, err := ceremony.LoadProfile(path, b)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return p, nil
}

// loadProfileWith is loadProfile with the profile read by load: the whole
// profile checked (ceremony.LoadProfile), or its token alone
// (ceremony.LoadTokenProfile, for hsm keygen).
func loadProfileWith(ctx context.Context, path string, load func(string, []byte) (*ceremony.Profile, error), login bool, auth ...*cardAuth) (*ceremony.Profile, hsm.Token, func(), error) {
	b, err := readInput(path)
	if err != nil {
		return nil, nil, nil, usageErr("--profile: %v", err)
	}
	p, err := load(path, b)
	if err != nil {
		return nil, nil, nil, usageErr("%v", err)
	}
	cards := len(auth) > 0 && auth[0] != nil && auth[0].roster != ""
	var pin func(string) ([]byte, error)
	if login {
		pin = func(label string) ([]byte, error) {
			if cards {
				return auth[0].pin(ctx, label)
			}
			return []byte(os.Getenv(pinEnv)), nil
		}
	}
	tok, closeTok, err := session.OpenToken(ctx, p, filepath.Dir(path), pin)
	var ce *cliError
	switch {
	case err == nil:
		return p, tok, closeTok, nil
	case errors.As(err, &ce):
		return nil, nil, nil, err // the cards' own error, with its exit code
	case errors.Is(err, session.ErrProfileToken), errors.Is(err, hsm.ErrTokenNotFound):
		return nil, nil, nil, usageErr("%s: %v", path, err)
	case errors.Is(err, session.ErrNoPIN):
		return nil, nil, nil, usageErr("%s: token %q needs its PIN: give --roster and --cards (the officers' card files), or set %s", path, p.Token.Label, pinEnv)
	case errors.Is(err, hsm.ErrPINIncorrect):
		hint := "check " + pinEnv
		if cards {
			hint = "these cards were not dealt for this token"
		}
		return nil, nil, nil, operational(fmt.Errorf("%s: %w; %s (the token locks itself after a few wrong PINs)", path, err, hint))
	}
	return nil, nil, nil, operational(fmt.Errorf("%s: %w", path, err))
}

// profilePolicy reads the request policy file a profile names (relative to
// the profile); none means IANA's defaults.
func profilePolicy(p *ceremony.Profile, profilePath string) (dnssec.CheckPolicy, error) {
	pp := p.Policy
	if pp != "" && !filepath.IsAbs(pp) {
		pp = filepath.Join(filepath.Dir(profilePath), pp)
	}
	return loadPolicyFile(pp)
}
