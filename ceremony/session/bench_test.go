package session

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkDemoAuto plays the whole demo ceremony unattended, as `demo
// --auto` does, and splits its time: waiting for the signed checkpoint after
// each action (the log's checkpoint interval), signing the bundles, and the
// rest (durable appends, cards, checks, the SKR).
func BenchmarkDemoAuto(b *testing.B) {
	ctx := context.Background()
	var waitNs, signNs, restNs int64
	for i := 0; i < b.N; i++ {
		r := newRig(b)
		s, l := r.open(b)
		for s.Next() != NextDone {
			signing := s.Next() == NextSign
			t0 := time.Now()
			if _, err := s.AutoStep(ctx); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := l.AwaitCheckpoint(ctx, l.Size()-1); err != nil {
				b.Fatal(err)
			}
			if signing {
				signNs += t1.Sub(t0).Nanoseconds()
			} else {
				restNs += t1.Sub(t0).Nanoseconds()
			}
			waitNs += time.Since(t1).Nanoseconds()
		}
		l.Close(ctx)
	}
	n := float64(b.N) * 1e6
	b.ReportMetric(float64(waitNs)/n, "checkpoint-wait-ms/op")
	b.ReportMetric(float64(signNs)/n, "signing-ms/op")
	b.ReportMetric(float64(restNs)/n, "rest-ms/op")
}

// BenchmarkSignBundlesSoftToken signs the demo KSR's nine bundles as the
// ceremony does, through the profile's schema and the software token
// (crypto.Signer, DNSKEY RRset building, software re-verification), against
// the bare RSA signing calls with the same key, measured in the same
// iterations.
func BenchmarkSignBundlesSoftToken(b *testing.B) {
	ctx := context.Background()
	r := newRig(b)
	s, l := r.open(b)
	defer l.Close(ctx)
	for s.Next() != NextTyped {
		if _, err := s.AutoStep(ctx); err != nil {
			b.Fatal(err)
		}
	}
	key, _ := s.cfg.Token.Key(ctx, "KSK1")
	digests := make([][]byte, len(s.ksr.Request.Bundles))
	for i := range digests {
		d := sha256.Sum256([]byte{byte(i)})
		digests[i] = d[:]
	}
	var fullNs, bareNs int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for j := range s.ksr.Request.Bundles {
			if _, err := s.signBundle(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, d := range digests {
			if _, err := key.Sign(nil, d, crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
		fullNs += t1.Sub(t0).Nanoseconds()
		bareNs += time.Since(t1).Nanoseconds()
	}
	b.StopTimer()
	b.ReportMetric(float64(fullNs)/float64(b.N)/1e6, "sign-9-bundles-ms/op")
	b.ReportMetric(float64(bareNs)/float64(b.N)/1e6, "bare-rsa-ms/op")
	b.ReportMetric(float64(fullNs)/float64(bareNs), "x-baseline")
}
