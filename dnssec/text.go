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
// profile, by each tool's own names and meanings; what is left zero takes
// that tool's default.
type TextOptions struct {
	Knot KnotTiming
	BIND BINDTiming
	// Until is the end of a BIND KSR's period, as dnssec-ksr sign's -e
	// gives it: a BIND KSR does not carry it. Zero signs the last key set
	// once.
	Until time.Time
}

// KnotTiming is the signing part of a Knot DNS policy, as keymgr sign-ksr
// (Knot 3.2) reads it.
type KnotTiming struct {
	// RRSIGLifetime is rrsig-lifetime: each signature is valid this long
	// from its bundle's time (default 14 days).
	RRSIGLifetime time.Duration
	// RRSIGRefresh is rrsig-refresh: a signature is renewed this long
	// before it expires, so bundles follow each other every lifetime −
	// refresh until the next KSR key set. Default: propagation-delay +
	// zone-max-ttl.
	RRSIGRefresh time.Duration
	// RRSIGPreRefresh is rrsig-pre-refresh (default 1 hour). Knot's server
	// renews that much earlier when it re-signs a zone; keymgr sign-ksr
	// does not use it, and neither does an SKR.
	RRSIGPreRefresh time.Duration
	// PropagationDelay is propagation-delay (default 1 hour).
	PropagationDelay time.Duration
	// ZoneMaxTTL is zone-max-ttl; default the KSR's DNSKEY TTL (as keymgr
	// falls back to it since Knot 3.4; keymgr 3.2 with neither
	// rrsig-refresh nor zone-max-ttl renews nothing between key sets).
	ZoneMaxTTL time.Duration
}

// BINDTiming is the signing part of a BIND 9.20 dnssec-policy, as
// dnssec-ksr sign reads it.
type BINDTiming struct {
	// SignaturesValidityDNSKEY is signatures-validity-dnskey (default 14
	// days).
	SignaturesValidityDNSKEY time.Duration
	// SignaturesRefresh is signatures-refresh: a signature is renewed this
	// long before it expires (default 5 days).
	SignaturesRefresh time.Duration
}

// Backdates of each signer: the RRSIG inception this long before the
// bundle's time, fixed in each tool (Knot's RRSIG_INCEPT_IN_PAST; BIND's
// clock skew in dnssec-ksr).
const (
	KnotBackdate = 90 * time.Minute
	BINDBackdate = time.Hour
)

// resolve fills in keymgr's defaults, with a DNSKEY TTL for zone-max-ttl.
func (k KnotTiming) resolve(dnskeyTTL uint32) KnotTiming {
	if k.RRSIGLifetime == 0 {
		k.RRSIGLifetime = 14 * day
	}
	if k.RRSIGPreRefresh == 0 {
		k.RRSIGPreRefresh = time.Hour
	}
	if k.PropagationDelay == 0 {
		k.PropagationDelay = time.Hour
	}
	if k.ZoneMaxTTL == 0 {
		k.ZoneMaxTTL = time.Duration(dnskeyTTL) * time.Second
	}
	if k.RRSIGRefresh == 0 {
		k.RRSIGRefresh = k.PropagationDelay + k.ZoneMaxTTL
	}
	return k
}

// resolve fills in dnssec-ksr's defaults.
func (b BINDTiming) resolve() BINDTiming {
	if b.SignaturesValidityDNSKEY == 0 {
		b.SignaturesValidityDNSKEY = 14 * day
	}
	if b.SignaturesRefresh == 0 {
		b.SignaturesRefresh = 5 * day
	}
	return b
}

// Check says what is wrong with the timing, or nil: a refresh not shorter
// than the lifetime would never move on.
func (k KnotTiming) Check() error {
	if k.RRSIGLifetime < 0 || k.RRSIGRefresh < 0 || k.RRSIGPreRefresh < 0 || k.PropagationDelay < 0 || k.ZoneMaxTTL < 0 {
		return fmt.Errorf("knot: a negative duration")
	}
	r := k.resolve(0)
	if k.RRSIGRefresh != 0 && r.RRSIGRefresh >= r.RRSIGLifetime {
		return fmt.Errorf("knot: rrsig_refresh %s is not shorter than rrsig_lifetime %s (Knot renews a signature rrsig_refresh before it expires)", FormatDuration(r.RRSIGRefresh), FormatDuration(r.RRSIGLifetime))
	}
	return nil
}

