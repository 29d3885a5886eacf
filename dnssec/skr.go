package dnssec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Anchor is a trust anchor for a KSK: the SHA-256 DS digest of its DNSKEY,
// with the key tag and algorithm, valid for a period (RFC 7958 / RFC 9718).
type Anchor struct {
	ID         string
	KeyTag     uint16
	Algorithm  uint8
	Digest     string // lowercase hex SHA-256 of the DNSKEY (DS digest type 2)
	ValidFrom  time.Time
	ValidUntil time.Time // zero: open-ended
}

// ParseAnchors reads trust anchors: a root-anchors.xml file (RFC 7958 or RFC
// 9718), or DNSKEY and DS records in zone-file text (one per line).
func ParseAnchors(data []byte) ([]Anchor, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: anchor file of %d bytes", ErrFormat, len(data))
	}
	if bytes.Contains(data, []byte("<TrustAnchor")) {
		return parseAnchorXML(data)
	}
	var out []Anchor
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil || rr == nil {
			return nil, fmt.Errorf("%w: line %d is not a DNSKEY or DS record: %v", ErrFormat, n, err)
		}
		switch r := rr.(type) {
		case *dns.DNSKEY:
			ds := DS(r)
			out = append(out, Anchor{ID: fmt.Sprintf("DNSKEY %d", r.KeyTag()), KeyTag: ds.KeyTag, Algorithm: ds.Algorithm, Digest: strings.ToLower(ds.Digest)})
		case *dns.DS:
			if r.DigestType != dns.SHA256 {
				return nil, fmt.Errorf("%w: line %d: DS digest type %d (want 2, SHA-256)", ErrFormat, n, r.DigestType)
			}
			out = append(out, Anchor{ID: fmt.Sprintf("DS %d", r.KeyTag), KeyTag: r.KeyTag, Algorithm: r.Algorithm, Digest: strings.ToLower(r.Digest)})
		default:
			return nil, fmt.Errorf("%w: line %d is a %s record, not a DNSKEY or DS", ErrFormat, n, dns.TypeToString[rr.Header().Rrtype])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no trust anchor in the file", ErrFormat)
	}
	return out, nil
}

