package dnssec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MaxDocumentSize is the largest KSR or SKR accepted (IANA's signer uses the
// same limit).
const MaxDocumentSize = 1 << 20

// ErrFormat reports a document that is not a well-formed KSR or SKR.
var ErrFormat = errors.New("malformed KSR/SKR")

// Document is a KSR or an SKR: both are a <KSR> element holding either a
// Request or a Response.
type Document struct {
	XMLName  xml.Name  `xml:"KSR"`
	ID       string    `xml:"id,attr"`
	Serial   string    `xml:"serial,attr"`
	Domain   string    `xml:"domain,attr"`
	Request  *Request  `xml:"Request"`
	Response *Response `xml:"Response"`
	// Format is "" for IANA's XML, or FormatKnot or FormatBIND for a text
	// KSR/SKR; an SKR is written in the format of the KSR it answers.
	Format string `xml:"-"`
}

// Request is the body of a KSR.
type Request struct {
	Timestamp string   `xml:"timestamp,attr,omitempty"`
	Policy    Policy   `xml:"RequestPolicy>ZSK"`
	Bundles   []Bundle `xml:"RequestBundle"`
}

// Response is the body of an SKR.
type Response struct {
	Timestamp string   `xml:"timestamp,attr,omitempty"`
	KSKPolicy Policy   `xml:"ResponsePolicy>KSK"`
	ZSKPolicy Policy   `xml:"ResponsePolicy>ZSK"`
	Bundles   []Bundle `xml:"ResponseBundle"`
}

// Policy is a key policy (anykeyPolicy in IANA's schema).
type Policy struct {
	PublishSafety        Duration    `xml:"PublishSafety"`
	RetireSafety         Duration    `xml:"RetireSafety"`
	MaxSignatureValidity Duration    `xml:"MaxSignatureValidity"`
	MinSignatureValidity Duration    `xml:"MinSignatureValidity"`
	MaxValidityOverlap   Duration    `xml:"MaxValidityOverlap"`
	MinValidityOverlap   Duration    `xml:"MinValidityOverlap"`
	Algorithms           []Algorithm `xml:"SignatureAlgorithm"`
}

// Algorithm is one signature algorithm a policy allows.
type Algorithm struct {
	Algorithm uint8      `xml:"algorithm,attr"`
	RSA       *RSAParams `xml:"RSA"`
	ECDSA     *ECParams  `xml:"ECDSA"`
}

// RSAParams are an RSA algorithm's key size and public exponent.
type RSAParams struct {
	Size     int `xml:"size,attr"`
	Exponent int `xml:"exponent,attr"`
}

// ECParams are an ECDSA algorithm's key size.
type ECParams struct {
	Size int `xml:"size,attr"`
}

// Bundle is one slot of a KSR or SKR: a DNSKEY RRset valid from Inception to
// Expiration, with its signatures.
type Bundle struct {
	ID         string      `xml:"id,attr"`
	Inception  Time        `xml:"Inception"`
	Expiration Time        `xml:"Expiration"`
	Signers    []Signer    `xml:"Signer"`
	Keys       []Key       `xml:"Key"`
	Signatures []Signature `xml:"Signature"`
	// At is a text format bundle's time (its header line); zero in XML.
	At time.Time `xml:"-"`
	// Sync is a BIND bundle's CDNSKEY and CDS sets with their RRSIGs; nil
	// in XML and Knot's format.
	Sync *ChildSync `xml:"-"`
	// verified is the bundle's keys and DNSKEY signatures as
	// signBundleWith verified them, twice, on two paths: VerifySKR does not
	// verify the same content a third time. Any change to them after
	// signing makes VerifySKR verify them again.
	verified *verifiedContent
}

// verifiedContent is what signBundleWith verified: the zone, the keys and
// the signatures, copied.
type verifiedContent struct {
	zone string
	keys []Key
	sigs []Signature
}

// ChildSync is what a BIND SKR bundle publishes for the parent (RFC 7344):
// the KSKs as CDNSKEY and as CDS (SHA-256), each set signed by the KSKs
// that sign the DNSKEY set, with the bundle's inception and expiration.
type ChildSync struct {
	CDNSKEY []*dns.CDNSKEY
	CDS     []*dns.CDS
	RRSIGs  []*dns.RRSIG // over the CDNSKEY set, then over the CDS set
}

// Signer names a key that a KSR asks to sign a bundle.
type Signer struct {
	KeyIdentifier string `xml:"keyIdentifier,attr"`
}

// Key is a DNSKEY record of a bundle.
type Key struct {
	KeyIdentifier string `xml:"keyIdentifier,attr"`
	KeyTag        uint16 `xml:"keyTag,attr"`
	TTL           uint32 `xml:"TTL"`
	Flags         uint16 `xml:"Flags"`
	Protocol      uint8  `xml:"Protocol"`
	Algorithm     uint8  `xml:"Algorithm"`
	PublicKey     string `xml:"PublicKey"`
}

// Signature is an RRSIG over a bundle's DNSKEY RRset.
type Signature struct {
	KeyIdentifier       string `xml:"keyIdentifier,attr"`
	TTL                 uint32 `xml:"TTL"`
	TypeCovered         string `xml:"TypeCovered"`
	Algorithm           uint8  `xml:"Algorithm"`
	Labels              uint8  `xml:"Labels"`
	OriginalTTL         uint32 `xml:"OriginalTTL"`
	SignatureExpiration Time   `xml:"SignatureExpiration"`
	SignatureInception  Time   `xml:"SignatureInception"`
	KeyTag              uint16 `xml:"KeyTag"`
	SignersName         string `xml:"SignersName"`
	SignatureData       string `xml:"SignatureData"`
}

// Time is an xsd:dateTime in UTC. KSRs write it without a zone ("naive",
// meaning UTC); SKRs with "+00:00".
type Time struct{ time.Time }

// UnmarshalText accepts YYYY-MM-DDThh:mm:ss with no zone, Z or +00:00.
func (t *Time) UnmarshalText(b []byte) error {
	s := string(b)
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00"} {
		if v, err := time.Parse(layout, s); err == nil {
			if _, off := v.Zone(); off != 0 {
				return fmt.Errorf("time %q is not UTC", s)
			}
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("time %q is not an xsd:dateTime", s)
}

// MarshalText writes the time as IANA's signer does: with +00:00.
func (t Time) MarshalText() ([]byte, error) {
	return []byte(t.UTC().Format("2006-01-02T15:04:05+00:00")), nil
}

// Duration is an xsd:duration of days, hours, minutes and seconds (PnDTnHnMnS),
// kept with its text so that a policy can be echoed unchanged.
type Duration struct {
	Text string
	D    time.Duration
}

var durationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// UnmarshalText parses PnWnDTnHnMnS; years and months have no fixed length
// and are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return fmt.Errorf("duration %q is not PnDTnHnMnS", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return fmt.Errorf("duration %q: %v", s, err)
		}
		total += time.Duration(n) * u
	}
	d.Text, d.D = s, total
	return nil
}

