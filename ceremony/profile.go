package ceremony

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
	"gopkg.in/yaml.v3"
)

// Profile holds what differs between a rehearsal and the real ceremony and
// never belongs in the reviewed script: the token and its backend, the KSK
// inventory, the signing schemas and policies.
type Profile struct {
	Zone   string       `yaml:"zone"`
	Token  TokenProfile `yaml:"token"`
	KSKs   []KSKRecord  `yaml:"ksks"`
	TTL    uint32       `yaml:"ttl"`
	Policy string       `yaml:"policy"` // request policy file, relative to the profile
	// Schemas name, per bundle slot, which KSKs are published, sign, or are
	// revoked. One slot applies to every bundle.
	Schemas       map[string][]dnssec.Slot `yaml:"schemas"`
	DefaultSchema string                   `yaml:"default_schema"`
	KSKPolicy     KSKPolicy                `yaml:"ksk_policy"`
	// TextSigning cuts and dates the bundles of a Knot or BIND text KSR
	// (their signing policy lives with the KSK); unset: each format's own
	// signer's defaults.
	TextSigning *TextSigning `yaml:"text_signing"`

	// Name is the profile file, for messages.
	Name string `yaml:"-"`
}

// TokenProfile says where the keys are.
type TokenProfile struct {
	// Backend is "software" (PEM key files: rehearsals and tests only; no
	// PIN) or "pkcs11".
	Backend string `yaml:"backend"`
	Label   string `yaml:"label"`
	// Module is the PKCS#11 library (pkcs11 backend).
	Module string `yaml:"module"`
	// Serial, when set, must be the token's serial number (pkcs11 backend):
	// another HSM with the same label is refused.
	Serial string `yaml:"serial"`
	// Keys maps key labels to PEM files, relative to the profile (software
	// backend).
	Keys map[string]string `yaml:"keys"`
	// BackupCapable makes `hsm keygen` create keys that the token can wrap
	// for a backup HSM; by default a new key never leaves its token.
	BackupCapable bool `yaml:"backup_capable"`
}

// TextSigning is the KSK side's signing policy for text KSRs, by each
// tool's own names and meanings: what Knot's keymgr sign-ksr and BIND's
// dnssec-ksr sign would read from the KSK side's configuration. Left out:
// that tool's default.
type TextSigning struct {
	Knot KnotSigning `yaml:"knot"`
	BIND BINDSigning `yaml:"bind"`
}

// KnotSigning is a Knot DNS policy's signing part (knot.conf's policy
// section, with - as _).
type KnotSigning struct {
	RRSIGLifetime    ToolDuration `yaml:"rrsig_lifetime"`
	RRSIGRefresh     ToolDuration `yaml:"rrsig_refresh"`
	RRSIGPreRefresh  ToolDuration `yaml:"rrsig_pre_refresh"`
	PropagationDelay ToolDuration `yaml:"propagation_delay"`
	ZoneMaxTTL       ToolDuration `yaml:"zone_max_ttl"`
}

// BINDSigning is a BIND dnssec-policy's signing part (named.conf's
// dnssec-policy statement, with - as _).
type BINDSigning struct {
	SignaturesValidityDNSKEY ToolDuration `yaml:"signatures_validity_dnskey"`
	SignaturesRefresh        ToolDuration `yaml:"signatures_refresh"`
}

// UnmarshalYAML reads text_signing strictly, and names the flat keys of
// earlier profiles, whose rrsig_refresh meant the interval between bundles
// rather than Knot's time before expiry.
func (t *TextSigning) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "rrsig_lifetime", "rrsig_refresh", "backdate":
				return fmt.Errorf("line %d: text_signing.%s: the timing goes by each tool's own names now: text_signing.knot (rrsig_lifetime, rrsig_refresh: how long before expiry a signature is renewed, rrsig_pre_refresh, propagation_delay, zone_max_ttl) or text_signing.bind (signatures_validity_dnskey, signatures_refresh); the inception backdate is each tool's own (Knot 90m, BIND 1h)", n.Content[i].Line, k)
			}
		}
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	type plain TextSigning
	var v plain
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("text_signing: %v", err)
	}
	*t = TextSigning(v)
	return nil
}

