package dnssec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/miekg/dns"
)

// NewDNSKEY returns the DNSKEY record of a public key: RSA (algorithm 8,
// RSASHA256; RFC 3110 encoding) or ECDSA P-256 (algorithm 13; RFC 6605).
func NewDNSKEY(zone string, pub crypto.PublicKey, flags uint16, ttl uint32) (*dns.DNSKEY, error) {
	k := &dns.DNSKEY{
		Hdr:      dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
		Flags:    flags,
		Protocol: 3,
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(p.E)).Bytes()
		var b []byte
		if len(e) <= 255 {
			b = append(b, byte(len(e)))
		} else {
			b = append(b, 0, byte(len(e)>>8), byte(len(e)))
		}
		b = append(append(b, e...), p.N.Bytes()...)
		k.Algorithm, k.PublicKey = dns.RSASHA256, base64.StdEncoding.EncodeToString(b)
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA curve %s is not supported (want P-256)", p.Curve.Params().Name)
		}
		b, err := p.Bytes() // 0x04 || X || Y
		if err != nil || len(b) != 65 {
			return nil, fmt.Errorf("ECDSA public key: %v", err)
		}
		k.Algorithm, k.PublicKey = dns.ECDSAP256SHA256, base64.StdEncoding.EncodeToString(b[1:])
	default:
		return nil, fmt.Errorf("public key of type %T is not supported (want RSA or ECDSA P-256)", pub)
	}
	return k, nil
}

// KeyTags returns the key tag of a DNSKEY and of the same key with the
// REVOKE bit set, which a key-generation ceremony must both record.
func KeyTags(k *dns.DNSKEY) (tag, revoked uint16) {
	r := *k
	r.Flags |= FlagRevoke
	return k.KeyTag(), r.KeyTag()
}

// DS returns the SHA-256 DS record of a DNSKEY.
func DS(k *dns.DNSKEY) *dns.DS { return k.ToDS(dns.SHA256) }
