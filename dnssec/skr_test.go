package dnssec

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// testKSKAnchors are the DNSKEYs of IANA's public test KSK1 and KSK2, as
// anchor text, from their private keys.
func testKSKAnchors(t *testing.T) []Anchor {
	t.Helper()
	var text strings.Builder
	for _, f := range []string{"testdata/rsa2048-1.key", "testdata/rsa2048-2.key"} {
		b, _ := os.ReadFile(f)
		blk, _ := pem.Decode(b)
		priv, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		dk, _ := NewDNSKEY(".", &priv.PublicKey, FlagZone|FlagSEP, 172800)
		text.WriteString(dk.String() + "\n")
	}
	a, err := ParseAnchors([]byte(text.String()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func anchorsFrom(t *testing.T, name string) []Anchor {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAnchors(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func failures(rs []Result) []string {
	var out []string
	for _, r := range rs {
		if r.Status == Fail {
			out = append(out, r.ID+": "+r.Detail)
		}
	}
	return out
}

// TestEveryRealSKRVerifies: every real SKR in testdata verifies against its
// trust anchor, and answers its KSR where we have it.
func TestEveryRealSKRVerifies(t *testing.T) {
	root2017 := anchorsFrom(t, "root-anchors-2017.xml")
	test := testKSKAnchors(t)
	six := DefaultPolicy()
	six.NumBundles = 6
	cases := []struct {
		skr, ksr string
		anchors  []Anchor
		policy   CheckPolicy
	}{
		{"skr-root-2017-q1-0.xml", "", root2017, DefaultPolicy()},
		{"skr-root-2017-q2-0.xml", "ksr-root-2017-q2-0.xml", root2017, DefaultPolicy()},
		{"skr-root-2017-q3-0-c_to_d.xml", "", root2017, DefaultPolicy()},
		{"skr-root-2018-q1-0-d_to_e.xml", "ksr-root-2018-q1-0-d_to_e.xml", root2017, DefaultPolicy()},
		{"skr-root-2009-q4-2.xml", "ksr-root-2009-q4-2.xml", test, six},
		{"skr-root-2010-q1-0.xml", "ksr-root-2010-q1-0.xml", test, DefaultPolicy()},
		{"skr-root-2010-q2-0.xml", "ksr-root-2010-q2-0.xml", test, DefaultPolicy()},
		{"skr-root-2010-q2-0-revoke.xml", "ksr-root-2010-q2-0.xml", test, DefaultPolicy()},
	}
	for _, c := range cases {
		t.Run(c.skr, func(t *testing.T) {
			skr, _ := loadDoc(t, c.skr)
			var ksr *Document
			if c.ksr != "" {
				ksr, _ = loadDoc(t, c.ksr)
			}
			rs := VerifySKR(skr, c.anchors, ksr, c.policy, time.Time{})
			if f := failures(rs); len(f) > 0 {
				t.Fatalf("%v", f)
			}
		})
	}
	// The 2017 anchors do not vouch for the test KSK, nor the test anchors for the root's.
	skr, _ := loadDoc(t, "skr-root-2010-q1-0.xml")
	if f := failures(VerifySKR(skr, root2017, nil, DefaultPolicy(), time.Time{})); len(f) == 0 {
		t.Fatal("a test KSK verified against the root's trust anchor")
	}
}

// TestSKRTampering: a changed byte in a signature, a key or a date, or two
// bundles swapped, is caught.
func TestSKRTampering(t *testing.T) {
	good, _ := os.ReadFile("testdata/skr-root-2017-q2-0.xml")
	ksr, _ := loadDoc(t, "ksr-root-2017-q2-0.xml")
	anchors := anchorsFrom(t, "root-anchors-2017.xml")
	src := string(good)
	sigStart := strings.Index(src, "<SignatureData>") + len("<SignatureData>") + 10
	keyStart := strings.LastIndex(src, "<PublicKey>") + len("<PublicKey>") + 20
	flip := func(i int) string {
		c := src[i]
		r := byte('A')
		if c == 'A' {
			r = 'B'
		}
		return src[:i] + string(r) + src[i+1:]
	}
	b1 := strings.Index(src, "<ResponseBundle ")
	b2 := strings.Index(src[b1+1:], "<ResponseBundle ") + b1 + 1
	b3 := strings.Index(src[b2+1:], "<ResponseBundle ") + b2 + 1
	swapped := src[:b1] + src[b2:b3] + src[b1:b2] + src[b3:]
	cases := map[string]string{
		"a signature byte":    flip(sigStart),
		"a key byte":          flip(keyStart),
		"a date":              strings.Replace(src, "<Inception>2017-04-21T00:00:00+00:00</Inception>", "<Inception>2017-04-22T00:00:00+00:00</Inception>", 1),
		"two bundles swapped": swapped,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			skr, err := Parse([]byte(in))
			if err != nil {
				return // not even well-formed: caught
			}
			if f := failures(VerifySKR(skr, anchors, ksr, DefaultPolicy(), time.Time{})); len(f) == 0 {
				t.Fatal("went unnoticed")
			} else {
				t.Log(f[0])
			}
			if f := failures(VerifySKR(skr, anchors, nil, DefaultPolicy(), time.Time{})); len(f) == 0 {
				t.Fatal("went unnoticed without the KSR")
			}
		})
	}
	_ = fmt.Sprint
}

// TestIndependentVerifier: the second verification path agrees with
// miekg/dns on every real signature, and refuses a changed one.
func TestIndependentVerifier(t *testing.T) {
	n := 0
	for _, name := range []string{"skr-root-2017-q2-0.xml", "skr-root-2018-q1-0-d_to_e.xml", "skr-root-2010-q2-0.xml", "ksr-root-2017-q2-0.xml"} {
		d, _ := loadDoc(t, name)
		for _, b := range d.Bundles() {
			for _, s := range b.Signatures {
				k, _ := b.key(s.KeyIdentifier)
				if err := verifyIndependently(d.Domain, b.Keys, s, k); err != nil {
					t.Fatalf("%s bundle %s: %v", name, b.ID, err)
				}
				bad := s
				raw := []byte(bad.SignatureData)
				raw[5] ^= 1
				bad.SignatureData = string(raw)
				if verifyIndependently(d.Domain, b.Keys, bad, k) == nil {
					t.Fatal("a changed signature verified")
				}
				n++
			}
		}
	}
	t.Logf("%d real signatures verified on the second path", n)
}

func TestSafety(t *testing.T) {
	q1, _ := loadDoc(t, "skr-root-2017-q1-0.xml")
	q2, _ := loadDoc(t, "skr-root-2017-q2-0.xml")
	q3, _ := loadDoc(t, "skr-root-2017-q3-0-c_to_d.xml")
	r10q1, _ := loadDoc(t, "skr-root-2010-q1-0.xml")
	r10q2, _ := loadDoc(t, "skr-root-2010-q2-0.xml")
	pol := q2.Response.KSKPolicy
	for _, c := range []struct {
		prev, next *Document
		fail       []string
	}{
		{q1, q2, nil},
		{q2, q3, nil},
		{q1, q3, []string{CheckSafetyPublish}}, // a quarter missing in between
		{r10q1, r10q2, nil},                    // rollover with revocation
	} {
		var failed []string
		for _, r := range CheckSafety(c.prev, c.next, pol) {
			if r.Status == Fail {
				failed = append(failed, r.ID)
				t.Logf("%s -> %s: %s", c.prev.ID, c.next.ID, r.Detail)
			}
		}
		if fmt.Sprint(failed) != fmt.Sprint(c.fail) {
			t.Errorf("%s -> %s: failed %v, want %v", c.prev.ID, c.next.ID, failed, c.fail)
		}
	}
}

// TestSKRCoverage: an SKR with a bundle left out leaves days in which no
// signature over the DNSKEY set is valid: SKR-COVERAGE fails and says when,
// and --now inside that gap is a failure, not "in force".
func TestSKRCoverage(t *testing.T) {
	good, _ := os.ReadFile("testdata/skr-root-2017-q2-0.xml")
	anchors := anchorsFrom(t, "root-anchors-2017.xml")
	src := string(good)
	b1 := strings.Index(src, "<ResponseBundle ")
	b2 := strings.Index(src[b1+1:], "<ResponseBundle ") + b1 + 1
	b3 := strings.Index(src[b2+1:], "<ResponseBundle ") + b2 + 1
	b4 := strings.Index(src[b3+1:], "<ResponseBundle ") + b3 + 1
	b5 := strings.Index(src[b4+1:], "<ResponseBundle ") + b4 + 1
	gapped, err := Parse([]byte(src[:b3] + src[b5:])) // bundles 3 and 4 left out
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := loadDoc(t, "skr-root-2017-q2-0.xml")
	find := func(rs []Result, id string) Result {
		for _, r := range rs {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no %s in %v", id, rs)
		return Result{}
	}
	if r := find(VerifySKR(whole, anchors, nil, DefaultPolicy(), time.Time{}), CheckSKRCoverage); r.Status != Pass {
		t.Fatalf("the whole SKR: %+v", r)
	}
	r := find(VerifySKR(gapped, anchors, nil, DefaultPolicy(), time.Time{}), CheckSKRCoverage)
	if r.Status != Fail || !strings.Contains(r.Detail, "no bundle's signatures are valid") {
		t.Fatalf("the SKR with a gap: %+v", r)
	}
	// An instant in the gap: the end of bundle 2, plus a day.
	inGap := whole.Response.Bundles[1].Expiration.Add(24 * time.Hour)
	if inGap.Before(whole.Response.Bundles[4].Inception.Time) {
		if r := find(VerifySKR(gapped, anchors, nil, DefaultPolicy(), inGap), CheckSKRExpiry); r.Status != Fail {
			t.Fatalf("--now in the gap: %+v", r)
		}
		if r := find(VerifySKR(whole, anchors, nil, DefaultPolicy(), inGap), CheckSKRExpiry); r.Status != Pass {
			t.Fatalf("--now covered: %+v", r)
		}
	} else {
		t.Fatalf("no gap: bundle 2 ends %s, bundle 5 starts %s", whole.Response.Bundles[1].Expiration, whole.Response.Bundles[4].Inception)
	}
}

// TestVerifySKRAfterSigning: VerifySKR does not verify a third time the
// signatures signBundleWith has just verified twice, but a signature, a
// key or a date changed after signing is verified again, and fails.
func TestVerifySKRAfterSigning(t *testing.T) {
	ksr, err := ParseAny(readKnot(t, "ksr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := NewDNSKEY(ksr.Domain, priv.Public(), FlagZone|FlagSEP, 3600)
	ksk := KSK{Identifier: "KSK", DNSKEY: dk, Signer: priv}
	sign := func() *Document {
		var signed []Bundle
		for i := range ksr.Request.Bundles {
			b, err := SignBundle(ksr, i, ksk, 3600)
			if err != nil {
				t.Fatal(err)
			}
			signed = append(signed, b)
		}
		return NewResponse(ksr, signed, SignOptions{})
	}
	status := func(skr *Document) Result {
		for _, r := range VerifySKR(skr, nil, nil, CheckPolicy{}, time.Time{}) {
			if r.ID == CheckSKRSignatures {
				return r
			}
		}
		t.Fatal("no SKR-SIGNATURES")
		return Result{}
	}
	if r := status(sign()); r.Status != Pass {
		t.Fatalf("a fresh SKR: %+v", r)
	}
	for name, change := range map[string]func(b *Bundle){
		"signature": func(b *Bundle) { b.Signatures[0].SignatureData = flipB64(b.Signatures[0].SignatureData) },
		"key":       func(b *Bundle) { b.Keys[0].PublicKey = flipB64(b.Keys[0].PublicKey) },
		"date": func(b *Bundle) {
			b.Signatures[0].SignatureExpiration.Time = b.Signatures[0].SignatureExpiration.Add(time.Second)
		},
	} {
		skr := sign()
		change(&skr.Response.Bundles[3])
		if r := status(skr); r.Status != Fail || !strings.Contains(r.Detail, "bundle #4") {
			t.Errorf("a %s changed after signing: %+v", name, r)
		}
	}
}

func flipB64(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

// faultySigner is an HSM gone wrong: it signs with another key, or returns
// a damaged signature, or signs another digest than it was given.
type faultySigner struct {
	crypto.Signer
	fault string
	other crypto.Signer
}

func (f faultySigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch f.fault {
	case "other key":
		return f.other.Sign(r, digest, opts)
	case "other digest":
		d := bytes.Clone(digest)
		d[0] ^= 1
		return f.Signer.Sign(r, d, opts)
	}
	sig, err := f.Signer.Sign(r, digest, opts)
	if err == nil {
		sig[len(sig)-3] ^= 1 // "damaged"
	}
	return sig, err
}

// TestSigningRefusesHSMFaults: a signature that does not verify in
// software, whatever the HSM did wrong, never leaves signBundleWith.
func TestSigningRefusesHSMFaults(t *testing.T) {
	ksr, err := ParseAny(readKnot(t, "ksr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := NewDNSKEY(ksr.Domain, priv.Public(), FlagZone|FlagSEP, 3600)
	for _, fault := range []string{"other key", "other digest", "damaged"} {
		ksk := KSK{Identifier: "KSK", DNSKEY: dk, Signer: faultySigner{Signer: priv, fault: fault, other: other}}
		b, err := SignBundle(ksr, 0, ksk, 3600)
		if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "the signature just made by key") {
			t.Errorf("an HSM that signs with %s: %v, %d signatures", fault, err, len(b.Signatures))
		}
	}
	if _, err := SignBundle(ksr, 0, KSK{Identifier: "KSK", DNSKEY: dk, Signer: priv}, 3600); err != nil {
		t.Fatal(err)
	}
}

// countingSigner damages the signature of its nth signing only.
type countingSigner struct {
	crypto.Signer
	n, bad *int
}

func (c countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	*c.n++
	sig, err := c.Signer.Sign(r, digest, opts)
	if err == nil && *c.n == *c.bad {
		sig[len(sig)-3] ^= 1
	}
	return sig, err
}

// TestSignSlotsPipelined: SignSlots signs on one goroutine and checks on
// the others, and gives what signing bundle by bundle gives: every bundle
// in order, progress told in order, every signature verifying. A damaged
// signature in the fifth bundle fails the whole call, naming that bundle.
func TestSignSlotsPipelined(t *testing.T) {
	ksr, err := ParseAny(readKnot(t, "ksr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := NewDNSKEY(ksr.Domain, priv.Public(), FlagZone|FlagSEP, 3600)
	n, bad := 0, -1
	ksks := map[string]KSK{"K": {Identifier: "K", DNSKEY: dk, Signer: countingSigner{priv, &n, &bad}}}
	slots := make([]Slot, len(ksr.Request.Bundles))
	for i := range slots {
		slots[i] = Slot{Publish: []string{"K"}, Sign: []string{"K"}}
	}
	var told []int
	bundles, err := SignSlots(ksr, slots, ksks, 3600, func(done, total int) {
		if total != len(slots) {
			t.Errorf("progress total %d", total)
		}
		told = append(told, done)
	})
	if err != nil || len(bundles) != len(slots) || len(told) != len(slots) {
		t.Fatalf("%d bundles, progress %v: %v", len(bundles), told, err)
	}
	for i, b := range bundles {
		if told[i] != i+1 || b.ID != ksr.Request.Bundles[i].ID {
			t.Fatalf("bundle %d: id %s, progress %v", i+1, b.ID, told)
		}
		for _, s := range b.Signatures {
			if err := b.VerifySignature(ksr.Domain, s); err != nil {
				t.Fatalf("bundle %d: %v", i+1, err)
			}
		}
	}
	n, bad = 0, 5
	bundles, err = SignSlots(ksr, slots, ksks, 3600, nil)
	if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "bundle #5 ") || bundles != nil {
		t.Fatalf("a damaged fifth signature: %d bundles, %v", len(bundles), err)
	}
}

// verifyIndependently checks an RRSIG over a DNSKEY RRset without miekg/dns,
// as signing's second path does: the signed data built from the fields, the
// signature checked with crypto/rsa or crypto/ecdsa.
func verifyIndependently(zone string, keys []Key, sig Signature, signer Key) error {
	digest, err := independentDigest(zone, keys, sig)
	if err != nil {
		return err
	}
	return verifyDigest(signer, digest, sig)
}
