package dnssec

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseRejectsHostileInput(t *testing.T) {
	good, err := os.ReadFile("testdata/ksr-root-2017-q2-0.xml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(good)
	cases := map[string]string{
		"a DOCTYPE":           `<!DOCTYPE KSR [<!ENTITY x "y">]>` + src,
		"an entity":           strings.Replace(src, `<TTL>172800</TTL>`, `<TTL>&x;</TTL>`, 1),
		"an unknown element":  strings.Replace(src, `<TTL>172800</TTL>`, `<TTL>172800</TTL><Extra/>`, 1),
		"an element twice":    strings.Replace(src, `<TTL>172800</TTL>`, `<TTL>172800</TTL><TTL>1</TTL>`, 1),
		"an impossible date":  strings.Replace(src, `<Inception>2017-04-01T00:00:00</Inception>`, `<Inception>2017-02-30T00:00:00</Inception>`, 1),
		"a local-time date":   strings.Replace(src, `<Inception>2017-04-01T00:00:00</Inception>`, `<Inception>2017-04-01T00:00:00+02:00</Inception>`, 1),
		"a bad duration":      strings.Replace(src, `<PublishSafety>P10D</PublishSafety>`, `<PublishSafety>P1M</PublishSafety>`, 1),
		"a text node":         strings.Replace(src, `<Request>`, `<Request>hello`, 1),
		"an oversized file":   src + strings.Repeat(" ", MaxDocumentSize),
		"another root":        `<SKR id="a" domain="."/>`,
		"neither body":        `<KSR id="a" domain="."></KSR>`,
		"a negative TTL":      strings.Replace(src, `<TTL>172800</TTL>`, `<TTL>-1</TTL>`, 1),
		"a processing instr.": strings.Replace(src, `<Request>`, `<Request><?php x?>`, 1),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in)); !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
}

// Inputs that parse but must fail their checks.
func TestChecksCatchBadContent(t *testing.T) {
	good, _ := os.ReadFile("testdata/ksr-root-2017-q2-0.xml")
	src := string(good)
	now := time.Date(2017, 2, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct{ edit, check string }{
		"duplicate bundle ids": {strings.Replace(src, `3ea61ea1-43ca-47ce-a9c4-1e5799fb13b7`, `dc1bc68c-b1c1-46f8-817f-ec893549f2be`, 1), CheckBundleUnique},
		"bad base64 key":       {strings.Replace(src, `<PublicKey>AwEAA`, `<PublicKey>!!AwEAA`, 1), CheckBundleKeys},
		"unsupported algorithm": {strings.Replace(strings.Replace(src, `<Algorithm>8</Algorithm>`, `<Algorithm>99</Algorithm>`, 1),
			`algorithm="8"`, `algorithm="99"`, 1), CheckBundleKeys},
		"a wrong key tag": {strings.Replace(src, `keyTag="14796"`, `keyTag="14797"`, 1), CheckBundleKeys},
		"a KSK flag":      {strings.Replace(src, `<Flags>256</Flags>`, `<Flags>257</Flags>`, 1), CheckBundleKeys},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := Parse([]byte(c.edit))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for _, r := range CheckKSR(d, DefaultPolicy(), now, nil) {
				if r.ID == c.check && r.Status == Fail {
					return
				}
			}
			t.Fatalf("%s did not fail", c.check)
		})
	}
}

// FuzzParse: any input either fails to parse or parses, marshals and parses
// again to the same bundles; checking it never panics.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"ksr-root-2017-q2-0.xml", "skr-root-2017-q1-0.xml", "ksr.bad.xml", "ksr-root-2010-q1-0.xml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	now := time.Date(2017, 2, 1, 0, 0, 0, 0, time.UTC)
	// Signature checks are left out: RSA under the fuzzer's instrumentation
	// is too slow to explore anything, and they see only parsed keys.
	policy := DefaultPolicy()
	policy.Skipped = []string{CheckBundlePOP}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		CheckKSR(d, policy, now, d)
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("a parsed document does not marshal: %v", err)
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("a marshalled document does not parse: %v\n%s", err, out)
		}
		if len(d2.Bundles()) != len(d.Bundles()) || d2.ID != d.ID {
			t.Fatal("round trip changed the document")
		}
	})
}
