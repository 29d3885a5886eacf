package dnssec

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Flag bits of a DNSKEY.
const (
	FlagZone   = 256 // zone key (every DNSSEC key)
	FlagSEP    = 1   // secure entry point: a key-signing key
	FlagRevoke = 128 // RFC 5011 revoked
)

// ErrSignature reports a signature that does not verify.
var ErrSignature = errors.New("signature does not verify")

// DNSKEY returns the key as a DNSKEY record of the zone.
func (k Key) DNSKEY(zone string) (*dns.DNSKEY, error) {
	if _, err := base64.StdEncoding.DecodeString(k.PublicKey); err != nil {
		return nil, fmt.Errorf("key %s: public key is not base64: %v", k.KeyIdentifier, err)
	}
	return &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: k.TTL},
		Flags:     k.Flags,
		Protocol:  k.Protocol,
		Algorithm: k.Algorithm,
		PublicKey: k.PublicKey,
	}, nil
}

// RRSIG returns the signature as an RRSIG record of the zone.
func (s Signature) RRSIG(zone string) (*dns.RRSIG, error) {
	if s.TypeCovered != "DNSKEY" {
		return nil, fmt.Errorf("signature by %s covers %s, not DNSKEY", s.KeyIdentifier, s.TypeCovered)
	}
	if _, err := base64.StdEncoding.DecodeString(s.SignatureData); err != nil {
		return nil, fmt.Errorf("signature by %s: data is not base64: %v", s.KeyIdentifier, err)
	}
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: s.TTL},
		TypeCovered: dns.TypeDNSKEY,
		Algorithm:   s.Algorithm,
		Labels:      s.Labels,
		OrigTtl:     s.OriginalTTL,
		Expiration:  uint32(s.SignatureExpiration.Unix()),
		Inception:   uint32(s.SignatureInception.Unix()),
		KeyTag:      s.KeyTag,
		SignerName:  dns.Fqdn(s.SignersName),
		Signature:   s.SignatureData,
	}, nil
}

// RRset returns the bundle's keys as a DNSKEY RRset, each with the given TTL
// (IANA signs every key with the KSK policy's TTL) or its own when ttl is 0.
func (b *Bundle) RRset(zone string, ttl uint32) ([]dns.RR, error) {
	rrs := make([]dns.RR, 0, len(b.Keys))
	for _, k := range b.Keys {
		rr, err := k.DNSKEY(zone)
		if err != nil {
			return nil, err
		}
		if ttl != 0 {
			rr.Hdr.Ttl = ttl
		}
		rrs = append(rrs, rr)
	}
	return rrs, nil
}

// key returns the bundle's key with the given identifier.
func (b *Bundle) key(id string) (Key, bool) {
	for _, k := range b.Keys {
		if k.KeyIdentifier == id {
			return k, true
		}
	}
	return Key{}, false
}

// VerifySignature checks one of the bundle's signatures over its DNSKEY RRset,
// with the key of the same identifier in the bundle. Dates are not checked
// (proof-of-possession signatures in a KSR carry arbitrary ones).
func (b *Bundle) VerifySignature(zone string, s Signature) error {
	k, ok := b.key(s.KeyIdentifier)
	if !ok {
		return fmt.Errorf("%w: signature by %s, but the bundle has no key %s", ErrSignature, s.KeyIdentifier, s.KeyIdentifier)
	}
	dk, err := k.DNSKEY(zone)
	if err != nil {
		return err
	}
	sig, err := s.RRSIG(zone)
	if err != nil {
		return err
	}
	rrset, err := b.RRset(zone, 0)
	if err != nil {
		return err
	}
	for _, rr := range rrset {
		rr.Header().Ttl = sig.OrigTtl
	}
	if err := sig.Verify(dk, rrset); err != nil {
		return fmt.Errorf("%w: key %d (%s): %v", ErrSignature, k.KeyTag, shortID(k.KeyIdentifier), err)
	}
	return nil
}

// KSK is a key-signing key that can sign bundles.
type KSK struct {
	// Identifier names the key in the SKR (IANA uses the HSM label).
	Identifier string
	// DNSKEY is the key as published, flags 257.
	DNSKEY *dns.DNSKEY
	// Signer signs with the private key (an HSM or a software token). For
	// RSA it must produce PKCS #1 v1.5 signatures of a SHA-256 digest.
	Signer crypto.Signer
}

// SignOptions says how to answer a KSR.
type SignOptions struct {
	TTL       uint32 // DNSKEY and RRSIG TTL; IANA's KSK policy uses 172800
	KSKPolicy Policy // written into the SKR's ResponsePolicy
	// Now is the time the response is made (written as its timestamp).
	Now time.Time
	// Progress, if set, is called after each bundle is signed and verified.
	Progress func(done, total int)
}

