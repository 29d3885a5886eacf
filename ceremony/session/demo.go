package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
)

// DemoScript loads the built-in demo script.
func DemoScript() (*ceremony.Script, error) {
	b, err := scripts.Get("demo")
	if err != nil {
		return nil, err
	}
	return ceremony.LoadScript("demo.yaml", b)
}

// RehearsalScript is a built-in script (scripts.Get) as a rehearsal runs
// it, with the roster given (the demo's, or the one the rehearsal it
// follows ended with): a script that names the roster file gets a role for
// each card of the roster that it does not declare.
func RehearsalScript(name string, roster []byte) (*ceremony.Script, error) {
	raw, err := scripts.Get(name)
	if err != nil {
		return nil, err
	}
	raw = withOfficerRoles(raw, roster)
	return ceremony.LoadScriptWith(strings.TrimSuffix(name, ".yaml")+".yaml", raw, func(string) ([]byte, error) { return roster, nil })
}

// withOfficerRoles adds to a script's roles: list a role for each card of
// the roster that it does not declare (a revoked officer's too: the
// roster names them).
func withOfficerRoles(raw, roster []byte) []byte {
	r, err := quorum.ParseRosterFile(roster)
	if err != nil || !bytes.Contains(raw, []byte("\nquorum: roster.yaml")) {
		return raw
	}
	lines := strings.Split(string(raw), "\n")
	// The last line of the roles: block's list.
	last := -1
	for i, l := range lines {
		switch {
		case strings.TrimSpace(l) == "roles:":
			last = i
		case last >= 0 && last == i-1 && strings.HasPrefix(l, "  - {id: "):
			last = i
		}
	}
	if last >= 0 && strings.TrimSpace(lines[last]) == "roles:" {
		last = -1
	}
	if last < 0 {
		return raw
	}
	var add []string
	for _, c := range r.Cards {
		if !bytes.Contains(raw, []byte("{id: "+c.ID+",")) {
			add = append(add, fmt.Sprintf("  - {id: %s, title: Crypto Officer %s}", c.ID, strings.TrimPrefix(c.ID, "CO")))
		}
	}
	out := append(append(append([]string{}, lines[:last+1]...), add...), lines[last+1:]...)
	return []byte(strings.Join(out, "\n"))
}

// DemoCheckTime is when the demo checks its 2010 KSR: a week before its first
// bundle, as the 2010 ceremony did.
var demoCheckTime = time.Date(2009, 12, 25, 0, 0, 0, 0, time.UTC)

// DemoConfig is the rehearsal on embedded defaults: the demo script, its
// seven simulated cards, the software token with IANA's test KSK1 and its
// profile (scripts/demo-profile.yaml: the inventory, the schema, the
// policies), and IANA's 2010Q1 pre-production KSR, checked as of
// 2009-12-25. It signs as a ceremony does: through the profile.
func DemoConfig(script *ceremony.Script, log *transparency.Log, resume bool, skrPath string) (Config, error) {
	cards, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		return Config{}, err
	}
	// The simulated cards are dealt for the demo's roster; a rehearsed
	// script uses it too (or names no quorum).
	demo, err := DemoScript()
	if err != nil {
		return Config{}, err
	}
	profile, err := ceremony.LoadProfile(scripts.DemoProfileName, scripts.DemoProfile())
	if err != nil {
		return Config{}, err
	}
	token, err := demoToken(profile, demo.Quorum, cards)
	if err != nil {
		return Config{}, err
	}
	policy, err := dnssec.LoadPolicy(profile.Policy, scripts.DemoPolicy())
	if err != nil {
		return Config{}, err
	}
	return Config{
		Script: script, Log: log, Resume: resume, Token: token, Cards: cards, Profile: profile,
		KSR:     Input{Name: scripts.DemoKSRName, Data: scripts.DemoKSR()},
		SKRPath: skrPath, Policy: policy, CheckTime: demoCheckTime,
	}, nil
}

// demoToken makes the demo's software token. Its PIN is derived from the
// secret the simulated cards share, so the demo works only through a quorum;
// the token keeps only the PIN's SHA-256.
func demoToken(p *ceremony.Profile, roster *quorum.Roster, cards *quorum.Simulated) (*hsm.SoftToken, error) {
	tok, err := RehearsalToken(p, roster, cards)
	if err != nil {
		return nil, fmt.Errorf("demo cards do not match the demo roster: %w", err)
	}
	return tok, nil
}

// RehearsalPIN is the PIN a rehearsal's officers' cards derive for a token
// label: the first threshold cards of the roster not revoked, read as their
// holders would (the simulated cards, or card files sealed with the
// rehearsal's passphrases). The caller wipes it.
func RehearsalPIN(r *quorum.Roster, cards quorum.Reader, label string) ([]byte, error) {
	var dealt []quorum.Card
	defer func() {
		for _, c := range dealt {
			quorum.Wipe(c.Value)
		}
	}()
	for _, c := range r.Cards {
		if c.Revoked || len(dealt) == r.Threshold {
			continue
		}
		card, err := cards.Read(quorum.WithSecret(context.Background(), "rehearsal passphrase of "+c.ID), c.ID)
		if err != nil {
			return nil, err
		}
		dealt = append(dealt, card)
	}
	return quorum.RecoverPIN(r, dealt, label)
}

// RehearsalToken is a rehearsal profile's software token (the demo's:
// scripts/demo-profile.yaml), made from the profile's token section like
// any other: its label, and its keys, named as the command carries them
// (hsm.RehearsalKey). Its PIN is the one a rehearsal's current officers'
// cards derive for that label (after a ceremony that dealt a new secret,
// the token of a real HSM would keep the PIN it was set to).
func RehearsalToken(p *ceremony.Profile, r *quorum.Roster, cards quorum.Reader) (*hsm.SoftToken, error) {
	if p.Token.Backend != "software" {
		return nil, fmt.Errorf("profile %s: a rehearsal's token is a software one, not %q", p.Name, p.Token.Backend)
	}
	pems := map[string][]byte{}
	for label, name := range p.Token.Keys {
		b, ok := hsm.RehearsalKey(name)
		if !ok {
			return nil, fmt.Errorf("profile %s: token key %s: the command carries no rehearsal key %q", p.Name, label, name)
		}
		pems[label] = b
	}
	pin, err := RehearsalPIN(r, cards, p.Token.Label)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(pin)
	quorum.Wipe(pin)
	return hsm.SoftTokenOf(p.Token.Label, pems, digest)
}
