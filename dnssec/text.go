package dnssec

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Text formats of offline-KSK tools other than IANA's XML.
const (
	FormatKnot = "knot" // Knot DNS keymgr generate-ksr / sign-ksr / import-skr
	FormatBIND = "bind" // BIND 9.20 dnssec-ksr request / sign
)

// TextOptions say how a text KSR is cut into signed bundles. Knot and BIND
// keep the KSK's signing policy on the signer's side, so it comes from the
// profile (or the command line), not from the KSR.
type TextOptions struct {
	// Lifetime is each RRSIG's validity after its bundle starts (Knot's
	// rrsig-lifetime; BIND's signatures-validity-dnskey).
	Lifetime time.Duration
	// Refresh cuts a new bundle this long after the last one while the KSR
	// has none (Knot's rrsig-refresh); zero signs one bundle per KSR record.
	Refresh time.Duration
	// Backdate moves each RRSIG's inception before its bundle's start, for
	// clocks that lag (Knot: 90 minutes; BIND: 1 hour).
	Backdate time.Duration
}

// DefaultTextOptions are the signers' defaults of each format.
func DefaultTextOptions(format string) TextOptions {
	if format == FormatBIND {
		return TextOptions{Lifetime: 14 * day, Backdate: time.Hour}
	}
	return TextOptions{Lifetime: 14 * day, Refresh: 7 * day, Backdate: 90 * time.Minute}
}

var (
	ksrHeader = []byte(";; KeySigningRequest 1.0 ")
	skrHeader = []byte(";; SignedKeyResponse 1.0 ")
)

