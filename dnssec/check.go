package dnssec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Check result statuses.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

// The ids of the KSR checks, as IANA names them (docs/ksr-processing.md of
// iana-org/dnssec-keytools), in the order they are run.
const (
	CheckDomain          = "KSR-DOMAIN"
	CheckID              = "KSR-ID"
	CheckBundleUnique    = "KSR-BUNDLE-UNIQUE"
	CheckBundleKeys      = "KSR-BUNDLE-KEYS"
	CheckBundlePOP       = "KSR-BUNDLE-POP"
	CheckBundleCount     = "KSR-BUNDLE-COUNT"
	CheckCycleDuration   = "KSR-BUNDLE-CYCLE-DURATION"
	CheckPolicyKeys      = "KSR-POLICY-KEYS"
	CheckPolicyAlg       = "KSR-POLICY-ALG"
	CheckSigOverlap      = "KSR-POLICY-SIG-OVERLAP"
	CheckSigValidity     = "KSR-POLICY-SIG-VALIDITY"
	CheckSigHorizon      = "KSR-POLICY-SIG-HORIZON"
	CheckBundleIntervals = "KSR-POLICY-BUNDLE-INTERVALS"
	CheckChainKeys       = "KSR-CHAIN-KEYS"
	CheckChainOverlap    = "KSR-CHAIN-OVERLAP"
)

// AllChecks lists every KSR check id.
var allChecks = []string{CheckDomain, CheckID, CheckBundleUnique, CheckBundleKeys, CheckBundlePOP, CheckBundleCount,
	CheckCycleDuration, CheckPolicyKeys, CheckPolicyAlg, CheckSigOverlap, CheckSigValidity, CheckSigHorizon,
	CheckBundleIntervals, CheckChainKeys, CheckChainOverlap}

// Result is one policy check's outcome, with a sentence a person can act on.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// CheckPolicy is the signer's request policy: IANA's defaults unless a
// policy file changes them.
type CheckPolicy struct {
	Domains         []string `yaml:"domains"`
	NumBundles      int      `yaml:"num_bundles"`
	HorizonDays     int      `yaml:"signature_horizon_days"`
	Algorithms      []uint8  `yaml:"approved_algorithms"`
	RSASizes        []int    `yaml:"rsa_approved_key_sizes"`
	RSAExponents    []int    `yaml:"rsa_approved_exponents"`
	KeysPerBundle   []int    `yaml:"keys_per_bundle"`
	DistinctKeys    int      `yaml:"distinct_keys"`
	CycleMinDays    int      `yaml:"cycle_length_min_days"`
	CycleMaxDays    int      `yaml:"cycle_length_max_days"`
	IntervalMinDays int      `yaml:"bundle_interval_min_days"`
	IntervalMaxDays int      `yaml:"bundle_interval_max_days"`
	// RSAExponentMatch: a ZSK's RSA exponent must be the one its KSR's
	// policy declares (false: a mismatch only warns, as IANA allows).
	RSAExponentMatch bool          `yaml:"rsa_exponent_match_zsk_policy"`
	Relaxed          []string      `yaml:"relax"` // failures reported as warnings
	Skipped          []string      `yaml:"skip"`  // checks not run
	Horizon          time.Duration `yaml:"-"`
}

// DefaultPolicy is IANA's request policy (kskm's RequestPolicy defaults).
func DefaultPolicy() CheckPolicy {
	return CheckPolicy{Domains: []string{"."}, NumBundles: 9, HorizonDays: 180, Algorithms: []uint8{8},
		RSASizes: []int{2048}, RSAExponents: []int{65537}, KeysPerBundle: []int{2, 1, 1, 1, 1, 1, 1, 1, 2},
		DistinctKeys: 3, RSAExponentMatch: true, CycleMinDays: 79, CycleMaxDays: 81, IntervalMinDays: 9, IntervalMaxDays: 11,
		Horizon: 180 * 24 * time.Hour}
}