// MarshalText writes the duration's original text, or a canonical one.
func (d Duration) MarshalText() ([]byte, error) {
	if d.Text != "" {
		return []byte(d.Text), nil
	}
	return []byte(FormatDuration(d.D)), nil
}

// FormatDuration writes d as an xsd:duration (PnDTnHnMnS, PT0S for zero).
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	s := "P"
	if days > 0 {
		s += strconv.FormatInt(int64(days), 10) + "D"
	}
	if rest > 0 {
		s += "T"
		for _, u := range []struct {
			d time.Duration
			c string
		}{{time.Hour, "H"}, {time.Minute, "M"}, {time.Second, "S"}} {
			if n := rest / u.d; n > 0 {
				s += strconv.FormatInt(int64(n), 10) + u.c
				rest -= n * u.d
			}
		}
	}
	return s
}

// schema lists the child elements each element may hold (IANA's ksr.rnc).
// Anything else is refused: a KSR is hostile until checked.
var schema = map[string][]string{
	"":                   {"KSR"},
	"KSR":                {"Request", "Response"},
	"Request":            {"RequestPolicy", "RequestBundle"},
	"Response":           {"ResponsePolicy", "ResponseBundle"},
	"RequestPolicy":      {"ZSK"},
	"ResponsePolicy":     {"KSK", "ZSK"},
	"KSK":                policyChildren,
	"ZSK":                policyChildren,
	"SignatureAlgorithm": {"RSA", "ECDSA"},
	"RequestBundle":      bundleChildren,
	"ResponseBundle":     bundleChildren,
	"Key":                {"TTL", "Flags", "Protocol", "Algorithm", "PublicKey"},
	"Signature": {"TTL", "TypeCovered", "Algorithm", "Labels", "OriginalTTL", "SignatureExpiration",
		"SignatureInception", "KeyTag", "SignersName", "SignatureData"},
}