// signBundleWith builds response bundle i: the request's ZSKs and the given
// KSKs (each DNSKEY as given: a revoked key carries the REVOKE flag), signed
// by each of signers. Before the bundle is returned, every signature is
// checked on two paths: the data it signs is built by miekg/dns and again,
// independently, from the fields as they will be written, the two must be
// the same, and the signature must verify over it in software.
func signBundleWith(ksr *Document, i int, ksks, signers []KSK, ttl uint32) (Bundle, error) {
	b, made, err := signBundle(ksr, i, ksks, signers, ttl)
	if err != nil {
		return Bundle{}, err
	}
	if err := checkSigned(ksr.Domain, i, &b, made); err != nil {
		return Bundle{}, err
	}
	return b, nil
}

// madeSignature is a signature the HSM has just made, not yet checked: the
// digest miekg/dns had it sign, and the key that signed.
type madeSignature struct {
	digest []byte
	signer Key
}

// signBundle builds and signs response bundle i as signBundleWith says,
// and returns it with what checkSigned needs to check its DNSKEY
// signatures (a BIND bundle's CDNSKEY and CDS signatures are checked here).
func signBundle(ksr *Document, i int, ksks, signers []KSK, ttl uint32) (Bundle, []madeSignature, error) {
	if ksr.Request == nil || i < 0 || i >= len(ksr.Request.Bundles) {
		return Bundle{}, nil, fmt.Errorf("sign: no request bundle #%d", i+1)
	}
	if len(signers) == 0 {
		return Bundle{}, nil, fmt.Errorf("sign: bundle #%d has no signing key", i+1)
	}
	if ttl == 0 {
		ttl = 172800
	}
	rb := ksr.Request.Bundles[i]
	if ksr.Format != "" && len(rb.Keys) > 0 {
		ttl = rb.Keys[0].TTL // a text KSR's DNSKEY TTL is the zone's, and its signer keeps it
	}
	b := Bundle{ID: rb.ID, Inception: rb.Inception, Expiration: rb.Expiration, At: rb.At}
	for _, k := range rb.Keys {
		k.TTL = ttl
		b.Keys = append(b.Keys, k)
	}
	keyOf := func(k KSK) Key {
		return Key{KeyIdentifier: k.Identifier, KeyTag: k.DNSKEY.KeyTag(), TTL: ttl, Flags: k.DNSKEY.Flags,
			Protocol: k.DNSKEY.Protocol, Algorithm: k.DNSKEY.Algorithm, PublicKey: k.DNSKEY.PublicKey}
	}
	for _, k := range ksks {
		b.Keys = append(b.Keys, keyOf(k))
	}
	sort.SliceStable(b.Keys, func(x, y int) bool { return b.Keys[x].KeyTag < b.Keys[y].KeyTag })
	rrset, err := b.RRset(ksr.Domain, ttl)
	if err != nil {
		return Bundle{}, nil, fmt.Errorf("bundle #%d (%s): %w", i+1, rb.ID, err)
	}
	var made []madeSignature
	for _, ksk := range signers {
		sig := &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: dns.Fqdn(ksr.Domain), Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
			TypeCovered: dns.TypeDNSKEY,
			Algorithm:   ksk.DNSKEY.Algorithm,
			Labels:      uint8(dns.CountLabel(dns.Fqdn(ksr.Domain))),
			OrigTtl:     ttl,
			Expiration:  uint32(rb.Expiration.Unix()),
			Inception:   uint32(rb.Inception.Unix()),
			KeyTag:      ksk.DNSKEY.KeyTag(),
			SignerName:  dns.Fqdn(ksr.Domain),
		}
		// The digest miekg/dns hands the HSM is that of the signed data as
		// miekg builds it.
		signed := &digestTap{Signer: ksk.Signer}
		if err := sig.Sign(signed, rrset); err != nil {
			return Bundle{}, nil, fmt.Errorf("sign bundle #%d (%s) with key %d: %w", i+1, rb.ID, sig.KeyTag, err)
		}
		s := Signature{
			KeyIdentifier: ksk.Identifier, TTL: ttl, TypeCovered: "DNSKEY", Algorithm: sig.Algorithm,
			Labels: sig.Labels, OriginalTTL: ttl, SignatureExpiration: rb.Expiration, SignatureInception: rb.Inception,
			KeyTag: sig.KeyTag, SignersName: ksr.Domain, SignatureData: sig.Signature,
		}
		made = append(made, madeSignature{digest: signed.digest, signer: keyOf(ksk)})
		b.Signatures = append(b.Signatures, s)
	}
	if ksr.Format == FormatBIND {
		sync, err := signSync(ksr.Domain, signers, ttl, rb)
		if err != nil {
			return Bundle{}, nil, fmt.Errorf("bundle #%d (%s): %w", i+1, rb.ID, err)
		}
		b.Sync = sync
	}
	return b, made, nil
}