func parseAnchorXML(data []byte) ([]Anchor, error) {
	var ta struct {
		Zone    string `xml:"Zone"`
		Digests []struct {
			ID         string `xml:"id,attr"`
			ValidFrom  string `xml:"validFrom,attr"`
			ValidUntil string `xml:"validUntil,attr"`
			KeyTag     uint16 `xml:"KeyTag"`
			Algorithm  uint8  `xml:"Algorithm"`
			DigestType uint8  `xml:"DigestType"`
			Digest     string `xml:"Digest"`
		} `xml:"KeyDigest"`
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = map[string]string{}
	if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) {
		return nil, fmt.Errorf("%w: a DOCTYPE in the trust anchor file", ErrFormat)
	}
	if err := dec.Decode(&ta); err != nil {
		return nil, fmt.Errorf("%w: trust anchor XML: %v", ErrFormat, err)
	}
	var out []Anchor
	for _, d := range ta.Digests {
		if d.DigestType != dns.SHA256 {
			continue // only SHA-256 digests are used
		}
		a := Anchor{ID: d.ID, KeyTag: d.KeyTag, Algorithm: d.Algorithm, Digest: strings.ToLower(d.Digest)}
		if _, err := hex.DecodeString(a.Digest); err != nil || len(a.Digest) != 64 {
			return nil, fmt.Errorf("%w: anchor %s: digest is not 32 bytes of hex", ErrFormat, d.ID)
		}
		var err error
		if a.ValidFrom, err = time.Parse(time.RFC3339, d.ValidFrom); err != nil {
			return nil, fmt.Errorf("%w: anchor %s: validFrom %q", ErrFormat, d.ID, d.ValidFrom)
		}
		if d.ValidUntil != "" {
			if a.ValidUntil, err = time.Parse(time.RFC3339, d.ValidUntil); err != nil {
				return nil, fmt.Errorf("%w: anchor %s: validUntil %q", ErrFormat, d.ID, d.ValidUntil)
			}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no SHA-256 key digest in the trust anchor file", ErrFormat)
	}
	return out, nil
}

// matchAnchor returns the anchor a KSK matches (ignoring the REVOKE bit: a
// revoked key is the anchored key announcing its end).
func matchAnchor(k Key, zone string, anchors []Anchor) (Anchor, bool) {
	dk, err := k.DNSKEY(zone)
	if err != nil {
		return Anchor{}, false
	}
	plain := *dk
	plain.Flags &^= FlagRevoke
	ds := DS(&plain)
	for _, a := range anchors {
		if a.Digest == strings.ToLower(ds.Digest) && a.KeyTag == ds.KeyTag && a.Algorithm == ds.Algorithm {
			return a, true
		}
	}
	return Anchor{}, false
}

// The ids of the SKR checks.
const (
	CheckSKRFormat     = "SKR-FORMAT"
	CheckSKRSignatures = "SKR-SIGNATURES"
	CheckSKRSigDates   = "SKR-SIGNATURE-DATES"
	CheckSKROrder      = "SKR-BUNDLE-ORDER"
	CheckSKRAnchor     = "SKR-ANCHOR"
	CheckSKRMatch      = "SKR-MATCH"
	CheckSKRPolicy     = "SKR-POLICY"
	CheckSKRExpiry     = "SKR-EXPIRY"
	CheckSKRCoverage   = "SKR-COVERAGE"
	CheckSKRTiming     = "SKR-TIMING"
)

// TimingDiff says where a KSR's request bundles, as cut by a signer's
// timing, and an SKR's bundles differ in time, signature validity or ZSKs,
// or "" when they are the same, bundle for bundle.
func TimingDiff(req, resp []Bundle) string {
	if len(req) != len(resp) {
		return fmt.Sprintf("%d bundles where the timing cuts %d", len(resp), len(req))
	}
	zsks := func(b Bundle) string {
		var out []string
		for _, k := range b.Keys {
			if k.Flags&FlagSEP == 0 {
				out = append(out, k.PublicKey)
			}
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	for i := range req {
		a, b := req[i], resp[i]
		if !a.At.Equal(b.At) || !a.Inception.Equal(b.Inception.Time) || !a.Expiration.Equal(b.Expiration.Time) || zsks(a) != zsks(b) {
			what := "other ZSKs"
			if zsks(a) == zsks(b) {
				what = "the same ZSKs"
			}
			return fmt.Sprintf("%s is from %s, valid %s to %s; the timing has it from %s, valid %s to %s (%s)", bundleName(i, b),
				b.At.UTC().Format(time.DateTime), date(b.Inception), date(b.Expiration),
				a.At.UTC().Format(time.DateTime), date(a.Inception), date(a.Expiration), what)
		}
	}
	return ""
}

// VerifySKR checks an SKR: every signature verifies with the bundle's key of
// the same identifier; signatures are made by KSKs (SEP flag) that match a
// trust anchor valid over the bundle; signature dates are the bundle's;
// bundles come in order; with ksr, the SKR answers it (ids, bundles, dates,
// ZSK sets); the response policy (bundle count); with now, whether the SKR
// is still in force.
func VerifySKR(skr *Document, anchors []Anchor, ksr *Document, policy CheckPolicy, now time.Time) []Result {
	var out []Result
	add := func(id, status, format string, args ...any) {
		out = append(out, Result{ID: id, Status: status, Detail: fmt.Sprintf(format, args...)})
	}
	if skr.Response == nil {
		add(CheckSKRFormat, Fail, "the document is a KSR, not an SKR (no <Response>)")
		return out
	}
	add(CheckSKRFormat, Pass, "SKR %s for domain %q with %d bundles", skr.ID, skr.Domain, len(skr.Response.Bundles))
	bundles := skr.Response.Bundles

	status, detail := Pass, "every signature verifies with the key of its identifier in its bundle"
	datesStatus, datesDetail := Pass, "every signature's inception and expiration are its bundle's"
	cryptoErrs := verifyBundles(skr.Domain, bundles)
	for i, b := range bundles {
		if len(b.Signatures) == 0 {
			status, detail = Fail, fmt.Sprintf("%s has no signature", bundleName(i, b))
			break
		}
		if err := cryptoErrs[i]; err != nil {
			status, detail = Fail, fmt.Sprintf("%s: %v", bundleName(i, b), err)
			break
		}
		for _, s := range b.Signatures {
			if !s.SignatureInception.Equal(b.Inception.Time) || !s.SignatureExpiration.Equal(b.Expiration.Time) {
				if datesStatus == Pass {
					datesStatus, datesDetail = Fail, fmt.Sprintf("%s: the signature by %s runs %s to %s, the bundle %s to %s", bundleName(i, b), s.KeyIdentifier,
						date(s.SignatureInception), date(s.SignatureExpiration), date(b.Inception), date(b.Expiration))
				}
			}
		}
	}
	add(CheckSKRSignatures, status, "%s", detail)
	add(CheckSKRSigDates, datesStatus, "%s", datesDetail)

	status, detail = Pass, "bundles come in order of inception"
	for i := 1; i < len(bundles); i++ {
		// A text SKR may repeat a time: BIND supersedes a key set's last
		// bundle with the next key set's first.
		if p := bundles[i-1].Inception.Time; bundles[i].Inception.Before(p) || skr.Format == "" && bundles[i].Inception.Equal(p) {
			status, detail = Fail, fmt.Sprintf("%s starts %s, not after %s (%s)", bundleName(i, bundles[i]), date(bundles[i].Inception), bundleName(i-1, bundles[i-1]), date(bundles[i-1].Inception))
			break
		}
	}
	add(CheckSKROrder, status, "%s", detail)

	status, detail = Pass, ""
	var used []string
anchorLoop:
	for i, b := range bundles {
		for _, s := range b.Signatures {
			k, ok := b.key(s.KeyIdentifier)
			if !ok {
				continue // reported by SKR-SIGNATURES
			}
			if k.Flags&FlagSEP == 0 {
				status, detail = Fail, fmt.Sprintf("%s is signed by %s, which is not a KSK (flags %d)", bundleName(i, b), KeyLabel(k), k.Flags)
				break anchorLoop
			}
			a, ok := matchAnchor(k, skr.Domain, anchors)
			switch {
			case !ok:
				status, detail = Fail, fmt.Sprintf("%s is signed by %s, which matches no trust anchor", bundleName(i, b), KeyLabel(k))
				break anchorLoop
			case a.ValidFrom.After(b.Inception.Time) || (!a.ValidUntil.IsZero() && a.ValidUntil.Before(b.Expiration.Time)):
				status, detail = Fail, fmt.Sprintf("%s (%s to %s) is signed by %s, whose anchor %s is valid from %s to %s", bundleName(i, b),
					date(b.Inception), date(b.Expiration), KeyLabel(k), a.ID, a.ValidFrom.Format(time.DateTime), untilText(a.ValidUntil))
				break anchorLoop
			}
			if !slices.Contains(used, a.ID) {
				used = append(used, a.ID)
			}
		}
	}
	if status == Pass {
		detail = fmt.Sprintf("every signing KSK matches a trust anchor valid over its bundle (%s)", strings.Join(used, ", "))
	}
	add(CheckSKRAnchor, status, "%s", detail)

	if ksr != nil {
		if msg := answers(skr, ksr); msg != "" {
			add(CheckSKRMatch, Fail, "%s", msg)
		} else {
			if skr.Format != "" {
				add(CheckSKRMatch, Pass, "the SKR answers KSR %s: the ZSKs it asks for, at the start of each of its key sets and of each bundle", ksr.ID)
			} else {
				add(CheckSKRMatch, Pass, "the SKR answers KSR %s: same id, serial, domain, bundles, dates and ZSKs", ksr.ID)
			}
		}
	}

	if skr.Format != "" {
		add(CheckSKRPolicy, Pass, "%d bundles, each signed (the %s format has the operator's own cycle)", len(bundles), skr.Format)
	} else if len(bundles) == policy.NumBundles {
		add(CheckSKRPolicy, Pass, "%d bundles, each signed", len(bundles))
	} else {
		add(CheckSKRPolicy, Fail, "%d bundles, the response policy asks for %d", len(bundles), policy.NumBundles)
	}

	// Coverage: from the first bundle's inception to the last one's
	// expiration, at every instant some bundle's signatures over the DNSKEY
	// set are valid; a validator sees the zone bogus in a gap.
	status, detail = Pass, ""
	end := time.Time{}
	for i, b := range bundles {
		if i > 0 && b.Inception.After(end) {
			status, detail = Fail, fmt.Sprintf("from %s to %s (%s) no bundle's signatures are valid: %s starts after every bundle before it has expired",
				end.UTC().Format(time.DateTime), date(b.Inception), FormatDuration(b.Inception.Sub(end)), bundleName(i, b))
			break
		}
		if b.Expiration.After(end) {
			end = b.Expiration.Time
		}
	}
	if status == Pass && len(bundles) > 0 {
		detail = fmt.Sprintf("signatures valid at every instant from %s to %s", date(bundles[0].Inception), end.UTC().Format(time.DateTime))
	}
	if len(bundles) > 0 {
		add(CheckSKRCoverage, status, "%s", detail)
	}

	if !now.IsZero() && len(bundles) > 0 {
		last := bundles[len(bundles)-1]
		inForce := false
		for _, b := range bundles {
			if !now.Before(b.Inception.Time) && now.Before(b.Expiration.Time) {
				inForce = true
			}
		}
		switch {
		case !inForce && now.Before(bundles[0].Inception.Time):
			add(CheckSKRExpiry, Warn, "not yet in force at %s: the first bundle starts %s", now.UTC().Format(time.DateTime), date(bundles[0].Inception))
			return out
		case !inForce && now.Before(last.Expiration.Time):
			add(CheckSKRExpiry, Fail, "at %s no bundle's signatures are valid: the zone's DNSKEY set would not validate", now.UTC().Format(time.DateTime))
			return out
		}
		if !last.Expiration.After(now) {
			add(CheckSKRExpiry, Warn, "the last bundle expired on %s, before %s: this SKR is history", date(last.Expiration), now.UTC().Format(time.DateTime))
		} else {
			add(CheckSKRExpiry, Pass, "in force until %s", date(last.Expiration))
		}
	}
	return out
}

// verifyBundles verifies every bundle's signatures (and a BIND bundle's
// CDNSKEY and CDS sets) on all cores, and returns each bundle's first
// failure, or nil.
func verifyBundles(zone string, bundles []Bundle) []error {
	errs := make([]error, len(bundles))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := min(runtime.GOMAXPROCS(0), len(bundles)); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b := &bundles[i]
				if errs[i] = b.VerifySync(zone); errs[i] != nil {
					continue
				}
				if b.verifiedAsIs(zone) {
					continue // verified twice as it was signed, unchanged since
				}
				for _, s := range b.Signatures {
					if errs[i] = b.VerifySignature(zone, s); errs[i] != nil {
						break
					}
				}
			}
		}()
	}
	for i := range bundles {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// answersText says how a Knot or BIND SKR fails to answer its KSR, or "".
// A text KSR is a list of key sets, each from a time on; its signer cuts
// its own bundles by its own timing (Knot's rrsig-refresh, BIND's
// signatures-refresh), so the SKR is held to the KSR's content, not its
// bundle count: at the start of every SKR bundle, and at the start of
// every KSR key set, the bundle in effect carries exactly the ZSKs the KSR
// asks for then. Coverage (no instant without a valid signature) is
// SKR-COVERAGE's.
func answersText(skr, ksr *Document) string {
	if skr.Format != ksr.Format {
		return fmt.Sprintf("an SKR in the %q format for a KSR in the %q format", skr.Format, ksr.Format)
	}
	if skr.Domain != ksr.Domain {
		return fmt.Sprintf("domain %s, the KSR's is %s", skr.Domain, ksr.Domain)
	}
	inEffect := func(bs []Bundle, t time.Time) (int, bool) {
		i := -1
		for j, b := range bs {
			if !b.At.After(t) {
				i = j
			}
		}
		return i, i >= 0
	}
	zsks := func(b Bundle) []string {
		var out []string
		for _, k := range b.Keys {
			if k.Flags&FlagSEP == 0 {
				out = append(out, k.PublicKey)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	sb, kb := skr.Response.Bundles, ksr.Request.Bundles
	for i, b := range sb {
		if i+1 < len(sb) && sb[i+1].At.Equal(b.At) {
			continue // superseded at once by the next key set's bundle
		}
		k, ok := inEffect(kb, b.At)
		if !ok {
			return fmt.Sprintf("%s is for %s, before the KSR's first key set (%s)", bundleName(i, b), b.At.UTC().Format(time.DateTime), kb[0].At.UTC().Format(time.DateTime))
		}
		if !slices.Equal(zsks(b), zsks(kb[k])) {
			return fmt.Sprintf("%s (from %s): its ZSKs are not the ones the KSR asks to sign then", bundleName(i, b), b.At.UTC().Format(time.DateTime))
		}
	}
	for j, k := range kb {
		if j+1 < len(kb) && kb[j+1].At.Equal(k.At) {
			continue
		}
		i, ok := inEffect(sb, k.At)
		if !ok {
			return fmt.Sprintf("the KSR's key set from %s is not answered: the SKR starts later", k.At.UTC().Format(time.DateTime))
		}
		if !slices.Equal(zsks(sb[i]), zsks(k)) {
			return fmt.Sprintf("the KSR's key set from %s is not answered: %s, in effect then, carries other ZSKs", k.At.UTC().Format(time.DateTime), bundleName(i, sb[i]))
		}
	}
	return ""
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.Format(time.DateTime)
}

// answers says how an SKR fails to answer a KSR, or "".
func answers(skr, ksr *Document) string {
	if ksr.Request == nil {
		return "the document given as the KSR is not a KSR"
	}
	if skr.Format != "" || ksr.Format != "" {
		return answersText(skr, ksr)
	}
	switch {
	case skr.ID != ksr.ID:
		return fmt.Sprintf("the SKR's id %s is not the KSR's %s", skr.ID, ksr.ID)
	case skr.Serial != ksr.Serial || skr.Domain != ksr.Domain:
		return fmt.Sprintf("serial/domain %s/%s, the KSR's are %s/%s", skr.Serial, skr.Domain, ksr.Serial, ksr.Domain)
	case len(skr.Response.Bundles) != len(ksr.Request.Bundles):
		return fmt.Sprintf("%d bundles, the KSR has %d", len(skr.Response.Bundles), len(ksr.Request.Bundles))
	}
	for i, rb := range ksr.Request.Bundles {
		b := skr.Response.Bundles[i]
		if b.ID != rb.ID || !b.Inception.Equal(rb.Inception.Time) || !b.Expiration.Equal(rb.Expiration.Time) {
			return fmt.Sprintf("%s does not match KSR bundle #%d (%s, %s to %s)", bundleName(i, b), i+1, rb.ID, date(rb.Inception), date(rb.Expiration))
		}
		var zsks []string
		for _, k := range b.Keys {
			if k.Flags&FlagSEP == 0 {
				zsks = append(zsks, k.PublicKey)
			}
		}
		var want []string
		for _, k := range rb.Keys {
			want = append(want, k.PublicKey)
		}
		slices.Sort(zsks)
		slices.Sort(want)
		if !slices.Equal(zsks, want) {
			return fmt.Sprintf("%s: its ZSKs are not the ones the KSR asked to sign", bundleName(i, b))
		}
	}
	return ""
}

// AnchorKey is a KSK to export as a trust anchor.
type AnchorKey struct {
	ID         string
	DNSKEY     *dns.DNSKEY
	ValidFrom  time.Time
	ValidUntil time.Time
}

// ExportAnchors writes a trust anchor file in the RFC 9718 form (RFC 7958
// with each key's flags and public key), dates as IANA writes them.
func ExportAnchors(id, zone string, keys []AnchorKey) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, "<TrustAnchor id=\"%s\" source=\"keyceremony anchor export\">\n<Zone>%s</Zone>\n", xmlEscape(id), xmlEscape(zone))
	for _, k := range keys {
		ds := DS(k.DNSKEY)
		fmt.Fprintf(&b, "<KeyDigest id=\"%s\" validFrom=\"%s\"", xmlEscape(k.ID), k.ValidFrom.UTC().Format("2006-01-02T15:04:05+00:00"))
		if !k.ValidUntil.IsZero() {
			fmt.Fprintf(&b, " validUntil=\"%s\"", k.ValidUntil.UTC().Format("2006-01-02T15:04:05+00:00"))
		}
		fmt.Fprintf(&b, ">\n<KeyTag>%d</KeyTag>\n<Algorithm>%d</Algorithm>\n<DigestType>2</DigestType>\n<Digest>%s</Digest>\n<PublicKey>%s</PublicKey>\n<Flags>%d</Flags>\n</KeyDigest>\n",
			ds.KeyTag, ds.Algorithm, strings.ToUpper(ds.Digest), k.DNSKEY.PublicKey, k.DNSKEY.Flags)
	}
	b.WriteString("</TrustAnchor>\n")
	return b.Bytes(), nil
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
