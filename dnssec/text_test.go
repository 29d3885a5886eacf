package dnssec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func readKnot(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/knot/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnotSKRVerifies reads the SKR Knot's keymgr sign-ksr wrote: 13
// bundles, each DNSKEY set signed by the KSK, every signature verifying.
func TestKnotSKRVerifies(t *testing.T) {
	skr, err := ParseAny(readKnot(t, "skr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if skr.Format != FormatKnot || skr.Domain != "example.com." || len(skr.Response.Bundles) != 13 {
		t.Fatalf("format %q, domain %q, %d bundles", skr.Format, skr.Domain, len(skr.Response.Bundles))
	}
	for i, b := range skr.Response.Bundles {
		for _, s := range b.Signatures {
			if err := b.VerifySignature(skr.Domain, s); err != nil {
				t.Fatalf("bundle %d: %v", i+1, err)
			}
		}
	}
}

// TestKnotKSRCutAsKnot: cut with the timing Knot's KSK side had
// (rrsig-lifetime 14d, rrsig-refresh 7d: renewed 7 days before expiry;
// inception 90 minutes back), the 6 records of Knot's KSR become exactly
// the 13 bundles of Knot's SKR, with the same times and the same signature
// validity; signed with a new P-256 KSK, the text SKR parses again and
// every signature verifies.
func TestKnotKSRCutAsKnot(t *testing.T) {
	ksr, err := ParseAny(readKnot(t, "ksr-example.com.txt"), &TextOptions{Knot: KnotTiming{RRSIGLifetime: 14 * day, RRSIGRefresh: 7 * day}})
	if err != nil {
		t.Fatal(err)
	}
	knot, _ := ParseAny(readKnot(t, "skr-example.com.txt"), nil)
	if len(ksr.Request.Bundles) != len(knot.Response.Bundles) {
		t.Fatalf("%d bundles cut, Knot signed %d", len(ksr.Request.Bundles), len(knot.Response.Bundles))
	}
	for i, b := range ksr.Request.Bundles {
		k := knot.Response.Bundles[i]
		if !b.At.Equal(k.At) || !b.Inception.Equal(k.Inception.Time) || !b.Expiration.Equal(k.Expiration.Time) {
			t.Errorf("bundle %d: %s %s–%s, Knot's %s %s–%s", i+1, b.At, b.Inception, b.Expiration, k.At, k.Inception, k.Expiration)
		}
	}
	res := CheckKSR(ksr, CheckPolicy{Domains: []string{"example.com."}, Algorithms: []uint8{13}}, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), nil)
	if !Passed(res) {
		t.Fatalf("checks: %+v", res)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, err := NewDNSKEY(ksr.Domain, priv.Public(), FlagZone|FlagSEP, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ksk := KSK{Identifier: "KSK", DNSKEY: dk, Signer: priv}
	var signed []Bundle
	for i := range ksr.Request.Bundles {
		b, err := SignBundle(ksr, i, ksk, 172800)
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, b)
	}
	out, err := NewResponse(ksr, signed, SignOptions{Now: time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if !strings.HasPrefix(text, ";; SignedKeyResponse 1.0 1795838415 (2026-11-28T04:00:15Z) =========\n") ||
		!strings.HasSuffix(text, ";; SignedKeyResponse 1.0 generated at 2026-11-28T04:00:00Z by keyceremony\n") {
		t.Fatalf("SKR text:\n%s", text)
	}
	again, err := ParseAny(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range again.Response.Bundles {
		if len(b.Keys) < 2 || b.Keys[0].TTL != 3600 {
			t.Fatalf("bundle %d: keys %+v (the KSR's TTL 3600 is kept)", i+1, b.Keys)
		}
		for _, s := range b.Signatures {
			if err := b.VerifySignature(again.Domain, s); err != nil {
				t.Fatalf("bundle %d: %v", i+1, err)
			}
		}
	}
}

// TestBINDFormat reads a BIND 9.20 KSR as dnssec-ksr's documentation shows
// it (times as YYYYMMDDHHMMSS), signs it, and writes the SKR with BIND's
// header times.
func TestBINDFormat(t *testing.T) {
	knot := string(readKnot(t, "ksr-example.com.txt"))
	zsk := knot[strings.Index(knot, "example.com.") : strings.Index(knot, "id = 31562")+len("id = 31562")]
	ksrText := ";; KeySigningRequest 1.0 20261201000000 (Tue Dec  1 00:00:00 2026)\n" + zsk + "\n" +
		";; KeySigningRequest 1.0 20261211000000 (Fri Dec 11 00:00:00 2026)\n" + zsk + "\n" +
		";; KeySigningRequest 1.0 generated at 20261128000000 (Sat Nov 28 00:00:00 2026) by BIND 9.20.6\n"
	ksr, err := ParseAny([]byte(ksrText), nil)
	if err != nil {
		t.Fatal(err)
	}
	// BIND's defaults: renewed 5 days before the 14-day signatures expire,
	// a bundle every 9 days: Dec 1, Dec 10, then the next key set's Dec 11.
	if ksr.Format != FormatBIND || len(ksr.Request.Bundles) != 3 || ksr.Request.Bundles[1].Inception.Format(time.RFC3339) != "2026-12-09T23:00:00Z" ||
		ksr.Request.Bundles[2].Inception.Format(time.RFC3339) != "2026-12-10T23:00:00Z" {
		t.Fatalf("BIND KSR: %q, %d bundles, %+v", ksr.Format, len(ksr.Request.Bundles), ksr.Request.Bundles)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := NewDNSKEY(ksr.Domain, priv.Public(), FlagZone|FlagSEP, 3600)
	var signed []Bundle
	for i := range ksr.Request.Bundles {
		b, err := SignBundle(ksr, i, KSK{Identifier: "KSK", DNSKEY: dk, Signer: priv}, 3600)
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, b)
	}
	out, _ := NewResponse(ksr, signed, SignOptions{}).Marshal()
	if !strings.HasPrefix(string(out), ";; SignedKeyResponse 1.0 20261201000000 (Tue Dec  1 00:00:00 2026)\n.") && !strings.HasPrefix(string(out), ";; SignedKeyResponse 1.0 20261201000000 (Tue Dec  1 00:00:00 2026)\nexample.com.") {
		t.Fatalf("BIND SKR:\n%s", out)
	}
	if again, err := ParseAny(out, nil); err != nil || again.Format != FormatBIND || len(again.Response.Bundles) != 3 {
		t.Fatalf("the BIND SKR does not read back: %v", err)
	}
}

// TestTextHostile: cut short, out of order, foreign records, mixed zones
// and bad times are errors naming the line, never a panic.
func TestTextHostile(t *testing.T) {
	good := string(readKnot(t, "ksr-example.com.txt"))
	lines := strings.Split(good, "\n")
	cases := map[string]string{
		"no footer":         strings.Join(lines[:len(lines)-2], "\n"),
		"times backwards":   strings.Replace(good, "1798430415", "1795000000", 1),
		"a bad time":        strings.Replace(good, "1798430415", "17984x0415", 1),
		"an RRSIG in a KSR": strings.Replace(good, ";; KeySigningRequest 1.0 generated", "example.com. 3600 IN RRSIG DNSKEY 13 2 3600 20261212040015 20261128023015 20549 example.com. AAAA\n;; KeySigningRequest 1.0 generated", 1),
		"another zone":      strings.Replace(good, "example.com.        \t3600 DNSKEY 256 3 13 (\n\t\t\t\tmuSy9", "example.net.        \t3600 DNSKEY 256 3 13 (\n\t\t\t\tmuSy9", 1),
		"an A record":       strings.Replace(good, ";; KeySigningRequest 1.0 generated", "example.com. 3600 IN A 192.0.2.1\n;; KeySigningRequest 1.0 generated", 1),
		"a foreign header":  strings.Replace(good, ";; KeySigningRequest 1.0 1801022415", ";; SignedKeyResponse 1.0 1801022415", 1),
		"a broken record":   strings.Replace(good, "WqLyRAakoRvQuKfVORY81StMsCxtEeQ0At5+JDvF", "WqLyRA!!", 1),
		"an empty bundle":   strings.Replace(good, ";; KeySigningRequest 1.0 generated", ";; KeySigningRequest 1.0 1901022415 (x)\n;; KeySigningRequest 1.0 generated", 1),
	}
	for name, text := range cases {
		if text == good {
			t.Fatalf("%s: the case changes nothing", name)
		}
		if _, err := ParseAny([]byte(text), nil); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

// FuzzParseText: any input to the text KSR/SKR reader gives a document or
// an error, never a panic; what it accepts marshals again.
func FuzzParseText(f *testing.F) {
	for _, name := range []string{"ksr-example.com.txt", "skr-example.com.txt"} {
		b, err := os.ReadFile("testdata/knot/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseText(data, nil)
		if err != nil {
			return
		}
		CheckKSR(d, CheckPolicy{Domains: []string{d.Domain}}, time.Unix(0, 0), nil)
		if d.Response != nil {
			if _, err := d.Marshal(); err != nil {
				t.Fatalf("a parsed SKR does not marshal: %v", err)
			}
		}
	})
}

// TestTextKSRCoverage: a BIND KSR whose key sets are 30 days apart, signed
// with one bundle per key set and 14-day signatures (the plan the defaults
// make), would leave almost 16 days with no valid signature over the DNSKEY set:
// the check fails and says where. Knot's plan for the same times has none.
func TestTextKSRCoverage(t *testing.T) {
	knot := string(readKnot(t, "ksr-example.com.txt"))
	zsk := knot[strings.Index(knot, "example.com.") : strings.Index(knot, "id = 31562")+len("id = 31562")]
	ksrText := ";; KeySigningRequest 1.0 20261201000000 (Tue Dec  1 00:00:00 2026)\n" + zsk + "\n" +
		";; KeySigningRequest 1.0 20261231000000 (Thu Dec 31 00:00:00 2026)\n" + zsk + "\n" +
		";; KeySigningRequest 1.0 generated at 20261128000000 (Sat Nov 28 00:00:00 2026) by BIND 9.20.6\n"
	ksr, err := ParseAny([]byte(ksrText), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	find := func(rs []Result) Result {
		for _, r := range rs {
			if r.ID == CheckSigOverlap {
				return r
			}
		}
		t.Fatalf("no %s in %+v", CheckSigOverlap, rs)
		return Result{}
	}
	// BIND's own timing (renewed 5 days before the 14-day signatures
	// expire) covers the 30 days between the key sets: Dec 1, 10, 19, 28,
	// then the next key set's Dec 31.
	policy := CheckPolicy{Domains: []string{"example.com."}, Algorithms: []uint8{13}}
	if r := find(CheckKSR(ksr, policy, now, nil)); r.Status != Pass || len(ksr.Request.Bundles) != 5 {
		t.Fatalf("BIND's plan (%d bundles): %+v", len(ksr.Request.Bundles), r)
	}
	// A plan with a gap (one bundle per key set, as keyceremony cut BIND
	// KSRs before): the check finds it and says how long it is.
	ksr.Request.Bundles = []Bundle{ksr.Request.Bundles[0], ksr.Request.Bundles[4]}
	if r := find(CheckKSR(ksr, policy, now, nil)); r.Status != Fail || !strings.Contains(r.Detail, "for P15DT23H no signature over the DNSKEY set is valid") {
		t.Fatalf("the plan with a gap: %+v", r)
	}
	knotKSR, err := ParseAny(readKnot(t, "ksr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := find(CheckKSR(knotKSR, CheckPolicy{Domains: []string{"example.com."}, Algorithms: []uint8{13}}, now, nil)); r.Status != Pass {
		t.Fatalf("Knot's plan: %+v", r)
	}
}

// TestTextSKRAnswersKSR: a text SKR is held to its KSR's content, not to
// a bundle count: Knot's own SKR answers its KSR however the KSR is cut
// (here renewed 11 days before expiry: 23 bundles against Knot's 13), and an SKR
// that signs other ZSKs than the KSR asks for does not.
func TestTextSKRAnswersKSR(t *testing.T) {
	skr, err := ParseAny(readKnot(t, "skr-example.com.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	match := func(ksr *Document) Result {
		for _, r := range VerifySKR(skr, nil, ksr, CheckPolicy{}, time.Time{}) {
			if r.ID == CheckSKRMatch {
				return r
			}
		}
		t.Fatal("no SKR-MATCH")
		return Result{}
	}
	for _, refresh := range []time.Duration{7 * 24 * time.Hour, 11 * 24 * time.Hour} {
		o := TextOptions{Knot: KnotTiming{RRSIGRefresh: refresh}}
		ksr, err := ParseAny(readKnot(t, "ksr-example.com.txt"), &o)
		if err != nil {
			t.Fatal(err)
		}
		if r := match(ksr); r.Status != Pass {
			t.Fatalf("Knot's SKR against its KSR cut every %s (%d bundles): %+v", refresh, len(ksr.Request.Bundles), r)
		}
	}
	// The KSR with one ZSK changed: the SKR no longer answers it.
	text := string(readKnot(t, "ksr-example.com.txt"))
	i := strings.Index(text, "WqLyRAakoRvQuKfVORY81StMsCxtEeQ0At5+JDvF")
	other := text[:i] + "XqLyRAakoRvQuKfVORY81StMsCxtEeQ0At5+JDvF" + text[i+40:]
	ksr, err := ParseAny([]byte(other), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := match(ksr); r.Status != Fail || !strings.Contains(r.Detail, "ZSKs") {
		t.Fatalf("an SKR for other ZSKs: %+v", r)
	}
}

// TestKnotSamplesCutAsKeymgr: for each of the shared keymgr 3.2.6 samples
// (no ZSK roll, a 30-day and a 10-day roll), the KSR cut with the KSK
// side's rrsig-lifetime and rrsig-refresh from its ksk-side conf gives
// keymgr's SKR bundle for bundle: the same times, inceptions, expirations
// and ZSKs.
func TestKnotSamplesCutAsKeymgr(t *testing.T) {
	for _, c := range []struct {
		name              string
		lifetime, refresh time.Duration
		bundles           int
	}{{"rootlike", 21 * day, 11 * day, 10}, {"zsk30d", 21 * day, 7 * day, 14}, {"zsk10d", 21 * day, 7 * day, 26}} {
		conf := string(readKnot(t, "ksk-side-"+c.name+".conf"))
		if !strings.Contains(conf, "rrsig-lifetime: "+FormatDuration(c.lifetime)[1:len(FormatDuration(c.lifetime))-1]+"d") ||
			!strings.Contains(conf, "rrsig-refresh: "+FormatDuration(c.refresh)[1:len(FormatDuration(c.refresh))-1]+"d") {
			t.Fatalf("%s: the test's timing is not the conf's:\n%s", c.name, conf)
		}
		ksr, err := ParseAny(readKnot(t, "ksr-"+c.name+".txt"), &TextOptions{Knot: KnotTiming{RRSIGLifetime: c.lifetime, RRSIGRefresh: c.refresh}})
		if err != nil {
			t.Fatal(err)
		}
		skr, err := ParseAny(readKnot(t, "skr-"+c.name+".txt"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := TimingDiff(ksr.Request.Bundles, skr.Response.Bundles); d != "" || len(skr.Response.Bundles) != c.bundles {
			t.Errorf("%s: %d bundles cut, keymgr signed %d: %s", c.name, len(ksr.Request.Bundles), len(skr.Response.Bundles), d)
		}
	}
}

// TestBINDCutAsDnssecKSR: BIND's KSR, cut with dnssec-ksr sign's timing
// and the same period end (-e), gives the real dnssec-ksr's SKR bundle for
// bundle, for its defaults and for a 40-day validity whose renewal falls
// after the next key set (where BIND signs a superseded bundle at the key
// set's time). BIND's SKRs verify whole, the CDNSKEY and CDS sets with
// them, and answer their KSR; a CDS changed by one digit does not verify.
func TestBINDCutAsDnssecKSR(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/bind/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	until := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	anchors, err := ParseAnchors(read("ksk-example.com.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file    string
		timing  BINDTiming
		bundles int
	}{{"skr-default.txt", BINDTiming{}, 8}, {"skr-v40d-r5d.txt", BINDTiming{SignaturesValidityDNSKEY: 40 * day, SignaturesRefresh: 5 * day}, 4}} {
		ksr, err := ParseAny(read("ksr-example.com.txt"), &TextOptions{BIND: c.timing, Until: until})
		if err != nil {
			t.Fatal(err)
		}
		skr, err := ParseAny(read(c.file), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := TimingDiff(ksr.Request.Bundles, skr.Response.Bundles); d != "" || len(skr.Response.Bundles) != c.bundles {
			t.Fatalf("%s: %d bundles cut, dnssec-ksr signed %d: %s", c.file, len(ksr.Request.Bundles), len(skr.Response.Bundles), d)
		}
		for _, r := range VerifySKR(skr, anchors, ksr, CheckPolicy{}, time.Time{}) {
			if r.Status == Fail {
				t.Fatalf("%s: %s: %s", c.file, r.ID, r.Detail)
			}
		}
		if s := skr.Response.Bundles[0].Sync; s == nil || len(s.CDNSKEY) != 1 || len(s.CDS) != 1 || len(s.RRSIGs) != 2 {
			t.Fatalf("%s: CDNSKEY and CDS not read: %+v", c.file, s)
		}
	}
	text := string(read("skr-default.txt"))
	i := strings.Index(text, "IN\tCDS\t") + len("IN\tCDS\t7608 13 2 ")
	bad := text[:i] + string("0123456789ABCDEF"[(strings.IndexByte("0123456789ABCDEF", text[i])+1)%16]) + text[i+1:]
	skr, err := ParseAny([]byte(bad), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range VerifySKR(skr, anchors, nil, CheckPolicy{}, time.Time{}) {
		if r.ID == CheckSKRSignatures && (r.Status != Fail || !strings.Contains(r.Detail, "CDS 7608")) {
			t.Fatalf("a changed CDS: %+v", r)
		}
	}
}