// ToolDuration is a duration as ISO 8601 (P14D, PT2H) or as knot.conf and
// named.conf write one (14d, 2h, 90m, 3600).
type ToolDuration struct{ D time.Duration }

// UnmarshalText reads either form.
func (d *ToolDuration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "P") {
		var iso dnssec.Duration
		if err := iso.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		d.D = iso.D
		return nil
	}
	unit := time.Second
	if n := len(s); n > 0 {
		if u, ok := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[n-1]|0x20]; ok {
			unit, s = u, s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil || s == "" {
		return fmt.Errorf("duration %q is neither ISO 8601 (P14D) nor a number with s, m, h, d or w (14d)", string(b))
	}
	d.D = time.Duration(v) * unit
	return nil
}

// TextOptions are the profile's text signing options, nil when it sets none.
func (p *Profile) TextOptions() *dnssec.TextOptions {
	if p == nil || p.TextSigning == nil {
		return nil
	}
	k, b := p.TextSigning.Knot, p.TextSigning.BIND
	return &dnssec.TextOptions{
		Knot: dnssec.KnotTiming{RRSIGLifetime: k.RRSIGLifetime.D, RRSIGRefresh: k.RRSIGRefresh.D, RRSIGPreRefresh: k.RRSIGPreRefresh.D,
			PropagationDelay: k.PropagationDelay.D, ZoneMaxTTL: k.ZoneMaxTTL.D},
		BIND: dnssec.BINDTiming{SignaturesValidityDNSKEY: b.SignaturesValidityDNSKEY.D, SignaturesRefresh: b.SignaturesRefresh.D},
	}
}

// KSKRecord is one KSK of the inventory: what the key found in the token
// must match, and when it may sign.
type KSKRecord struct {
	Label      string    `yaml:"label"`
	KeyTag     uint16    `yaml:"key_tag"`
	DSSHA256   string    `yaml:"ds_sha256"`
	ValidFrom  time.Time `yaml:"valid_from"`
	ValidUntil time.Time `yaml:"valid_until"`
}

// KSKPolicy is the KSK side of the response policy written into every SKR.
type KSKPolicy struct {
	PublishSafety        string `yaml:"publish_safety"`
	RetireSafety         string `yaml:"retire_safety"`
	MaxSignatureValidity string `yaml:"max_signature_validity"`
	MinSignatureValidity string `yaml:"min_signature_validity"`
	MaxValidityOverlap   string `yaml:"max_validity_overlap"`
	MinValidityOverlap   string `yaml:"min_validity_overlap"`
	Algorithm            uint8  `yaml:"algorithm"`
	RSASize              int    `yaml:"rsa_size"`
	RSAExponent          int    `yaml:"rsa_exponent"`
	ECSize               int    `yaml:"ec_size"`
}

// ErrProfile reports a profile that does not load.
var ErrProfile = errors.New("invalid profile")

// LoadProfile reads a profile strictly: unknown or duplicate keys are errors,
// and every KSK a schema names must be in the inventory.
func LoadProfile(name string, data []byte) (*Profile, error) {
	return loadProfile(name, data, false)
}

// LoadTokenProfile reads a profile as LoadProfile does, but checks only
// its token (and zone): what making the first KSK needs, before the
// inventory and the schemas name it. Unknown or duplicate keys are still
// errors.
func LoadTokenProfile(name string, data []byte) (*Profile, error) {
	return loadProfile(name, data, true)
}