var (
	policyChildren = []string{"PublishSafety", "RetireSafety", "MaxSignatureValidity", "MinSignatureValidity",
		"MaxValidityOverlap", "MinValidityOverlap", "SignatureAlgorithm"}
	bundleChildren = []string{"Inception", "Expiration", "Signer", "Key", "Signature"}
)

// checkStructure walks the XML tokens: no DTD, entities or processing
// instructions other than the XML declaration, only the elements IANA's schema
// names, each where the schema puts it, and no element twice where one is
// allowed (the leaves).
func checkStructure(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = map[string]string{} // only the five predefined entities
	var path []string
	var seen []map[string]bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("a DOCTYPE or other directive (DTDs and entities are refused)")
		case xml.ProcInst:
			if t.Target != "xml" || len(path) > 0 {
				return fmt.Errorf("processing instruction <?%s?>", t.Target)
			}
		case xml.StartElement:
			parent := ""
			if len(path) > 0 {
				parent = path[len(path)-1]
			}
			allowed, ok := schema[parent]
			if !ok || !contains(allowed, t.Name.Local) || t.Name.Space != "" {
				if parent == "" {
					return fmt.Errorf("root element <%s>, want <KSR>", t.Name.Local)
				}
				return fmt.Errorf("unknown element <%s> in <%s> (line %d)", t.Name.Local, parent, lineOf(data, dec.InputOffset()))
			}
			if len(seen) > 0 && isLeafOnce(parent, t.Name.Local) {
				if seen[len(seen)-1][t.Name.Local] {
					return fmt.Errorf("element <%s> twice in <%s> (line %d)", t.Name.Local, parent, lineOf(data, dec.InputOffset()))
				}
				seen[len(seen)-1][t.Name.Local] = true
			}
			path = append(path, t.Name.Local)
			seen = append(seen, map[string]bool{})
		case xml.EndElement:
			path = path[:len(path)-1]
			seen = seen[:len(seen)-1]
		case xml.CharData:
			if len(path) > 0 {
				if _, container := schema[path[len(path)-1]]; container && len(bytes.TrimSpace(t)) > 0 {
					return fmt.Errorf("text inside <%s>", path[len(path)-1])
				}
			}
		}
	}
	return nil
}

// isLeafOnce reports whether child may appear at most once in parent.
func isLeafOnce(parent, child string) bool {
	switch child {
	case "SignatureAlgorithm", "RequestBundle", "ResponseBundle", "Signer", "Key", "Signature":
		return false
	}
	return parent != ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// Parse reads a KSR or SKR strictly: at most MaxDocumentSize bytes, no DTD or
// entities, only the elements of IANA's schema, each field of the right type.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxDocumentSize)
	}
	if err := checkStructure(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var d Document
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if (d.Request == nil) == (d.Response == nil) {
		return nil, fmt.Errorf("%w: <KSR> must hold exactly one of <Request> and <Response>", ErrFormat)
	}
	if d.ID == "" || d.Domain == "" {
		return nil, fmt.Errorf("%w: <KSR> needs id and domain attributes", ErrFormat)
	}
	bundles := d.Bundles()
	if len(bundles) == 0 {
		return nil, fmt.Errorf("%w: no bundles", ErrFormat)
	}
	for i, b := range bundles {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("%w: bundle #%d (%s): %v", ErrFormat, i+1, b.ID, err)
		}
	}
	return &d, nil
}

// Bundles returns the request or response bundles.
func (d *Document) Bundles() []Bundle {
	if d.Request != nil {
		return d.Request.Bundles
	}
	if d.Response != nil {
		return d.Response.Bundles
	}
	return nil
}

func (b *Bundle) validate() error {
	switch {
	case b.ID == "":
		return errors.New("no id")
	case b.Inception.IsZero() || b.Expiration.IsZero():
		return errors.New("no inception or expiration")
	case !b.Expiration.After(b.Inception.Time):
		return fmt.Errorf("expiration %s is not after inception %s", b.Expiration.Format(time.RFC3339), b.Inception.Format(time.RFC3339))
	case len(b.Keys) == 0:
		return errors.New("no keys")
	}
	for _, k := range b.Keys {
		if k.KeyIdentifier == "" || k.PublicKey == "" {
			return fmt.Errorf("key %d has no identifier or public key", k.KeyTag)
		}
	}
	for _, s := range b.Signatures {
		if s.KeyIdentifier == "" || s.SignatureData == "" {
			return fmt.Errorf("signature by key %d has no identifier or data", s.KeyTag)
		}
	}
	return nil
}
