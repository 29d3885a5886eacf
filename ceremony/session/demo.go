package session

import (
	"context"
	"crypto/sha256"
	"fmt"
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

// DemoCheckTime is when the demo checks its 2010 KSR: a week before its first
// bundle, as the 2010 ceremony did.
var demoCheckTime = time.Date(2009, 12, 25, 0, 0, 0, 0, time.UTC)

// DemoConfig is the rehearsal on embedded defaults: the demo script, its
// seven simulated cards, the software token with IANA's test KSK1, and
// IANA's 2010Q1 pre-production KSR, checked as of 2009-12-25 under the
// demo's policy file (scripts/demo-policy.yaml).
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
	token, err := demoToken(demo.Quorum, cards)
	if err != nil {
		return Config{}, err
	}
	policy, err := dnssec.LoadPolicy("demo-policy.yaml", scripts.DemoPolicy())
	if err != nil {
		return Config{}, err
	}
	day := 24 * time.Hour
	return Config{
		Script: script, Log: log, Resume: resume, Token: token, KeyLabel: hsm.DemoKeyLabel, Cards: cards,
		KSR:     Input{Name: scripts.DemoKSRName, Data: scripts.DemoKSR()},
		SKRPath: skrPath, Policy: policy, CheckTime: demoCheckTime, TTL: 172800,
		KSKPolicy: dnssec.Policy{
			PublishSafety: dnssec.Duration{Text: "PT0S"}, RetireSafety: dnssec.Duration{Text: "P28D", D: 28 * day},
			MaxSignatureValidity: dnssec.Duration{Text: "P20D", D: 20 * day}, MinSignatureValidity: dnssec.Duration{Text: "P15D", D: 15 * day},
			MaxValidityOverlap: dnssec.Duration{Text: "P10D", D: 10 * day}, MinValidityOverlap: dnssec.Duration{Text: "P5D", D: 5 * day},
			Algorithms: []dnssec.Algorithm{{Algorithm: 8, RSA: &dnssec.RSAParams{Size: 2048, Exponent: 3}}},
		},
	}, nil
}

// demoToken makes the demo's software token. Its PIN is derived from the
// secret the simulated cards share, so the demo works only through a quorum;
// the token keeps only the PIN's SHA-256.
func demoToken(roster *quorum.Roster, cards *quorum.Simulated) (*hsm.SoftToken, error) {
	c, err := quorum.NewCollector(roster)
	if err != nil {
		return nil, err
	}
	for _, id := range roster.Cards[:roster.Threshold] {
		card, err := cards.Read(context.Background(), id.ID)
		if err != nil {
			return nil, err
		}
		if err := c.Present(card); err != nil {
			return nil, fmt.Errorf("demo cards do not match the demo roster: %w", err)
		}
	}
	secret, err := c.Recover()
	if err != nil {
		return nil, err
	}
	pin, err := quorum.DerivePIN(secret, hsm.DemoTokenLabel)
	quorum.Wipe(secret)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(pin)
	quorum.Wipe(pin)
	return hsm.DemoToken(digest)
}
