package dnssec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadDoc(t testing.TB, name string) (*Document, []byte) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d, data
}

// testKSK1 is the public test KSK1 of IANA's pre-production ceremonies (tag 5017).
func testKSK1(t testing.TB) KSK { return testKSK(t, "testdata/rsa2048-1.key", "KSK1") }

func TestKSK1Tags(t *testing.T) {
	k := testKSK1(t)
	tag, revoked := KeyTags(k.DNSKEY)
	if tag != 5017 || revoked != 5145 {
		t.Fatalf("KSK1 tags %d/%d, want 5017/5145", tag, revoked)
	}
}

// TestSignGolden: signing the 2010Q1 pre-production KSR with test KSK1 gives,
// bundle for bundle, exactly the signatures of IANA's SKR for it (RSA PKCS #1
// v1.5 is deterministic).
func TestSignGolden(t *testing.T) {
	ksr, _ := loadDoc(t, "ksr-root-2010-q1-0.xml")
	want, _ := loadDoc(t, "skr-root-2010-q1-0.xml")
	done := 0
	skr, err := Sign(ksr, testKSK1(t), SignOptions{TTL: 172800, KSKPolicy: want.Response.KSKPolicy,
		Now: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), Progress: func(d, n int) { done = d }})
	if err != nil {
		t.Fatal(err)
	}
	if done != 9 || len(skr.Response.Bundles) != len(want.Response.Bundles) {
		t.Fatalf("%d bundles signed, want %d", len(skr.Response.Bundles), len(want.Response.Bundles))
	}
	for i, b := range skr.Response.Bundles {
		w := want.Response.Bundles[i]
		if b.ID != w.ID || len(b.Signatures) != 1 || len(w.Signatures) != 1 {
			t.Fatalf("bundle %d: id %s/%s, %d/%d signatures", i+1, b.ID, w.ID, len(b.Signatures), len(w.Signatures))
		}
		if b.Signatures[0].SignatureData != w.Signatures[0].SignatureData {
			t.Errorf("bundle %d (%s): SignatureData differs from IANA's SKR", i+1, b.ID)
		}
		if len(b.Keys) != len(w.Keys) {
			t.Errorf("bundle %d: %d keys, IANA's SKR has %d", i+1, len(b.Keys), len(w.Keys))
		}
	}
	// The SKR we write parses again and every signature verifies.
	out, err := skr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("our SKR does not parse: %v\n%s", err, out[:400])
	}
	for i, b := range again.Response.Bundles {
		for _, s := range b.Signatures {
			if err := b.VerifySignature(again.Domain, s); err != nil {
				t.Errorf("bundle %d: %v", i+1, err)
			}
		}
	}
}

func TestProofOfPossession(t *testing.T) {
	for name, wantBad := range map[string]int{"ksr-root-2017-q2-0.xml": 0, "ksr-root-2010-q1-0.xml": 0, "ksr-root-2018-q1-0-d_to_e.xml": 0, "ksr.bad.xml": 2} {
		d, _ := loadDoc(t, name)
		bad := 0
		for _, b := range d.Bundles() {
			for _, s := range b.Signatures {
				if err := b.VerifySignature(d.Domain, s); err != nil {
					bad++
				}
			}
		}
		if bad != wantBad {
			t.Errorf("%s: %d signatures fail, want %d", name, bad, wantBad)
		}
	}
}

func TestPGPWords(t *testing.T) {
	_, data := loadDoc(t, "ksr-root-2018-q1-0-d_to_e.xml")
	d := DigestOf(data)
	if d.Hex() != "d9f3e4e9ed8ed27d7d3d8cfc2d05f4f0470dbd22ac238d0c9ac728d1e2908a9b" {
		t.Fatalf("hex %s", d.Hex())
	}
	want := "sugar vertigo tonic ultimate tunnel microwave standard insincere klaxon crucifix offload Wilmington button almighty upshot upcoming dashboard asteroid skullcap candidate ribcage cannonball optic article pupil retraction breadline scavenger tiger millionaire Oakland Norwegian"
	if got := d.Words(); got != want {
		t.Fatalf("words:\n got %s\nwant %s", got, want)
	}
	hello := DigestOf([]byte("hello, world\n"))
	if got := PGPWords(hello[:4]); got != "music customer waffle consensus" {
		t.Fatalf("hello, world: %s", got)
	}
}

