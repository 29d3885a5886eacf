// The HSM's steps: login with the secret the cards recovered, key
// generation and zeroizing.

package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// TokenInfo reads the token's identity and PIN flags, for tokens that tell
// (PKCS#11): shown before login, so that a low PIN count or a final try is
// seen before the officers' secret is tried.
func (s *Session) TokenInfo() (hsm.TokenInfo, bool) {
	in, ok := s.cfg.Token.(hsm.Informer)
	if !ok {
		return hsm.TokenInfo{}, false
	}
	info, err := in.Info()
	return info, err == nil
}

func (s *Session) login(ctx context.Context, cur ceremony.Step) error {
	tok := s.cfg.Token
	ev := event.HSMLogin{Step: cur.ID, Token: tok.Label()}
	if info, ok := s.TokenInfo(); ok {
		if info.PINLocked {
			return fmt.Errorf("token %q: its user PIN is locked; nothing was tried: the security officer unlocks it (C_InitPIN), then activate again", tok.Label())
		}
		ev.Serial, ev.Flags = strings.TrimSpace(info.Serial), info.Flags()
	}
	witnessed := s.cfg.Script.Quorum.Witnessed()
	if !tok.LoggedIn() {
		if s.pin == nil && !witnessed {
			return errors.New("the activation secret is not here: the crypto officers present their cards first")
		}
		if err := tok.Login(ctx, s.pin); err != nil {
			if errors.Is(err, hsm.ErrPINIncorrect) {
				// The cards' secret does not open this token: the PIN is
				// useless, and the officers present their cards again.
				s.wipePIN()
				if lerr := s.append(ctx, event.HSMLoginFailed{Step: cur.ID, Token: tok.Label(), Reason: "PIN incorrect"}); lerr != nil {
					return lerr
				}
			}
			if witnessed {
				return fmt.Errorf("log in to token %q: %w; the HSM enforces the quorum itself: activate it with its officers' cards (PED), then log in again", tok.Label(), err)
			}
			return fmt.Errorf("log in to token %q: %w", tok.Label(), err)
		}
	}
	// The PIN is kept until the login is in the log, so that a failed append
	// can be retried.
	if err := s.append(ctx, ev); err != nil {
		return err
	}
	s.wipePIN()
	return nil
}

func (s *Session) wipePIN() {
	quorum.Wipe(s.pin)
	s.pin = nil
}

// generate makes the step's KSK in the token and logs its DNSKEY, key tag
// with and without the REVOKE bit and SHA-256 DS, with the DNSKEY and DS
// records stored as an artefact for the trust anchor.
func (s *Session) generate(ctx context.Context, cur ceremony.Step) error {
	g, ok := s.cfg.Token.(hsm.Generator)
	if !ok {
		return fmt.Errorf("token %q cannot generate keys", s.cfg.Token.Label())
	}
	spec := hsm.KeySpec{Label: cur.Params["label"], Algorithm: 8, Extractable: s.cfg.Profile != nil && s.cfg.Profile.Token.BackupCapable}
	if cur.Params["algorithm"] == "13" {
		spec.Algorithm = 13
	}
	fmt.Sscan(cur.Params["bits"], &spec.Bits)
	k, err := g.GenerateKSK(ctx, spec)
	if errors.Is(err, hsm.ErrLabelExists) {
		return fmt.Errorf("token %q already holds a key labelled %s; a key is never replaced: record an exception, and generate under a new label in a corrected script", s.cfg.Token.Label(), spec.Label)
	}
	if err != nil {
		return fmt.Errorf("generate %s: %w; nothing was logged, try again", spec.Label, err)
	}
	dk, err := s.dnskey(k.Public())
	if err != nil {
		return err
	}
	tag, revoked := dnssec.KeyTags(dk)
	ds := dnssec.DS(dk)
	ev := event.KeyGenerated{Step: cur.ID, Label: spec.Label, Algorithm: int(spec.Algorithm), KeyTag: int(tag),
		KeyTagRevoked: int(revoked), DSSHA256: strings.ToLower(ds.Digest), DNSKEY: dk.String()}
	if pa, ok := s.cfg.Token.(hsm.Attributer); ok {
		if sensitive, extractable, _, err := pa.PrivateAttributes(spec.Label); err == nil {
			ev.Sensitive, ev.Extractable = &sensitive, &extractable
		}
	}
	ref, err := s.cfg.Log.StoreArtefact(spec.Label+".ds", []byte(dk.String()+"\n"+ds.String()+"\n"))
	if err != nil {
		return err
	}
	// The trust anchor for the new key, valid from now (RFC 9718 form).
	anchor, err := dnssec.ExportAnchors(spec.Label, s.cfg.Script.Zone, []dnssec.AnchorKey{{ID: spec.Label, DNSKEY: dk, ValidFrom: s.cfg.Log.Now()}})
	if err != nil {
		return err
	}
	aref, err := s.cfg.Log.StoreArtefact(spec.Label+"-anchor.xml", anchor)
	if err != nil {
		return err
	}
	return s.append(ctx, ev, ref, aref)
}

// zeroize destroys every key in the token, reads the token back to show it
// is empty, and logs the labels destroyed.
func (s *Session) zeroize(ctx context.Context, cur ceremony.Step) error {
	z, ok := s.cfg.Token.(hsm.Zeroizer)
	if !ok {
		return fmt.Errorf("token %q cannot be zeroized from here: use its own tools, and record an exception", s.cfg.Token.Label())
	}
	destroyed, err := z.Zeroize(ctx)
	if err != nil {
		return fmt.Errorf("%w; nothing was logged: zeroize again", err)
	}
	remaining := 0
	if l, ok := s.cfg.Token.(hsm.Lister); ok {
		left, err := l.KeyLabels(ctx)
		if err != nil {
			return fmt.Errorf("read the token back after zeroizing: %w; zeroize again", err)
		}
		remaining = len(left)
	}
	if destroyed == nil {
		destroyed = []string{}
	}
	if remaining > 0 {
		return fmt.Errorf("token %q still holds %d keys after zeroizing; zeroize again, or use its own tools and record an exception", s.cfg.Token.Label(), remaining)
	}
	return s.append(ctx, event.Zeroized{Step: cur.ID, Token: s.cfg.Token.Label(), Destroyed: destroyed, Remaining: remaining})
}
