package dnssec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// makeKSR builds a KSR for zone with nine bundles of ECDSA P-256 ZSKs, each
// with its proof-of-possession signatures, as a ZSK operator would.
func makeKSR(t *testing.T, zone string) *Document {
	t.Helper()
	var keys []Key
	var privs []*ecdsa.PrivateKey
	for i := 0; i < 2; i++ {
		p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		dk, _ := NewDNSKEY(zone, &p.PublicKey, FlagZone, 3600)
		keys = append(keys, Key{KeyIdentifier: fmt.Sprintf("zsk%d", i+1), KeyTag: dk.KeyTag(), TTL: 3600, Flags: FlagZone, Protocol: 3, Algorithm: 13, PublicKey: dk.PublicKey})
		privs = append(privs, p)
	}
	pol := Policy{Algorithms: []Algorithm{{Algorithm: 13, ECDSA: &ECParams{Size: 256}}}}
	for _, f := range []struct {
		d *Duration
		s string
	}{{&pol.PublishSafety, "P10D"}, {&pol.RetireSafety, "P10D"}, {&pol.MaxSignatureValidity, "P21D"}, {&pol.MinSignatureValidity, "P21D"}, {&pol.MaxValidityOverlap, "P12D"}, {&pol.MinValidityOverlap, "P9D"}} {
		f.d.UnmarshalText([]byte(f.s))
	}
	d := &Document{ID: "ec-test", Serial: "1", Domain: zone, Request: &Request{Policy: pol}}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 9; i++ {
		inc := start.Add(time.Duration(i) * 10 * day)
		b := Bundle{ID: fmt.Sprintf("bundle-%d", i+1), Inception: Time{inc}, Expiration: Time{inc.Add(21 * day)}}
		n := 1
		if i == 0 || i == 8 {
			n = 2
		}
		b.Keys = keys[:n]
		if i == 8 {
			b.Keys = []Key{keys[1], keys[0]}
		}
		rrset, _ := b.RRset(zone, 0)
		for j, k := range b.Keys {
			sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 3600},
				TypeCovered: dns.TypeDNSKEY, Algorithm: 13, Labels: uint8(dns.CountLabel(dns.Fqdn(zone))), OrigTtl: 3600,
				Expiration: uint32(b.Expiration.Unix()), Inception: uint32(b.Inception.Unix()), KeyTag: k.KeyTag, SignerName: dns.Fqdn(zone)}
			p := privs[0]
			if k.KeyIdentifier == "zsk2" {
				p = privs[1]
			}
			if err := sig.Sign(p, rrset); err != nil {
				t.Fatal(err)
			}
			_ = j
			b.Signatures = append(b.Signatures, Signature{KeyIdentifier: k.KeyIdentifier, TTL: 3600, TypeCovered: "DNSKEY", Algorithm: 13,
				Labels: sig.Labels, OriginalTTL: 3600, SignatureExpiration: b.Expiration, SignatureInception: b.Inception, KeyTag: k.KeyTag,
				SignersName: zone, SignatureData: sig.Signature})
		}
		d.Request.Bundles = append(d.Request.Bundles, b)
	}
	raw, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return parsed
}

// TestECDSAEndToEnd: a KSR of ECDSA P-256 ZSKs for another zone passes its
// checks, is signed by an ECDSA P-256 KSK (DER from crypto.Signer, r‖s in the
// RRSIG, verified twice), revoked and not, and the SKR verifies against the
// KSK's anchor.
func TestECDSAEndToEnd(t *testing.T) {
	zone := "example."
	ksr := makeKSR(t, zone)
	policy := DefaultPolicy()
	policy.Domains, policy.Algorithms = []string{zone}, []uint8{13}
	now := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	if rs := CheckKSR(ksr, policy, now, nil); !Passed(rs) {
		t.Fatalf("%v", failures(rs))
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := NewDNSKEY(zone, &priv.PublicKey, FlagZone|FlagSEP, 3600)
	tag, revoked := KeyTags(dk)
	if tag == revoked {
		t.Fatal("the REVOKE bit does not change the key tag")
	}
	ksks := map[string]KSK{"EC1": {Identifier: "EC1", DNSKEY: dk, Signer: priv}}
	schema := Schema{Name: "normal+revoke", Slots: []Slot{{Sign: []string{"EC1"}}, {Sign: []string{"EC1"}}, {Sign: []string{"EC1"}}, {Sign: []string{"EC1"}},
		{Sign: []string{"EC1"}}, {Sign: []string{"EC1"}}, {Sign: []string{"EC1"}}, {Sign: []string{"EC1"}}, {Revoke: []string{"EC1"}}}}
	bundles, err := SignSchema(ksr, schema, ksks, 3600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bundles[8].Signatures[0].KeyTag != revoked || bundles[0].Signatures[0].KeyTag != tag {
		t.Fatalf("tags %d/%d, want %d/%d", bundles[0].Signatures[0].KeyTag, bundles[8].Signatures[0].KeyTag, tag, revoked)
	}
	skr := NewResponse(ksr, bundles, SignOptions{TTL: 3600})
	out, _ := skr.Marshal()
	again, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := ParseAnchors([]byte(dk.String()))
	if err != nil {
		t.Fatal(err)
	}
	if rs := VerifySKR(again, anchors, ksr, policy, time.Time{}); !Passed(rs) {
		t.Fatalf("%v", failures(rs))
	}
	if !strings.Contains(string(out), "<Algorithm>13</Algorithm>") {
		t.Fatal("no algorithm 13 in the SKR")
	}
}