// TextFormat tells whether data is a Knot or BIND text KSR/SKR, and which.
func TextFormat(data []byte) string {
	first := bytes.TrimSpace(data)
	if !bytes.HasPrefix(first, ksrHeader) && !bytes.HasPrefix(first, skrHeader) {
		return ""
	}
	line, _, _ := bytes.Cut(first, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) > 3 && len(fields[3]) == 14 && isDigits(fields[3]) {
		return FormatBIND // YYYYMMDDHHMMSS
	}
	return FormatKnot // Unix seconds
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ParseAny reads a KSR or SKR in IANA's XML, or in Knot's or BIND's text
// format; a text KSR is cut into bundles as opts says (nil: the format's
// signer's defaults).
func ParseAny(data []byte, opts *TextOptions) (*Document, error) {
	if TextFormat(data) == "" {
		return Parse(data)
	}
	return ParseText(data, opts)
}

// textRecord is one header-delimited part of a text KSR or SKR.
type textRecord struct {
	at   time.Time
	line int
	rrs  []dns.RR
}

// ParseText reads a Knot or BIND text KSR or SKR strictly: every record is a
// DNSKEY (KSR), or a DNSKEY, RRSIG, CDNSKEY or CDS (SKR) of one zone, the
// bundle times increase, and the footer is there. A KSR's bundles are cut
// for signing as opts says; an SKR's bundles are as written.
func ParseText(data []byte, opts *TextOptions) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxDocumentSize)
	}
	format := TextFormat(data)
	if format == "" {
		return nil, fmt.Errorf("%w: not a Knot or BIND text KSR/SKR", ErrFormat)
	}
	isKSR := bytes.HasPrefix(bytes.TrimSpace(data), ksrHeader)
	header := skrHeader
	if isKSR {
		header = ksrHeader
	}
	var recs []textRecord
	var body strings.Builder
	footer := false
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		r := &recs[len(recs)-1]
		zp := dns.NewZoneParser(strings.NewReader(body.String()), "", "")
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			r.rrs = append(r.rrs, rr)
		}
		if err := zp.Err(); err != nil {
			return fmt.Errorf("bundle at line %d: %v", r.line, err)
		}
		body.Reset()
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), MaxDocumentSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(";;")) {
			if footer && len(bytes.TrimSpace(line)) > 0 {
				return nil, fmt.Errorf("%w: line %d: text after the footer", ErrFormat, n)
			}
			body.Write(line)
			body.WriteByte('\n')
			continue
		}
		if !bytes.HasPrefix(line, header) {
			return nil, fmt.Errorf("%w: line %d: %q is not a %s line", ErrFormat, n, line, strings.TrimSpace(string(header)))
		}
		if err := flush(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		rest := strings.Fields(string(line[len(header):]))
		if len(rest) > 0 && rest[0] == "generated" {
			footer = true
			continue
		}
		if footer {
			return nil, fmt.Errorf("%w: line %d: a bundle after the footer", ErrFormat, n)
		}
		if len(rest) == 0 {
			return nil, fmt.Errorf("%w: line %d: no time in the bundle header", ErrFormat, n)
		}
		at, err := parseTextTime(rest[0], format)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, n, err)
		}
		if len(recs) > 0 && !at.After(recs[len(recs)-1].at) {
			return nil, fmt.Errorf("%w: line %d: bundle time %s is not after the one before (%s)", ErrFormat, n, at.Format(time.RFC3339), recs[len(recs)-1].at.Format(time.RFC3339))
		}
		recs = append(recs, textRecord{at: at, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no bundles", ErrFormat)
	}
	if !footer {
		return nil, fmt.Errorf("%w: no %q footer: the file is cut short", ErrFormat, strings.TrimSpace(string(header))+" generated …")
	}
	zone := ""
	for _, r := range recs {
		if len(r.rrs) == 0 {
			return nil, fmt.Errorf("%w: bundle at line %d has no records", ErrFormat, r.line)
		}
		for _, rr := range r.rrs {
			h := rr.Header()
			if zone == "" {
				zone = h.Name
			}
			if !strings.EqualFold(h.Name, zone) {
				return nil, fmt.Errorf("%w: bundle at line %d: record for %s in a file for %s", ErrFormat, r.line, h.Name, zone)
			}
			switch x := rr.(type) {
			case *dns.DNSKEY:
				if pk, err := base64.StdEncoding.DecodeString(x.PublicKey); err != nil || len(pk) == 0 || (x.Algorithm == 13 && len(pk) != 64) {
					return nil, fmt.Errorf("%w: bundle at line %d: DNSKEY %d: the public key is not a base64 key of algorithm %d", ErrFormat, r.line, x.KeyTag(), x.Algorithm)
				}
			case *dns.RRSIG:
				if isKSR {
					return nil, fmt.Errorf("%w: bundle at line %d: a KSR holds only DNSKEY records, not RRSIG", ErrFormat, r.line)
				}
				if sig, err := base64.StdEncoding.DecodeString(x.Signature); err != nil || len(sig) == 0 {
					return nil, fmt.Errorf("%w: bundle at line %d: RRSIG by key %d: the signature is not base64", ErrFormat, r.line, x.KeyTag)
				}
			case *dns.CDNSKEY, *dns.CDS:
				if isKSR {
					return nil, fmt.Errorf("%w: bundle at line %d: a KSR holds only DNSKEY records, not %s", ErrFormat, r.line, dns.TypeToString[h.Rrtype])
				}
			default:
				return nil, fmt.Errorf("%w: bundle at line %d: unexpected %s record", ErrFormat, r.line, dns.TypeToString[h.Rrtype])
			}
		}
	}
	doc := &Document{Domain: zone, Format: format}
	if isKSR {
		o := DefaultTextOptions(format)
		if opts != nil {
			o = *opts
		}
		if o.Lifetime <= 0 || o.Refresh < 0 || o.Backdate < 0 {
			return nil, fmt.Errorf("%w: text signing options: RRSIG lifetime %s, refresh %s, backdate %s", ErrFormat, o.Lifetime, o.Refresh, o.Backdate)
		}
		doc.ID = fmt.Sprintf("%s-%s-%d", format, strings.TrimSuffix(zone, "."), recs[0].at.Unix())
		bundles := cutBundles(recs, o)
		if len(bundles) > maxTextBundles {
			return nil, fmt.Errorf("%w: %d bundles from %s to %s with a refresh of %s; at most %d: is the KSR's period, or the refresh, right?",
				ErrFormat, len(bundles), recs[0].at.Format(time.RFC3339), recs[len(recs)-1].at.Format(time.RFC3339), FormatDuration(o.Refresh), maxTextBundles)
		}
		doc.Request = &Request{Bundles: bundles}
	} else {
		doc.ID = fmt.Sprintf("%s-%s-%d", format, strings.TrimSuffix(zone, "."), recs[0].at.Unix())
		resp := &Response{}
		for _, r := range recs {
			b, err := responseBundle(r)
			if err != nil {
				return nil, fmt.Errorf("%w: bundle at line %d: %v", ErrFormat, r.line, err)
			}
			resp.Bundles = append(resp.Bundles, b)
		}
		doc.Response = resp
	}
	for i, b := range doc.Bundles() {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("%w: bundle #%d (%s): %v", ErrFormat, i+1, b.ID, err)
		}
	}
	return doc, nil
}

