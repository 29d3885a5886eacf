package dnssec

import (
	"fmt"
	"slices"
	"time"
)

// Check result statuses.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

// Result is one policy check's outcome, with a sentence a person can act on.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// CheckPolicy holds the signer's policy for KSRs: IANA's defaults unless
// changed.
type CheckPolicy struct {
	Domains    []string      // acceptable domains
	NumBundles int           // bundles a KSR must hold
	Horizon    time.Duration // no bundle may expire further than this from now
	Algorithms []uint8       // approved algorithms
	// Relaxed lists checks whose failure is only a warning, as IANA's
	// signer can disable checks for historical KSRs.
	Relaxed []string
}

// DefaultPolicy is IANA's request policy (kskm's RequestPolicy defaults).
func DefaultPolicy() CheckPolicy {
	return CheckPolicy{Domains: []string{"."}, NumBundles: 9, Horizon: 180 * 24 * time.Hour, Algorithms: []uint8{8}}
}

// CheckKSR runs the policy checks on a KSR at the given time and returns
// every result (IANA's check ids). A KSR passes when no result fails.
func CheckKSR(d *Document, policy CheckPolicy, now time.Time) []Result {
	var out []Result
	add := func(id, status, format string, args ...any) {
		detail := fmt.Sprintf(format, args...)
		if status == Fail && slices.Contains(policy.Relaxed, id) {
			status, detail = Warn, detail+" (relaxed by the signing policy)"
		}
		out = append(out, Result{ID: id, Status: status, Detail: detail})
	}
	if d.Request == nil {
		return []Result{{ID: "KSR-FORMAT", Status: Fail, Detail: "the document is an SKR, not a KSR (no <Request>)"}}
	}
	bundles := d.Request.Bundles

	ok := false
	for _, dom := range policy.Domains {
		ok = ok || dom == d.Domain
	}
	if ok {
		add("KSR-DOMAIN", Pass, "domain %q is acceptable", d.Domain)
	} else {
		add("KSR-DOMAIN", Fail, "domain %q is not one this signer serves (%v)", d.Domain, policy.Domains)
	}

	seen := map[string]int{}
	status, detail := Pass, fmt.Sprintf("%d bundle ids, all different", len(bundles))
	for i, b := range bundles {
		if j, dup := seen[b.ID]; dup {
			status, detail = Fail, fmt.Sprintf("bundle #%d has the id %s of bundle #%d", i+1, b.ID, j+1)
			break
		}
		seen[b.ID] = i
	}
	add("KSR-BUNDLE-UNIQUE", status, "%s", detail)

	status, detail = Pass, "every ZSK is a zone key (flags 256) with the key tag it claims, the same in every bundle"
	keys := map[string]string{}
keyLoop:
	for i, b := range bundles {
		for _, k := range b.Keys {
			dk, err := k.DNSKEY(d.Domain)
			switch {
			case err != nil:
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): %v", i+1, b.ID, err)
			case k.Flags != FlagZone:
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): key %s has flags %d, want 256 (a ZSK)", i+1, b.ID, KeyLabel(k), k.Flags)
			case dk.KeyTag() != k.KeyTag:
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): key %s claims tag %d, its DNSKEY has tag %d", i+1, b.ID, shortID(k.KeyIdentifier), k.KeyTag, dk.KeyTag())
			case keys[k.KeyIdentifier] != "" && keys[k.KeyIdentifier] != k.PublicKey:
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): key %s differs from the key of the same identifier in an earlier bundle", i+1, b.ID, KeyLabel(k))
			}
			if status == Fail {
				break keyLoop
			}
			keys[k.KeyIdentifier] = k.PublicKey
		}
	}
	add("KSR-BUNDLE-KEYS", status, "%s", detail)

	status, detail = Pass, "every bundle's keys each signed the bundle's DNSKEY set (proof of possession)"
popLoop:
	for i, b := range bundles {
		signed := map[string]bool{}
		for _, s := range b.Signatures {
			if err := b.VerifySignature(d.Domain, s); err != nil {
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): %v", i+1, b.ID, err)
				break popLoop
			}
			signed[s.KeyIdentifier] = true
		}
		for _, k := range b.Keys {
			if !signed[k.KeyIdentifier] {
				status, detail = Fail, fmt.Sprintf("bundle #%d (%s): key %s made no signature", i+1, b.ID, KeyLabel(k))
				break popLoop
			}
		}
	}
	add("KSR-BUNDLE-POP", status, "%s", detail)

	if len(bundles) == policy.NumBundles {
		add("KSR-BUNDLE-COUNT", Pass, "%d bundles", len(bundles))
	} else {
		add("KSR-BUNDLE-COUNT", Fail, "%d bundles, the policy asks for %d", len(bundles), policy.NumBundles)
	}

	status, detail = Pass, "the policy's algorithms are approved"
	for _, a := range d.Request.Policy.Algorithms {
		approved := false
		for _, p := range policy.Algorithms {
			approved = approved || p == a.Algorithm
		}
		if !approved {
			status, detail = Fail, fmt.Sprintf("the ZSK policy names algorithm %d, which is not approved (%v)", a.Algorithm, policy.Algorithms)
		}
	}
	add("KSR-POLICY-ALG", status, "%s", detail)

	status, detail = Pass, fmt.Sprintf("every bundle expires after %s and within %d days of it", now.UTC().Format(time.DateOnly), int(policy.Horizon.Hours()/24))
	for i, b := range bundles {
		switch {
		case !b.Expiration.After(now):
			status, detail = Fail, fmt.Sprintf("bundle #%d (%s) expired on %s, before now (%s)", i+1, b.ID, b.Expiration.Format(time.DateOnly), now.UTC().Format(time.DateOnly))
		case b.Expiration.Sub(now) > policy.Horizon:
			status, detail = Fail, fmt.Sprintf("bundle #%d (%s) expires on %s, more than %d days from now (%s)", i+1, b.ID, b.Expiration.Format(time.DateOnly), int(policy.Horizon.Hours()/24), now.UTC().Format(time.DateOnly))
		}
		if status == Fail {
			break
		}
	}
	add("KSR-POLICY-SIG-HORIZON", status, "%s", detail)

	pol := d.Request.Policy
	status, detail = Pass, fmt.Sprintf("every bundle's validity lies within [%s, %s]", pol.MinSignatureValidity.Text, pol.MaxSignatureValidity.Text)
	for i, b := range bundles {
		v := b.Expiration.Sub(b.Inception.Time)
		if v < pol.MinSignatureValidity.D || v > pol.MaxSignatureValidity.D {
			status, detail = Fail, fmt.Sprintf("bundle #%d (%s): valid for %s (%s to %s), outside [%s, %s]", i+1, b.ID, FormatDuration(v),
				b.Inception.Format(time.RFC3339), b.Expiration.Format(time.RFC3339), pol.MinSignatureValidity.Text, pol.MaxSignatureValidity.Text)
			break
		}
	}
	add("KSR-POLICY-SIG-VALIDITY", status, "%s", detail)
	return out
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