// verifiedAsIs says whether checkSigned checked the bundle's DNSKEY
// signatures on two paths, for the zone, and nothing in them has changed
// since.
func (b *Bundle) verifiedAsIs(zone string) bool {
	v := b.verified
	return v != nil && v.zone == zone && slices.Equal(v.keys, b.Keys) && slices.Equal(v.sigs, b.Signatures)
}

// checkSigned checks bundle i's DNSKEY signatures on two paths before it
// is returned: the signed data built again here, independently, from the
// fields as they will be written, must be what miekg/dns had the HSM sign;
// and the signature must verify over it in software (crypto/ecdsa or
// crypto/rsa), so that an HSM fault never reaches an SKR and neither
// library's bug alone can let a bad signature in.
func checkSigned(zone string, i int, b *Bundle, made []madeSignature) error {
	if len(made) != len(b.Signatures) {
		return fmt.Errorf("bundle #%d (%s): %d signatures made, %d in the bundle", i+1, b.ID, len(made), len(b.Signatures))
	}
	for j, s := range b.Signatures {
		digest, err := independentDigest(zone, b.Keys, s)
		if err != nil {
			return fmt.Errorf("bundle #%d (%s): key %d's signature: %w", i+1, b.ID, s.KeyTag, err)
		}
		if !bytes.Equal(digest[:], made[j].digest) {
			return fmt.Errorf("%w: bundle #%d (%s): the data key %d signed is not the DNSKEY set and RRSIG as written: the two ways of building it differ", ErrSignature, i+1, b.ID, s.KeyTag)
		}
		if err := verifyDigest(made[j].signer, digest, s); err != nil {
			return fmt.Errorf("%w: bundle #%d (%s): the signature just made by key %d: %v", ErrSignature, i+1, b.ID, s.KeyTag, err)
		}
	}
	b.verified = &verifiedContent{zone: zone, keys: slices.Clone(b.Keys), sigs: slices.Clone(b.Signatures)}
	return nil
}

// digestTap is a signer that remembers the digest it was asked to sign.
type digestTap struct {
	crypto.Signer
	digest []byte
}

func (t *digestTap) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	t.digest = bytes.Clone(digest)
	return t.Signer.Sign(rand, digest, opts)
}