func loadProfile(name string, data []byte, tokenOnly bool) (*Profile, error) {
	p := &Profile{Zone: ".", TTL: 172800, Name: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrProfile, name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	bad := func(format string, args ...any) (*Profile, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrProfile, name, fmt.Sprintf(format, args...))
	}
	switch p.Token.Backend {
	case "software":
		if len(p.Token.Keys) == 0 {
			return bad("token: the software backend needs keys: (label: PEM file)")
		}
	case "pkcs11":
		if p.Token.Module == "" || p.Token.Label == "" {
			return bad("token: the pkcs11 backend needs module: and label:")
		}
	default:
		return bad("token: backend %q (want software or pkcs11)", p.Token.Backend)
	}
	if tokenOnly {
		return p, nil
	}
	labels := map[string]bool{}
	for _, k := range p.KSKs {
		d, err := hex.DecodeString(k.DSSHA256)
		switch {
		case k.Label == "" || labels[k.Label]:
			return bad("ksks: label %q is empty or listed twice", k.Label)
		case err != nil || len(d) != 32:
			return bad("ksks: %s: ds_sha256 must be the 64 hex digits of a SHA-256 DS digest", k.Label)
		case k.ValidFrom.IsZero():
			return bad("ksks: %s: valid_from is required", k.Label)
		case !k.ValidUntil.IsZero() && !k.ValidUntil.After(k.ValidFrom):
			return bad("ksks: %s: valid_until is not after valid_from", k.Label)
		}
		labels[k.Label] = true
	}
	for name, slots := range p.Schemas {
		if len(slots) == 0 {
			return bad("schemas: %s has no slot", name)
		}
		for i, s := range slots {
			if len(s.Sign)+len(s.Revoke) == 0 {
				return bad("schemas: %s, slot %d: no key signs", name, i+1)
			}
			for _, l := range append(append(append([]string{}, s.Publish...), s.Sign...), s.Revoke...) {
				if !labels[l] {
					return bad("schemas: %s, slot %d: KSK %q is not in ksks:", name, i+1, l)
				}
			}
		}
	}
	if p.DefaultSchema != "" {
		if _, ok := p.Schemas[p.DefaultSchema]; !ok {
			return bad("default_schema %q is not under schemas:", p.DefaultSchema)
		}
	}
	if _, err := p.ResponsePolicy(); err != nil {
		return bad("ksk_policy: %v", err)
	}
	if o := p.TextOptions(); o != nil {
		for _, err := range []error{o.Knot.Check(), o.BIND.Check()} {
			if err != nil {
				return bad("text_signing.%v", err)
			}
		}
	}
	return p, nil
}

// Schema returns a schema by name ("" for the default).
func (p *Profile) Schema(name string) (dnssec.Schema, error) {
	if name == "" {
		name = p.DefaultSchema
	}
	slots, ok := p.Schemas[name]
	if !ok {
		return dnssec.Schema{}, fmt.Errorf("%s: no schema %q (the profile has %v)", p.Name, name, p.schemaNames())
	}
	return dnssec.Schema{Name: name, Slots: slots}, nil
}

func (p *Profile) schemaNames() []string {
	var out []string
	for n := range p.Schemas {
		out = append(out, n)
	}
	return out
}

// KSK returns the inventory record of a key label.
func (p *Profile) KSK(label string) (KSKRecord, bool) {
	for _, k := range p.KSKs {
		if k.Label == label {
			return k, true
		}
	}
	return KSKRecord{}, false
}

// ResponsePolicy is the KSK policy as it is written into an SKR.
func (p *Profile) ResponsePolicy() (dnssec.Policy, error) {
	kp := p.KSKPolicy
	var pol dnssec.Policy
	for _, f := range []struct {
		text string
		dst  *dnssec.Duration
	}{{kp.PublishSafety, &pol.PublishSafety}, {kp.RetireSafety, &pol.RetireSafety},
		{kp.MaxSignatureValidity, &pol.MaxSignatureValidity}, {kp.MinSignatureValidity, &pol.MinSignatureValidity},
		{kp.MaxValidityOverlap, &pol.MaxValidityOverlap}, {kp.MinValidityOverlap, &pol.MinValidityOverlap}} {
		if f.text == "" {
			return pol, errors.New("every duration is required (publish_safety … min_validity_overlap)")
		}
		if err := f.dst.UnmarshalText([]byte(f.text)); err != nil {
			return pol, err
		}
	}
	alg := dnssec.Algorithm{Algorithm: kp.Algorithm}
	switch kp.Algorithm {
	case 8:
		alg.RSA = &dnssec.RSAParams{Size: kp.RSASize, Exponent: kp.RSAExponent}
	case 13:
		alg.ECDSA = &dnssec.ECParams{Size: kp.ECSize}
	default:
		return pol, fmt.Errorf("algorithm %d (want 8 or 13)", kp.Algorithm)
	}
	pol.Algorithms = []dnssec.Algorithm{alg}
	return pol, nil
}