// LoadPolicy reads a policy file (YAML, strict: unknown or duplicate keys
// are errors). What it does not name keeps IANA's default.
func LoadPolicy(name string, data []byte) (CheckPolicy, error) {
	p := DefaultPolicy()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return CheckPolicy{}, fmt.Errorf("%s: %v", name, err)
	}
	for _, id := range append(slices.Clone(p.Relaxed), p.Skipped...) {
		if !slices.Contains(allChecks, id) {
			return CheckPolicy{}, fmt.Errorf("%s: %q is not a check id (they are %v)", name, id, allChecks)
		}
	}
	if p.NumBundles < 1 || p.HorizonDays < 1 || len(p.Algorithms) == 0 {
		return CheckPolicy{}, fmt.Errorf("%s: num_bundles, signature_horizon_days and approved_algorithms must be set", name)
	}
	p.Horizon = time.Duration(p.HorizonDays) * 24 * time.Hour
	return p, nil
}

const day = 24 * time.Hour

// CheckKSR runs every KSR check at the given time and returns each result.
// previous is the last SKR the signer produced (nil when there is none: the
// checks that need it say so and pass). A KSR passes when no result fails.
//
// KSR-POLICY-SIG-VALIDITY checks the validity against [Min, Max]. IANA's
// code compares the lower bound with MaxSignatureValidity (a quirk without
// effect while both are P21D); this is the bound its message and the
// policy intend.
func CheckKSR(d *Document, policy CheckPolicy, now time.Time, previous *Document) []Result {
	if policy.Horizon == 0 {
		policy.Horizon = time.Duration(policy.HorizonDays) * day
	}
	var out []Result
	add := func(id, status, format string, args ...any) {
		if slices.Contains(policy.Skipped, id) {
			return
		}
		detail := fmt.Sprintf(format, args...)
		if status == Fail && slices.Contains(policy.Relaxed, id) {
			status, detail = Warn, detail+" (relaxed by the signing policy)"
		}
		out = append(out, Result{ID: id, Status: status, Detail: detail})
	}
	if d.Request == nil {
		return []Result{{ID: "KSR-FORMAT", Status: Fail, Detail: "the document is an SKR, not a KSR (no <Request>)"}}
	}
	c := &checker{d: d, bundles: d.Request.Bundles, pol: d.Request.Policy, policy: policy, now: now, prev: previous, add: add}
	if d.Format != "" {
		c.text()
		return out
	}
	c.domain()
	c.id()
	c.unique()
	c.keys()
	c.pop()
	c.count()
	c.cycle()
	c.policyKeys()
	c.alg()
	c.overlap()
	c.validity()
	c.horizon()
	c.intervals()
	c.chainKeys()
	c.chainOverlap()
	return out
}

type checker struct {
	d       *Document
	bundles []Bundle
	pol     Policy // the KSR's own ZSK policy
	policy  CheckPolicy
	now     time.Time
	prev    *Document
	add     func(id, status, format string, args ...any)
}

func bundleName(i int, b Bundle) string { return fmt.Sprintf("bundle #%d (%s)", i+1, b.ID) }