// signSync makes a BIND bundle's CDNSKEY and CDS sets (dnssec-ksr's
// defaults: cdnskey yes, cds-digest-types SHA-256) for the signing KSKs,
// and signs each set with each of them, verifying every signature.
func signSync(zone string, signers []KSK, ttl uint32, rb Bundle) (*ChildSync, error) {
	zone = dns.Fqdn(zone)
	sync := &ChildSync{}
	var cdnskeys, cdss []dns.RR
	for _, k := range signers {
		c := &dns.CDNSKEY{DNSKEY: *k.DNSKEY}
		c.Hdr = dns.RR_Header{Name: zone, Rrtype: dns.TypeCDNSKEY, Class: dns.ClassINET, Ttl: ttl}
		ds := k.DNSKEY.ToDS(dns.SHA256)
		if ds == nil {
			return nil, fmt.Errorf("no DS for key %d", k.DNSKEY.KeyTag())
		}
		cds := &dns.CDS{DS: *ds}
		cds.Hdr = dns.RR_Header{Name: zone, Rrtype: dns.TypeCDS, Class: dns.ClassINET, Ttl: ttl}
		sync.CDNSKEY, sync.CDS = append(sync.CDNSKEY, c), append(sync.CDS, cds)
		cdnskeys, cdss = append(cdnskeys, c), append(cdss, cds)
	}
	for _, set := range [][]dns.RR{cdnskeys, cdss} {
		for _, k := range signers {
			sig := &dns.RRSIG{
				Hdr:         dns.RR_Header{Name: zone, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
				TypeCovered: set[0].Header().Rrtype, Algorithm: k.DNSKEY.Algorithm, Labels: uint8(dns.CountLabel(zone)),
				OrigTtl: ttl, Expiration: uint32(rb.Expiration.Unix()), Inception: uint32(rb.Inception.Unix()),
				KeyTag: k.DNSKEY.KeyTag(), SignerName: zone,
			}
			if err := sig.Sign(k.Signer, set); err != nil {
				return nil, fmt.Errorf("sign the %s set with key %d: %w", dns.TypeToString[sig.TypeCovered], sig.KeyTag, err)
			}
			if err := sig.Verify(k.DNSKEY, set); err != nil {
				return nil, fmt.Errorf("%w: the %s signature just made by key %d: %v", ErrSignature, dns.TypeToString[sig.TypeCovered], sig.KeyTag, err)
			}
			sync.RRSIGs = append(sync.RRSIGs, sig)
		}
	}
	return sync, nil
}

// VerifySync checks a BIND bundle's CDNSKEY and CDS sets: every CDNSKEY is
// a KSK of the bundle's DNSKEY set, every CDS is the digest of one of them,
// and each set carries a signature, valid over the bundle's dates, by
// every KSK that signs the DNSKEY set. A bundle without them passes.
func (b *Bundle) VerifySync(zone string) error {
	s := b.Sync
	if s == nil {
		return nil
	}
	zone = dns.Fqdn(zone)
	var cdnskeys, cdss []dns.RR
	for _, c := range s.CDNSKEY {
		found := false
		for _, k := range b.Keys {
			if k.Flags&FlagSEP != 0 && k.Algorithm == c.Algorithm && k.PublicKey == c.PublicKey && k.Flags == c.Flags {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("CDNSKEY %d is not a KSK of the bundle's DNSKEY set", c.KeyTag())
		}
		cdnskeys = append(cdnskeys, dns.Copy(c))
	}
	for _, c := range s.CDS {
		found := false
		for _, k := range s.CDNSKEY {
			if ds := k.DNSKEY.ToDS(c.DigestType); ds != nil && strings.EqualFold(ds.Digest, c.Digest) && ds.KeyTag == c.KeyTag {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("CDS %d (digest type %d) is the digest of no CDNSKEY of the bundle", c.KeyTag, c.DigestType)
		}
		cdss = append(cdss, dns.Copy(c))
	}
	for _, set := range [][]dns.RR{cdnskeys, cdss} {
		if len(set) == 0 {
			continue
		}
		typ := set[0].Header().Rrtype
		for _, ds := range b.Signatures {
			var sig *dns.RRSIG
			for _, r := range s.RRSIGs {
				if r.TypeCovered == typ && r.KeyTag == ds.KeyTag {
					sig = r
				}
			}
			if sig == nil {
				return fmt.Errorf("the %s set has no signature by key %d, which signs the DNSKEY set", dns.TypeToString[typ], ds.KeyTag)
			}
			k, ok := b.key(ds.KeyIdentifier)
			if !ok {
				return fmt.Errorf("no key %s in the bundle", ds.KeyIdentifier)
			}
			dk, err := k.DNSKEY(zone)
			if err != nil {
				return err
			}
			if int64(sig.Inception) != b.Inception.Unix() || int64(sig.Expiration) != b.Expiration.Unix() {
				return fmt.Errorf("the %s signature by key %d is not dated as its bundle", dns.TypeToString[typ], sig.KeyTag)
			}
			for _, rr := range set {
				rr.Header().Ttl = sig.OrigTtl
			}
			if err := sig.Verify(dk, set); err != nil {
				return fmt.Errorf("%w: the %s signature by key %d: %v", ErrSignature, dns.TypeToString[typ], sig.KeyTag, err)
			}
		}
	}
	for _, r := range s.RRSIGs {
		if r.TypeCovered == dns.TypeCDNSKEY && len(cdnskeys) == 0 || r.TypeCovered == dns.TypeCDS && len(cdss) == 0 {
			return fmt.Errorf("a signature over an empty %s set", dns.TypeToString[r.TypeCovered])
		}
	}
	return nil
}

// Response assembles the SKR that answers a KSR from its signed bundles.
func NewResponse(ksr *Document, signed []Bundle, opts SignOptions) *Document {
	resp := &Response{KSKPolicy: opts.KSKPolicy, ZSKPolicy: ksr.Request.Policy, Bundles: signed}
	if !opts.Now.IsZero() {
		resp.Timestamp = opts.Now.UTC().Format("2006-01-02T15:04:05+00:00")
	}
	return &Document{ID: ksr.ID, Serial: ksr.Serial, Domain: ksr.Domain, Response: resp, Format: ksr.Format}
}

// Digest is a SHA-256 of a document's raw bytes, as IANA's signer shows it.
type Digest [sha256.Size]byte

// DigestOf returns the SHA-256 of data.
func DigestOf(data []byte) Digest { return sha256.Sum256(data) }

// Hex is the digest in lowercase hex.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// Words is the digest in the PGP word list.
func (d Digest) Words() string { return PGPWords(d[:]) }

// shortID shortens a long key identifier (ZSK identifiers are hex DER names).
func shortID(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-8:]
	}
	return id
}

// KeyLabel names a key for people: its tag and identifier.
func KeyLabel(k Key) string {
	return fmt.Sprintf("%d/%s", k.KeyTag, strings.TrimSpace(shortID(k.KeyIdentifier)))
}
