package dnssec

import (
	"fmt"
	"time"
)

// The ids of the checks between the previous SKR and the new one.
const (
	CheckSafetyPublish = "KSR-POLICY-SAFETY-PUBLISH"
	CheckSafetyRetire  = "KSR-POLICY-SAFETY-RETIRE"
	CheckSigningKeys   = "SKR-SIGNING-KEYS-PUBLISHED"
)

// signersOf returns the identifiers of the keys that sign a bundle, and of
// those that sign without being revoked.
func signersOf(b Bundle) (all, live []string) {
	for _, s := range b.Signatures {
		all = append(all, s.KeyIdentifier)
		if k, ok := b.key(s.KeyIdentifier); ok && k.Flags&FlagRevoke == 0 {
			live = append(live, s.KeyIdentifier)
		}
	}
	return all, live
}

func published(b Bundle, id string) bool {
	_, ok := b.key(id)
	return ok
}

// CheckSafety checks a new SKR against the previous one, as IANA's signer
// does before writing it: a key that signs the new first bundle was already
// published in the previous SKR's last bundle, early enough (PublishSafety);
// the keys that signed the previous SKR's last bundle stay published until
// RetireSafety after the new first inception; and within the new SKR a key
// that signs stays published in every later bundle (a revoked key is exempt).
func CheckSafety(prev, next *Document, ksk Policy) []Result {
	var out []Result
	add := func(id, status, format string, args ...any) {
		out = append(out, Result{ID: id, Status: status, Detail: fmt.Sprintf(format, args...)})
	}
	nb := next.Bundles()
	if len(nb) == 0 {
		return out
	}
	first := nb[0]
	if prev == nil || len(prev.Bundles()) == 0 {
		add(CheckSafetyPublish, Pass, "no previous SKR given: publish safety is not checked")
		add(CheckSafetyRetire, Pass, "no previous SKR given: retire safety is not checked")
	} else {
		pb := prev.Bundles()
		last := pb[len(pb)-1]
		_, live := signersOf(first)
		status, detail := Pass, fmt.Sprintf("the keys signing bundle #1 were published in the previous SKR's last bundle (%s) at least %s before", last.ID, ksk.PublishSafety.Text)
		for _, id := range live {
			if !published(last, id) {
				status, detail = Fail, fmt.Sprintf("key %s signs bundle #1 (%s) but is not published in the previous SKR's last bundle (%s)", id, first.ID, last.ID)
				break
			}
		}
		if status == Pass {
			at := first.Inception.Add(-ksk.PublishSafety.D)
			if at.Before(last.Inception.Time) || at.After(last.Expiration.Time) {
				status, detail = Fail, fmt.Sprintf("bundle #1 starts %s; %s before that (%s) is outside the previous SKR's last bundle %s (%s to %s)",
					date(first.Inception), ksk.PublishSafety.Text, at.Format(time.DateTime), last.ID, date(last.Inception), date(last.Expiration))
			}
		}
		add(CheckSafetyPublish, status, "%s", detail)

		_, prevLive := signersOf(last)
		status, detail = Pass, fmt.Sprintf("the keys that signed the previous SKR's last bundle stay published until %s after bundle #1", ksk.RetireSafety.Text)
		limit := first.Inception.Add(ksk.RetireSafety.D)
	retire:
		for i, b := range nb {
			if b.Inception.After(limit) {
				break
			}
			for _, id := range prevLive {
				if !published(b, id) {
					status, detail = Fail, fmt.Sprintf("key %s signed the previous SKR's last bundle (%s) but is not published in %s, which starts %s, within %s of bundle #1",
						id, last.ID, bundleName(i, b), date(b.Inception), ksk.RetireSafety.Text)
					break retire
				}
			}
		}
		add(CheckSafetyRetire, status, "%s", detail)
	}

	status, detail := Pass, "every key that signs a bundle stays published in every later bundle"
keys:
	for i, b := range nb {
		_, live := signersOf(b)
		for j := i + 1; j < len(nb); j++ {
			for _, id := range live {
				if !published(nb[j], id) && !revokedIn(nb[i:j], id) {
					status, detail = Fail, fmt.Sprintf("key %s signs %s but is not published in %s", id, bundleName(i, b), bundleName(j, nb[j]))
					break keys
				}
			}
		}
	}
	add(CheckSigningKeys, status, "%s", detail)
	return out
}

// revokedIn reports whether a key is published revoked in any of bundles: a
// key retired by revocation may then leave.
func revokedIn(bundles []Bundle, id string) bool {
	for _, b := range bundles {
		if k, ok := b.key(id); ok && k.Flags&FlagRevoke != 0 {
			return true
		}
	}
	return false
}