func date(t Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func (c *checker) domain() {
	if slices.Contains(c.policy.Domains, c.d.Domain) {
		c.add(CheckDomain, Pass, "domain %q is one this signer serves", c.d.Domain)
	} else {
		c.add(CheckDomain, Fail, "domain %q is not one this signer serves (%v)", c.d.Domain, c.policy.Domains)
	}
}

func (c *checker) id() {
	switch {
	case c.prev == nil:
		c.add(CheckID, Pass, "no previous SKR given; KSR id %s", c.d.ID)
	case c.prev.ID == c.d.ID:
		c.add(CheckID, Fail, "KSR id %s is the id of the previous SKR: this KSR was answered already (replay)", c.d.ID)
	default:
		c.add(CheckID, Pass, "KSR id %s differs from the previous SKR's %s", c.d.ID, c.prev.ID)
	}
}

func (c *checker) unique() {
	seen := map[string]int{}
	for i, b := range c.bundles {
		if j, dup := seen[b.ID]; dup {
			c.add(CheckBundleUnique, Fail, "%s has the id of bundle #%d", bundleName(i, b), j+1)
			return
		}
		seen[b.ID] = i
	}
	if c.prev != nil {
		for j, pb := range c.prev.Bundles() {
			if i, dup := seen[pb.ID]; dup {
				c.add(CheckBundleUnique, Fail, "%s has the id of bundle #%d of the previous SKR", bundleName(i, c.bundles[i]), j+1)
				return
			}
		}
	}
	c.add(CheckBundleUnique, Pass, "%d bundle ids, all different (and none in the previous SKR)", len(c.bundles))
}

func (c *checker) keys() {
	seen := map[string]Key{}
	warning := ""
	for i, b := range c.bundles {
		for _, k := range b.Keys {
			dk, err := k.DNSKEY(c.d.Domain)
			switch {
			case err != nil:
				c.add(CheckBundleKeys, Fail, "%s: %v", bundleName(i, b), err)
				return
			case k.Flags != FlagZone:
				c.add(CheckBundleKeys, Fail, "%s: key %s has flags %d, want 256 (a zone-signing key)", bundleName(i, b), KeyLabel(k), k.Flags)
				return
			case k.Protocol != 3:
				c.add(CheckBundleKeys, Fail, "%s: key %s has protocol %d, want 3", bundleName(i, b), KeyLabel(k), k.Protocol)
				return
			case dk.KeyTag() != k.KeyTag:
				c.add(CheckBundleKeys, Fail, "%s: key %s claims tag %d, its DNSKEY has tag %d", bundleName(i, b), shortID(k.KeyIdentifier), k.KeyTag, dk.KeyTag())
				return
			}
			if old, ok := seen[k.KeyIdentifier]; ok && (old.PublicKey != k.PublicKey || old.Algorithm != k.Algorithm || old.KeyTag != k.KeyTag) {
				c.add(CheckBundleKeys, Fail, "%s: key %s differs from the key of the same identifier in an earlier bundle", bundleName(i, b), KeyLabel(k))
				return
			}
			seen[k.KeyIdentifier] = k
			if msg, expOnly := c.matchesZSKPolicy(k); msg != "" {
				if !expOnly || c.policy.RSAExponentMatch {
					c.add(CheckBundleKeys, Fail, "%s: key %s %s", bundleName(i, b), KeyLabel(k), msg)
					return
				}
				if warning == "" {
					warning = fmt.Sprintf("%s: key %s %s (the policy lets the exponent differ)", bundleName(i, b), KeyLabel(k), msg)
				}
			}
		}
	}
	if warning != "" {
		c.add(CheckBundleKeys, Warn, "%s", warning)
		return
	}
	c.add(CheckBundleKeys, Pass, "every key is a ZSK with the tag it claims, the same in every bundle, and matches the KSR's ZSK policy")
}

// matchesZSKPolicy says why a key does not match any algorithm the KSR's
// own ZSK policy declares, or "", and whether only the RSA exponent differs.
func (c *checker) matchesZSKPolicy(k Key) (string, bool) {
	size, exp, err := keyParams(k)
	if err != nil {
		return err.Error(), false
	}
	expOnly := false
	for _, a := range c.pol.Algorithms {
		if a.Algorithm != k.Algorithm {
			continue
		}
		switch {
		case a.RSA != nil && a.RSA.Size == size && a.RSA.Exponent == exp:
			return "", false
		case a.RSA != nil && a.RSA.Size == size:
			expOnly = true
		case a.ECDSA != nil && a.ECDSA.Size == size:
			return "", false
		}
	}
	if exp != 0 {
		return fmt.Sprintf("(algorithm %d, RSA %d bits, exponent %d) matches no algorithm of the KSR's ZSK policy", k.Algorithm, size, exp), expOnly
	}
	return fmt.Sprintf("(algorithm %d, %d bits) matches no algorithm of the KSR's ZSK policy", k.Algorithm, size), false
}

func (c *checker) pop() {
	bad := 0
	for i, b := range c.bundles {
		signed := map[string]bool{}
		for _, s := range b.Signatures {
			if err := b.VerifySignature(c.d.Domain, s); err != nil {
				c.add(CheckBundlePOP, Fail, "%s: %v", bundleName(i, b), err)
				bad++
				continue
			}
			signed[s.KeyIdentifier] = true
		}
		for _, k := range b.Keys {
			if !signed[k.KeyIdentifier] && !hasSigBy(b, k.KeyIdentifier) {
				c.add(CheckBundlePOP, Fail, "%s: key %s made no signature over the bundle (no proof of possession)", bundleName(i, b), KeyLabel(k))
				bad++
			}
		}
	}
	if bad == 0 {
		c.add(CheckBundlePOP, Pass, "in every bundle each key signed the bundle's DNSKEY set (proof of possession)")
	}
}

func hasSigBy(b Bundle, id string) bool {
	for _, s := range b.Signatures {
		if s.KeyIdentifier == id {
			return true
		}
	}
	return false
}

// keyParams returns a key's size in bits, and its public exponent for RSA.
func keyParams(k Key) (size, exponent int, err error) {
	raw, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil {
		return 0, 0, fmt.Errorf("has a public key that is not base64")
	}
	switch k.Algorithm {
	case 5, 7, 8, 10: // RSA (RFC 3110)
		if len(raw) < 3 {
			return 0, 0, fmt.Errorf("has a truncated RSA public key")
		}
		elen, off := int(raw[0]), 1
		if elen == 0 {
			elen, off = int(raw[1])<<8|int(raw[2]), 3
		}
		if elen == 0 || off+elen >= len(raw) || elen > 8 {
			return 0, 0, fmt.Errorf("has a malformed RSA public key")
		}
		e := new(big.Int).SetBytes(raw[off : off+elen])
		n := new(big.Int).SetBytes(raw[off+elen:])
		return n.BitLen(), int(e.Int64()), nil
	case 13, 14: // ECDSA P-256, P-384 (RFC 6605)
		return len(raw) * 4, 0, nil
	}
	return 0, 0, fmt.Errorf("uses algorithm %d, which this signer does not support", k.Algorithm)
}

func (c *checker) count() {
	if n := len(c.bundles); n == c.policy.NumBundles {
		c.add(CheckBundleCount, Pass, "%d bundles", n)
	} else {
		c.add(CheckBundleCount, Fail, "%d bundles, the policy asks for %d", n, c.policy.NumBundles)
	}
}

func (c *checker) cycle() {
	if len(c.bundles) < 2 {
		c.add(CheckCycleDuration, Fail, "a cycle needs at least two bundles")
		return
	}
	first, last := c.bundles[0], c.bundles[len(c.bundles)-1]
	span := last.Inception.Sub(first.Inception.Time)
	lo, hi := time.Duration(c.policy.CycleMinDays)*day, time.Duration(c.policy.CycleMaxDays)*day
	if span < lo || span > hi {
		c.add(CheckCycleDuration, Fail, "from the first inception (%s) to the last (%s) is %s, outside [%d, %d] days",
			date(first.Inception), date(last.Inception), FormatDuration(span), c.policy.CycleMinDays, c.policy.CycleMaxDays)
		return
	}
	c.add(CheckCycleDuration, Pass, "the cycle spans %s, within [%d, %d] days", FormatDuration(span), c.policy.CycleMinDays, c.policy.CycleMaxDays)
}

func (c *checker) policyKeys() {
	distinct := map[string]bool{}
	for i, b := range c.bundles {
		for _, k := range b.Keys {
			distinct[k.KeyIdentifier] = true
		}
		if i < len(c.policy.KeysPerBundle) && len(b.Keys) != c.policy.KeysPerBundle[i] {
			c.add(CheckPolicyKeys, Fail, "%s holds %d keys, the KSK operator's policy says %d (%v)", bundleName(i, b), len(b.Keys), c.policy.KeysPerBundle[i], c.policy.KeysPerBundle)
			return
		}
	}
	if len(distinct) != c.policy.DistinctKeys {
		c.add(CheckPolicyKeys, Warn, "%d distinct keys in the KSR, the policy expects %d", len(distinct), c.policy.DistinctKeys)
		return
	}
	c.add(CheckPolicyKeys, Pass, "keys per bundle %v, %d distinct keys", c.policy.KeysPerBundle, len(distinct))
}

func (c *checker) alg() {
	deprecated := map[uint8]string{1: "RSAMD5", 3: "DSA", 6: "DSA-NSEC3-SHA1", 12: "ECC-GOST"}
	for _, a := range c.pol.Algorithms {
		if name, bad := deprecated[a.Algorithm]; bad {
			c.add(CheckPolicyAlg, Fail, "the ZSK policy names algorithm %d (%s), which is deprecated", a.Algorithm, name)
			return
		}
		if !slices.Contains(c.policy.Algorithms, a.Algorithm) {
			c.add(CheckPolicyAlg, Fail, "the ZSK policy names algorithm %d, which is not approved (%v)", a.Algorithm, c.policy.Algorithms)
			return
		}
		if a.RSA != nil {
			if !slices.Contains(c.policy.RSASizes, a.RSA.Size) {
				c.add(CheckPolicyAlg, Fail, "the ZSK policy names RSA keys of %d bits; the approved sizes are %v", a.RSA.Size, c.policy.RSASizes)
				return
			}
			if !slices.Contains(c.policy.RSAExponents, a.RSA.Exponent) {
				c.add(CheckPolicyAlg, Fail, "the ZSK policy names RSA exponent %d; the approved exponents are %v", a.RSA.Exponent, c.policy.RSAExponents)
				return
			}
		}
	}
	if len(c.pol.Algorithms) == 0 {
		c.add(CheckPolicyAlg, Fail, "the KSR's ZSK policy names no signature algorithm")
		return
	}
	c.add(CheckPolicyAlg, Pass, "the ZSK policy's algorithms, sizes and exponents are approved")
}

func (c *checker) overlap() {
	lo, hi := c.pol.MinValidityOverlap, c.pol.MaxValidityOverlap
	for i := 1; i < len(c.bundles); i++ {
		p, b := c.bundles[i-1], c.bundles[i]
		if p.Expiration.Before(b.Inception.Time) {
			c.add(CheckSigOverlap, Fail, "%s expires %s, before %s starts %s: the signatures leave a gap", bundleName(i-1, p), date(p.Expiration), bundleName(i, b), date(b.Inception))
			return
		}
		ov := p.Expiration.Sub(b.Inception.Time)
		if ov < lo.D || ov > hi.D {
			c.add(CheckSigOverlap, Fail, "%s and %s overlap for %s (%s to %s), outside [%s, %s]", bundleName(i-1, p), bundleName(i, b), FormatDuration(ov), date(b.Inception), date(p.Expiration), lo.Text, hi.Text)
			return
		}
	}
	c.add(CheckSigOverlap, Pass, "consecutive bundles overlap within [%s, %s], with no gap", lo.Text, hi.Text)
}

func (c *checker) validity() {
	lo, hi := c.pol.MinSignatureValidity, c.pol.MaxSignatureValidity
	for i, b := range c.bundles {
		v := b.Expiration.Sub(b.Inception.Time)
		if v < lo.D || v > hi.D {
			c.add(CheckSigValidity, Fail, "%s is valid for %s (%s to %s), outside [%s, %s]", bundleName(i, b), FormatDuration(v), date(b.Inception), date(b.Expiration), lo.Text, hi.Text)
			return
		}
	}
	c.add(CheckSigValidity, Pass, "every bundle's validity lies within [%s, %s]", lo.Text, hi.Text)
}

func (c *checker) horizon() {
	now := c.now.UTC()
	for i, b := range c.bundles {
		switch {
		case !b.Expiration.After(now):
			c.add(CheckSigHorizon, Fail, "%s expired on %s, before now (%s); check with --now if this KSR is historical", bundleName(i, b), date(b.Expiration), now.Format(time.DateTime))
			return
		case b.Expiration.Sub(now) > c.policy.Horizon:
			c.add(CheckSigHorizon, Fail, "%s expires on %s, more than %d days after now (%s)", bundleName(i, b), date(b.Expiration), c.policy.HorizonDays, now.Format(time.DateTime))
			return
		}
	}
	c.add(CheckSigHorizon, Pass, "every bundle expires after now (%s) and within %d days of it", now.Format(time.DateTime), c.policy.HorizonDays)
}

func (c *checker) intervals() {
	lo, hi := time.Duration(c.policy.IntervalMinDays)*day, time.Duration(c.policy.IntervalMaxDays)*day
	for i := 1; i < len(c.bundles); i++ {
		p, b := c.bundles[i-1], c.bundles[i]
		iv := b.Inception.Sub(p.Inception.Time)
		if iv < lo || iv > hi {
			c.add(CheckBundleIntervals, Fail, "%s starts %s after %s (%s to %s), outside [%d, %d] days", bundleName(i, b), FormatDuration(iv), bundleName(i-1, p), date(p.Inception), date(b.Inception), c.policy.IntervalMinDays, c.policy.IntervalMaxDays)
			return
		}
	}
	c.add(CheckBundleIntervals, Pass, "consecutive bundles start [%d, %d] days apart", c.policy.IntervalMinDays, c.policy.IntervalMaxDays)
}

func (c *checker) lastPrevBundle() (int, Bundle, bool) {
	if c.prev == nil {
		return 0, Bundle{}, false
	}
	pb := c.prev.Bundles()
	if len(pb) == 0 {
		return 0, Bundle{}, false
	}
	return len(pb) - 1, pb[len(pb)-1], true
}

func (c *checker) chainKeys() {
	pi, last, ok := c.lastPrevBundle()
	if !ok {
		c.add(CheckChainKeys, Pass, "no previous SKR given: the chain is not checked")
		return
	}
	if len(c.bundles) == 0 {
		return
	}
	first := c.bundles[0]
	for _, k := range first.Keys {
		found := false
		for _, pk := range last.Keys {
			found = found || (pk.PublicKey == k.PublicKey && pk.Algorithm == k.Algorithm)
		}
		if !found {
			c.add(CheckChainKeys, Fail, "key %s of %s is not in bundle #%d (%s), the last of the previous SKR", KeyLabel(k), bundleName(0, first), pi+1, last.ID)
			return
		}
	}
	c.add(CheckChainKeys, Pass, "every key of bundle #1 is in the last bundle of the previous SKR (%s)", last.ID)
}

func (c *checker) chainOverlap() {
	_, last, ok := c.lastPrevBundle()
	if !ok {
		c.add(CheckChainOverlap, Pass, "no previous SKR given: the chain is not checked")
		return
	}
	if len(c.bundles) == 0 {
		return
	}
	first := c.bundles[0]
	ov := last.Expiration.Sub(first.Inception.Time)
	lo, hi := c.pol.MinValidityOverlap, c.pol.MaxValidityOverlap
	if ov < lo.D || ov > hi.D {
		c.add(CheckChainOverlap, Fail, "the previous SKR's last bundle (%s) expires %s; bundle #1 (%s) starts %s: an overlap of %s, outside [%s, %s]",
			last.ID, date(last.Expiration), first.ID, date(first.Inception), FormatDuration(ov), lo.Text, hi.Text)
		return
	}
	c.add(CheckChainOverlap, Pass, "the previous SKR's last bundle overlaps bundle #1 by %s, within [%s, %s]", FormatDuration(ov), lo.Text, hi.Text)
}

// Passed reports whether no result failed.
func Passed(results []Result) bool {
	for _, r := range results {
		if r.Status == Fail {
			return false
		}
	}
	return len(results) > 0
}
