package session

import (
	"context"
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
