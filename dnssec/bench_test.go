package dnssec

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

// BenchmarkCheckAndSign checks the 2010Q1 KSR and signs all nine bundles
// (with the software re-verification of every signature) against the bare
// signing calls alone: nine RSA PKCS #1 v1.5 signatures with the same key,
// measured in the same iterations.
func BenchmarkCheckAndSign(b *testing.B) {
	ksr, _ := loadDoc(b, "ksr-root-2010-q1-0.xml")
	ksk := testKSK1(b)
	priv := ksk.Signer.(*rsa.PrivateKey)
	policy := DefaultPolicy()
	policy.RSASizes, policy.RSAExponents, policy.RSAExponentMatch = []int{1024, 2048}, []int{3, 65537}, false
	policy.Relaxed = []string{CheckSigValidity, CheckSigOverlap}
	now := time.Date(2009, 12, 25, 0, 0, 0, 0, time.UTC)
	digests := make([][]byte, len(ksr.Request.Bundles))
	for i := range digests {
		d := sha256.Sum256([]byte{byte(i)})
		digests[i] = d[:]
	}
	var fullNs, bareNs int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if !Passed(CheckKSR(ksr, policy, now, nil)) {
			b.Fatal("checks fail")
		}
		if _, err := Sign(ksr, ksk, SignOptions{TTL: 172800}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		for _, d := range digests {
			if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d); err != nil {
				b.Fatal(err)
			}
		}
		fullNs += t1.Sub(t0).Nanoseconds()
		bareNs += time.Since(t1).Nanoseconds()
	}
	b.StopTimer()
	b.ReportMetric(float64(fullNs)/float64(b.N)/1e6, "check+sign-ms/op")
	b.ReportMetric(float64(bareNs)/float64(b.N)/1e6, "bare-sign-ms/op")
	b.ReportMetric(float64(fullNs)/float64(bareNs), "x-baseline")
}

// BenchmarkKSRCheck2018 runs every check on IANA's real 2018Q1 KSR.
func BenchmarkKSRCheck2018(b *testing.B) {
	data, err := os.ReadFile("testdata/ksr-root-2018-q1-0-d_to_e.xml")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2017, 11, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if !Passed(CheckKSR(d, DefaultPolicy(), now, nil)) {
			b.Fatal("checks fail")
		}
	}
}

// BenchmarkSKRVerify2018 verifies IANA's real 2018Q1 SKR against the 2017
// trust anchors and its KSR.
func BenchmarkSKRVerify2018(b *testing.B) {
	data, err := os.ReadFile("testdata/skr-root-2018-q1-0-d_to_e.xml")
	if err != nil {
		b.Fatal(err)
	}
	ksr, _ := loadDoc(b, "ksr-root-2018-q1-0-d_to_e.xml")
	ab, _ := os.ReadFile("testdata/root-anchors-2017.xml")
	anchors, err := ParseAnchors(ab)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if !Passed(VerifySKR(d, anchors, ksr, DefaultPolicy(), time.Time{})) {
			b.Fatal("SKR does not verify")
		}
	}
}