// Check says what is wrong with the timing, or nil.
func (b BINDTiming) Check() error {
	if b.SignaturesValidityDNSKEY < 0 || b.SignaturesRefresh < 0 {
		return fmt.Errorf("bind: a negative duration")
	}
	r := b.resolve()
	if r.SignaturesRefresh >= r.SignaturesValidityDNSKEY {
		return fmt.Errorf("bind: signatures_refresh %s is not shorter than signatures_validity_dnskey %s (BIND renews a signature signatures_refresh before it expires)", FormatDuration(r.SignaturesRefresh), FormatDuration(r.SignaturesValidityDNSKEY))
	}
	return nil
}

// Describe says, in the format's own words, how a KSR of the format is cut
// with these options and a DNSKEY TTL.
func (o TextOptions) Describe(format string, dnskeyTTL uint32) string {
	if format == FormatBIND {
		b := o.BIND.resolve()
		until := "the last key set signed once (no --until)"
		if !o.Until.IsZero() {
			until = "until " + o.Until.UTC().Format(time.DateTime)
		}
		return fmt.Sprintf("BIND's timing: signatures-validity-dnskey %s, signatures-refresh %s (a bundle every %s), inception 1h back, %s",
			FormatDuration(b.SignaturesValidityDNSKEY), FormatDuration(b.SignaturesRefresh), FormatDuration(b.SignaturesValidityDNSKEY-b.SignaturesRefresh), until)
	}
	k := o.Knot.resolve(dnskeyTTL)
	return fmt.Sprintf("Knot's timing: rrsig-lifetime %s, rrsig-refresh %s (a bundle every %s), inception 90m back",
		FormatDuration(k.RRSIGLifetime), FormatDuration(k.RRSIGRefresh), FormatDuration(k.RRSIGLifetime-k.RRSIGRefresh))
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
		// An SKR may repeat a time (BIND supersedes a key set's last
		// bundle so); a KSR's key sets follow each other.
		if len(recs) > 0 && (at.Before(recs[len(recs)-1].at) || isKSR && at.Equal(recs[len(recs)-1].at)) {
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
		var o TextOptions
		if opts != nil {
			o = *opts
		}
		if err := o.Knot.Check(); err != nil {
			return nil, fmt.Errorf("%w: text signing options: %v", ErrFormat, err)
		}
		if err := o.BIND.Check(); err != nil {
			return nil, fmt.Errorf("%w: text signing options: %v", ErrFormat, err)
		}
		if format == FormatBIND && !o.Until.IsZero() && o.Until.Before(recs[len(recs)-1].at) {
			return nil, fmt.Errorf("%w: the period's end %s is before the KSR's last key set (%s)", ErrFormat, o.Until.UTC().Format(time.RFC3339), recs[len(recs)-1].at.Format(time.RFC3339))
		}
		doc.ID = fmt.Sprintf("%s-%s-%d", format, strings.TrimSuffix(zone, "."), recs[0].at.Unix())
		var bundles []Bundle
		if format == FormatBIND {
			bundles = cutBIND(recs, o.BIND.resolve(), o.Until)
		} else {
			bundles = cutKnot(recs, o.Knot.resolve(recs[0].rrs[0].Header().Ttl))
		}
		if len(bundles) > maxTextBundles {
			return nil, fmt.Errorf("%w: more than %d bundles from %s to %s: is the KSR's period, or the signing refresh, right?",
				ErrFormat, maxTextBundles, recs[0].at.Format(time.RFC3339), recs[len(recs)-1].at.Format(time.RFC3339))
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
		resp.Bundles = uniqueIDs(resp.Bundles)
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

// cutKnot makes the request bundles of a Knot KSR as keymgr sign-ksr does
// (Knot 3.2's offline_ksk.c): a bundle at each key set's time, and, until
// the next key set, another whenever the last one's signature is
// rrsig-refresh from expiring; the last key set (the period's end) is
// signed once. Each signature is valid from 90 minutes before its bundle
// for rrsig-lifetime.
func cutKnot(recs []textRecord, k KnotTiming) []Bundle {
	var out []Bundle
	step := k.RRSIGLifetime - k.RRSIGRefresh
	for i, r := range recs {
		for at := r.at; ; at = at.Add(step) {
			out = append(out, textBundle(r, at, at.Add(-KnotBackdate), at.Add(k.RRSIGLifetime)))
			if len(out) > maxTextBundles || i == len(recs)-1 || step <= 0 || !at.Add(step).Before(recs[i+1].at) {
				break
			}
		}
	}
	return uniqueIDs(out)
}

// cutBIND makes the request bundles of a BIND KSR as dnssec-ksr sign does
// (BIND 9.20's sign_bundle): from each key set's time a bundle whenever the
// last one's signature is signatures-refresh from expiring, while that is
// not after the next key set's time (or the period's end); the first
// renewal of a key set is brought forward to that time when it would fall
// later, so a key set's last bundle can share its time with the next key
// set's first, which supersedes it. Each signature is valid from an hour
// before its bundle for signatures-validity-dnskey.
func cutBIND(recs []textRecord, b BINDTiming, until time.Time) []Bundle {
	var out []Bundle
	for i, r := range recs {
		var next time.Time
		switch {
		case i < len(recs)-1:
			next = recs[i+1].at
		case !until.IsZero():
			next = until
		default:
			out = append(out, textBundle(r, r.at, r.at.Add(-BINDBackdate), r.at.Add(b.SignaturesValidityDNSKEY)))
			continue
		}
		first := true
		for at := r.at; !at.After(next) && len(out) <= maxTextBundles; first = false {
			exp := at.Add(b.SignaturesValidityDNSKEY)
			out = append(out, textBundle(r, at, at.Add(-BINDBackdate), exp))
			limit := exp
			if first && next.Before(limit) {
				limit = next
			}
			at = exp.Add(-b.SignaturesRefresh)
			if at.After(limit) {
				at = limit
			}
		}
	}
	return uniqueIDs(out)
}

// textBundle is a request bundle of key set r from at.
func textBundle(r textRecord, at, inception, expiration time.Time) Bundle {
	b := Bundle{At: at, Inception: Time{inception}, Expiration: Time{expiration}}
	for _, rr := range r.rrs {
		b.Keys = append(b.Keys, keyOf(rr.(*dns.DNSKEY)))
	}
	return b
}

// uniqueIDs names text bundles by their Unix time; a bundle sharing its
// time with the one before (BIND's superseded last bundle of a key set)
// gets a suffix.
func uniqueIDs(bs []Bundle) []Bundle {
	for i := range bs {
		bs[i].ID = strconv.FormatInt(bs[i].At.Unix(), 10)
		if i > 0 && bs[i].At.Equal(bs[i-1].At) {
			n := 2
			if _, suffix, ok := strings.Cut(bs[i-1].ID, "."); ok {
				n, _ = strconv.Atoi(suffix)
				n++
			}
			bs[i].ID += "." + strconv.Itoa(n)
		}
	}
	return bs
}

// sync returns the bundle's CDNSKEY and CDS sets, made on first use.
func (b *Bundle) sync() *ChildSync {
	if b.Sync == nil {
		b.Sync = &ChildSync{}
	}
	return b.Sync
}

// keyOf is a DNSKEY record as a bundle key; text formats name keys by tag.
func keyOf(k *dns.DNSKEY) Key {
	return Key{KeyIdentifier: strconv.Itoa(int(k.KeyTag())), KeyTag: k.KeyTag(), TTL: k.Hdr.Ttl, Flags: k.Flags,
		Protocol: k.Protocol, Algorithm: k.Algorithm, PublicKey: k.PublicKey}
}

// responseBundle reads a text SKR bundle: its DNSKEYs and the RRSIGs over
// them, and BIND's CDNSKEY and CDS sets with theirs, apart.
func responseBundle(r textRecord) (Bundle, error) {
	b := Bundle{ID: strconv.FormatInt(r.at.Unix(), 10), At: r.at}
	for _, rr := range r.rrs {
		if k, ok := rr.(*dns.DNSKEY); ok {
			b.Keys = append(b.Keys, keyOf(k))
		}
	}
	for _, rr := range r.rrs {
		switch x := rr.(type) {
		case *dns.CDNSKEY:
			b.sync().CDNSKEY = append(b.sync().CDNSKEY, x)
		case *dns.CDS:
			b.sync().CDS = append(b.sync().CDS, x)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeCDNSKEY || x.TypeCovered == dns.TypeCDS {
				b.sync().RRSIGs = append(b.sync().RRSIGs, x)
			} else if x.TypeCovered != dns.TypeDNSKEY {
				return b, fmt.Errorf("an RRSIG over %s: an SKR signs only DNSKEY, CDNSKEY and CDS sets", dns.TypeToString[x.TypeCovered])
			}
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
		if s := bu.Sync; s != nil {
			// As dnssec-ksr writes them: the CDNSKEY set and its RRSIGs,
			// then the CDS set and its.
			for _, typ := range []uint16{dns.TypeCDNSKEY, dns.TypeCDS} {
				if typ == dns.TypeCDNSKEY {
					for _, rr := range s.CDNSKEY {
						b.WriteString(rr.String() + "\n")
					}
				} else {
					for _, rr := range s.CDS {
						b.WriteString(rr.String() + "\n")
					}
				}
				for _, sig := range s.RRSIGs {
					if sig.TypeCovered == typ {
						b.WriteString(sig.String() + "\n")
					}
				}
			}
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