func parseTextTime(s, format string) (time.Time, error) {
	if format == FormatBIND {
		t, err := time.Parse("20060102150405", s)
		if err != nil {
			return time.Time{}, fmt.Errorf("bundle time %q is not YYYYMMDDHHMMSS", s)
		}
		return t, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1<<33 {
		return time.Time{}, fmt.Errorf("bundle time %q is not Unix seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// maxTextBundles bounds the bundles a text KSR is cut into (a year at a
// daily refresh fits).
const maxTextBundles = 1000

// cutBundles makes the request bundles of a text KSR: one per KSR record,
// and, with a refresh, more at each refresh until the next record, as Knot's
// sign-ksr does. Each bundle's inception and expiration are its signature's.
func cutBundles(recs []textRecord, opts TextOptions) []Bundle {
	var out []Bundle
	for i, r := range recs {
		for at := r.at; ; at = at.Add(opts.Refresh) {
			b := Bundle{ID: strconv.FormatInt(at.Unix(), 10), At: at,
				Inception: Time{at.Add(-opts.Backdate)}, Expiration: Time{at.Add(opts.Lifetime)}}
			for _, rr := range r.rrs {
				b.Keys = append(b.Keys, keyOf(rr.(*dns.DNSKEY)))
			}
			out = append(out, b)
			if len(out) > maxTextBundles {
				return out
			}
			if opts.Refresh <= 0 || i == len(recs)-1 || !at.Add(opts.Refresh).Before(recs[i+1].at) {
				break
			}
		}
	}
	return out
}

// keyOf is a DNSKEY record as a bundle key; text formats name keys by tag.
func keyOf(k *dns.DNSKEY) Key {
	return Key{KeyIdentifier: strconv.Itoa(int(k.KeyTag())), KeyTag: k.KeyTag(), TTL: k.Hdr.Ttl, Flags: k.Flags,
		Protocol: k.Protocol, Algorithm: k.Algorithm, PublicKey: k.PublicKey}
}

// responseBundle reads a text SKR bundle: its DNSKEYs and the RRSIGs over
// them (RRSIGs over CDNSKEY and CDS are kept out of the DNSKEY model).
func responseBundle(r textRecord) (Bundle, error) {
	b := Bundle{ID: strconv.FormatInt(r.at.Unix(), 10), At: r.at}
	for _, rr := range r.rrs {
		if k, ok := rr.(*dns.DNSKEY); ok {
			b.Keys = append(b.Keys, keyOf(k))
		}
	}
	for _, rr := range r.rrs {
		s, ok := rr.(*dns.RRSIG)
		if !ok || s.TypeCovered != dns.TypeDNSKEY {
			continue
		}
		inc, exp := time.Unix(int64(s.Inception), 0).UTC(), time.Unix(int64(s.Expiration), 0).UTC()
		b.Signatures = append(b.Signatures, Signature{KeyIdentifier: strconv.Itoa(int(s.KeyTag)), TTL: s.Hdr.Ttl, TypeCovered: "DNSKEY",
			Algorithm: s.Algorithm, Labels: s.Labels, OriginalTTL: s.OrigTtl, SignatureExpiration: Time{exp}, SignatureInception: Time{inc},
			KeyTag: s.KeyTag, SignersName: s.SignerName, SignatureData: s.Signature})
		if b.Inception.IsZero() || inc.Before(b.Inception.Time) {
			b.Inception = Time{inc}
		}
		if exp.After(b.Expiration.Time) {
			b.Expiration = Time{exp}
		}
	}
	if len(b.Signatures) == 0 {
		return b, fmt.Errorf("no RRSIG over the DNSKEY set")
	}
	return b, nil
}

// marshalText writes an SKR in the text format of the KSR it answers.
func (d *Document) marshalText() ([]byte, error) {
	if d.Response == nil {
		return nil, fmt.Errorf("only an SKR is written as text")
	}
	var b bytes.Buffer
	stamp := func(t time.Time) string {
		if d.Format == FormatBIND {
			return t.UTC().Format("20060102150405") + " (" + t.UTC().Format(time.ANSIC) + ")"
		}
		return strconv.FormatInt(t.Unix(), 10) + " (" + t.UTC().Format("2006-01-02T15:04:05Z") + ") ========="
	}
	for _, bu := range d.Response.Bundles {
		b.WriteString(string(skrHeader) + stamp(bu.At) + "\n")
		keys := append([]Key(nil), bu.Keys...)
		sort.SliceStable(keys, func(i, j int) bool { return keys[i].Flags > keys[j].Flags }) // KSKs first, as BIND writes them
		for _, k := range keys {
			rr, err := k.DNSKEY(d.Domain)
			if err != nil {
				return nil, err
			}
			rr.Hdr.Ttl = k.TTL
			b.WriteString(rr.String() + "\n")
		}
		for _, s := range bu.Signatures {
			rr, err := s.RRSIG(d.Domain)
			if err != nil {
				return nil, err
			}
			b.WriteString(rr.String() + "\n")
		}
	}
	generated := time.Now().UTC()
	if ts, err := time.Parse("2006-01-02T15:04:05+00:00", d.Response.Timestamp); err == nil {
		generated = ts
	}
	b.WriteString(string(skrHeader) + "generated at " + generated.Format("2006-01-02T15:04:05Z") + " by keyceremony\n")
	return b.Bytes(), nil
}

// text checks a Knot or BIND text KSR. Those formats carry no proof of
// possession, no ZSK policy and no bundle ids, and their cycle is the
// operator's own: what can be checked is the zone, the keys, and that the
// KSR is not for the past.
func (c *checker) text() {
	c.domain()
	c.add(CheckBundleCount, Pass, "%d bundles from %s to %s (%s format)", len(c.bundles),
		c.bundles[0].At.UTC().Format(time.DateTime), c.bundles[len(c.bundles)-1].At.UTC().Format(time.DateTime), c.d.Format)
	bad := ""
	for i, b := range c.bundles {
		for _, k := range b.Keys {
			switch {
			case k.Flags != dns.ZONE:
				bad = fmt.Sprintf("%s: key %d has flags %d; a KSR holds only ZSKs (flags 256)", bundleName(i, b), k.KeyTag, k.Flags)
			case k.Protocol != 3:
				bad = fmt.Sprintf("%s: key %d has protocol %d (want 3)", bundleName(i, b), k.KeyTag, k.Protocol)
			case len(c.policy.Algorithms) > 0 && !contains8(c.policy.Algorithms, k.Algorithm):
				bad = fmt.Sprintf("%s: key %d uses algorithm %d, not one of the approved %v", bundleName(i, b), k.KeyTag, k.Algorithm, c.policy.Algorithms)
			}
			if bad != "" {
				break
			}
		}
		if bad != "" {
			break
		}
	}
	if bad != "" {
		c.add(CheckBundleKeys, Fail, "%s", bad)
	} else {
		c.add(CheckBundleKeys, Pass, "every key of every bundle is a ZSK of an approved algorithm")
	}
	c.add(CheckBundlePOP, Warn, "the %s text format carries no proof of possession: the ZSKs are trusted as the transfer medium delivered them; compare the KSR's hash out of band", c.d.Format)
	// The signing plan must leave no instant without a valid signature
	// over the DNSKEY set: a validator sees the zone bogus in a gap.
	gap := ""
	for i := 1; i < len(c.bundles) && gap == ""; i++ {
		p, b := c.bundles[i-1], c.bundles[i]
		if p.Expiration.Before(b.Inception.Time) {
			gap = fmt.Sprintf("%s expires %s, before %s starts %s: for %s no signature over the DNSKEY set is valid; sign with a shorter refresh or a longer signature lifetime",
				bundleName(i-1, p), date(p.Expiration), bundleName(i, b), date(b.Inception), FormatDuration(b.Inception.Sub(p.Expiration.Time)))
		}
	}
	if gap != "" {
		c.add(CheckSigOverlap, Fail, "%s", gap)
	} else {
		c.add(CheckSigOverlap, Pass, "consecutive bundles overlap: a valid signature over the DNSKEY set at every instant from %s to %s", date(c.bundles[0].Inception), date(c.bundles[len(c.bundles)-1].Expiration))
	}
	last := c.bundles[len(c.bundles)-1]
	if !last.Expiration.After(c.now) {
		c.add(CheckSigHorizon, Fail, "the last bundle's signature would expire at %s, before now (%s): the KSR is for the past", date(last.Expiration), c.now.UTC().Format(time.DateTime))
	} else {
		c.add(CheckSigHorizon, Pass, "the last bundle's signature expires at %s, after now (%s)", date(last.Expiration), c.now.UTC().Format(time.DateTime))
	}
}

func contains8(list []uint8, v uint8) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