func TestCheckKSR(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	prev, _ := loadDoc(t, "skr-root-2017-q1-0.xml")
	relaxed2016, err := LoadPolicy("2016.yaml", []byte("rsa_approved_key_sizes: [1024, 2048]\nrelax: [KSR-POLICY-SIG-VALIDITY, KSR-POLICY-SIG-OVERLAP]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		now    time.Time
		prev   *Document
		policy CheckPolicy
		fail   map[string]int
	}{
		{"ksr-root-2017-q2-0.xml", at("2017-02-01"), prev, DefaultPolicy(), nil},
		{"ksr.bad.xml", at("2017-11-01"), nil, DefaultPolicy(), map[string]int{CheckBundlePOP: 2}},
		{"ksr-root-2016-q3-0.xml", at("2016-05-01"), nil, DefaultPolicy(), map[string]int{CheckPolicyAlg: 1, CheckSigOverlap: 1, CheckSigValidity: 1}},
		{"ksr-root-2016-q3-0.xml", at("2016-05-01"), nil, relaxed2016, nil},
		{"ksr-root-2017-q2-0.xml", at("2026-11-28"), nil, DefaultPolicy(), map[string]int{CheckSigHorizon: 1}},
		{"ksr-root-2017-q2-0.xml", at("2016-06-01"), nil, DefaultPolicy(), map[string]int{CheckSigHorizon: 1}},
		// The KSR answered by the previous SKR is refused as a replay.
		{"ksr-root-2017-q2-0.xml", at("2017-02-01"), mustLoad(t, "skr-root-2017-q2-0.xml"), DefaultPolicy(),
			map[string]int{CheckID: 1, CheckBundleUnique: 1, CheckChainKeys: 1, CheckChainOverlap: 1}},
	}
	for _, c := range cases {
		d, _ := loadDoc(t, c.name)
		got := map[string]int{}
		results := CheckKSR(d, c.policy, c.now, c.prev)
		for _, r := range results {
			if r.Status == Fail {
				got[r.ID]++
				t.Logf("%s %s: %s", c.name, r.ID, r.Detail)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.fail) && !(len(got) == 0 && len(c.fail) == 0) {
			t.Errorf("%s at %s: failures %v, want %v", c.name, c.now.Format(time.DateOnly), got, c.fail)
		}
		if (len(c.fail) == 0) != Passed(results) {
			t.Errorf("%s: Passed = %v", c.name, Passed(results))
		}
	}
}

func mustLoad(t *testing.T, name string) *Document {
	d, _ := loadDoc(t, name)
	return d
}

func TestLoadPolicy(t *testing.T) {
	for _, bad := range []string{"frobnicate: 1\n", "relax: [KSR-NOPE]\n", "num_bundles: 9\nnum_bundles: 8\n", "num_bundles: 0\n"} {
		if _, err := LoadPolicy("p.yaml", []byte(bad)); err == nil {
			t.Errorf("policy %q accepted", bad)
		}
	}
	p, err := LoadPolicy("p.yaml", []byte("signature_horizon_days: 90\n"))
	if err != nil || p.Horizon != 90*24*time.Hour || p.NumBundles != 9 {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestECDSAKeyRoundTrip: an ECDSA P-256 KSK signs a bundle that verifies.
func TestECDSAKeyRoundTrip(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := NewDNSKEY(".", &priv.PublicKey, FlagZone|FlagSEP, 172800)
	if err != nil || dk.Algorithm != 13 {
		t.Fatalf("DNSKEY %v, %v", dk, err)
	}
	ksr, _ := loadDoc(t, "ksr-root-2017-q2-0.xml")
	b, err := SignBundle(ksr, 0, KSK{Identifier: "EC1", DNSKEY: dk, Signer: priv}, 172800)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.VerifySignature(".", b.Signatures[0]); err != nil {
		t.Fatal(err)
	}
}

func testKSK(t testing.TB, file, id string) KSK {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	priv, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := NewDNSKEY(".", &priv.PublicKey, FlagZone|FlagSEP, 172800)
	if err != nil {
		t.Fatal(err)
	}
	return KSK{Identifier: id, DNSKEY: dk, Signer: priv}
}

// TestSchemasGolden re-signs IANA's pre-production KSRs with test KSK1 and
// KSK2, following the schema each SKR used, and gets every SignatureData of
// IANA's SKRs, byte for byte, and the same KSKs (flags and tags) in every
// bundle.
func TestSchemasGolden(t *testing.T) {
	ksks := map[string]KSK{"KSK1": testKSK(t, "testdata/rsa2048-1.key", "KSK1"), "KSK2": testKSK(t, "testdata/rsa2048-2.key", "KSK2")}
	normal := Schema{Name: "normal", Slots: []Slot{{Publish: []string{"KSK1"}, Sign: []string{"KSK1"}}}}
	pre := Slot{Publish: []string{"KSK1", "KSK2"}, Sign: []string{"KSK1"}}
	dbl := Slot{Publish: []string{"KSK2"}, Sign: []string{"KSK2"}, Revoke: []string{"KSK1"}}
	rollover := Schema{Name: "rollover+revoke", Slots: []Slot{normal.Slots[0], pre, pre, pre, pre, pre, dbl, dbl, {Publish: []string{"KSK2"}, Sign: []string{"KSK2"}}}}
	revoke := Schema{Name: "revoke", Slots: []Slot{{Revoke: []string{"KSK1"}}}}
	cases := []struct {
		ksr, skr string
		schema   Schema
	}{
		{"ksr-root-2009-q4-2.xml", "skr-root-2009-q4-2.xml", normal},
		{"ksr-root-2010-q1-0.xml", "skr-root-2010-q1-0.xml", normal},
		{"ksr-root-2010-q2-0.xml", "skr-root-2010-q2-0.xml", rollover},
		{"ksr-root-2010-q2-0.xml", "skr-root-2010-q2-0-revoke.xml", revoke},
	}
	for _, c := range cases {
		t.Run(c.skr, func(t *testing.T) {
			ksr, _ := loadDoc(t, c.ksr)
			want, _ := loadDoc(t, c.skr)
			got, err := SignSchema(ksr, c.schema, ksks, 172800, nil)
			if err != nil {
				t.Fatal(err)
			}
			sigs := 0
			for i, b := range got {
				w := want.Response.Bundles[i]
				if kskSet(b) != kskSet(w) {
					t.Errorf("bundle %d: KSKs %s, IANA's SKR has %s", i+1, kskSet(b), kskSet(w))
				}
				if len(b.Signatures) != len(w.Signatures) {
					t.Fatalf("bundle %d: %d signatures, IANA's SKR has %d", i+1, len(b.Signatures), len(w.Signatures))
				}
				for _, s := range b.Signatures {
					found := false
					for _, ws := range w.Signatures {
						if ws.KeyTag == s.KeyTag {
							found = true
							if ws.SignatureData != s.SignatureData {
								t.Errorf("bundle %d: signature by %d differs from IANA's", i+1, s.KeyTag)
							}
						}
					}
					if !found {
						t.Errorf("bundle %d: IANA's SKR has no signature by %d", i+1, s.KeyTag)
					}
					sigs++
				}
			}
			t.Logf("%d signatures identical to IANA's", sigs)
		})
	}
}

func kskSet(b Bundle) string {
	var out []string
	for _, k := range b.Keys {
		if k.Flags&FlagSEP != 0 {
			out = append(out, fmt.Sprintf("%s/%d/%d", k.KeyIdentifier, k.Flags, k.KeyTag))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
