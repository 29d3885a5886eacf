package session

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestDriverOwnsTheSession plays a whole rehearsal through a Driver while
// other goroutines ask for snapshots and poll the devices, as the console's
// commands do. Run with -race: only the owner touches the session. Results
// come in the owner's order, and a snapshot handed out never changes.
func TestDriverOwnsTheSession(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, _ := r.open(t)
	d := NewDriver(s)
	defer d.Close()
	first := d.Snapshot()
	frozen := first.Next
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				res := d.Do(ctx, Poll{})
				if res.Err != nil {
					t.Error(res.Err)
					return
				}
				if res.Seq <= last {
					t.Errorf("result %d after %d", res.Seq, last)
				}
				last = res.Seq
				_ = d.Snapshot().Interactions()
			}
		}()
	}
	var seen []string
	for i := 0; i < 500; i++ {
		res := d.Do(ctx, AutoStep{})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		for _, e := range res.Logged {
			seen = append(seen, e.Kind())
		}
		if res.Snap.Awaiting() == NextDone {
			break
		}
	}
	close(stop)
	wg.Wait()
	final := d.Snapshot()
	if !final.Closed || !slices.Equal(final.Final.Cosigned, []string{"CO1", "CO2", "CO3"}) || uint64(len(seen))+first.LogSize != final.LogSize {
		t.Fatalf("final: closed %v, cosigned %v, %d entries logged through the driver, %d in the log", final.Closed, final.Final.Cosigned, len(seen), final.LogSize)
	}
	if first.Next != frozen || first.Closed || len(first.Accepted) != 0 {
		t.Fatal("a snapshot changed after it was taken")
	}
}

// TestDriverClose: Close waits for the owner to stop; afterwards Do refuses
// with ErrDriverClosed and Snapshot gives the ceremony as it was left.
func TestDriverClose(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, _ := r.open(t)
	d := NewDriver(s)
	if res := d.Do(ctx, AutoStep{}); res.Err != nil || len(res.Logged) == 0 {
		t.Fatalf("first step: %+v", res)
	}
	d.Close()
	d.Close() // twice is harmless
	if res := d.Do(ctx, AutoStep{}); !errors.Is(res.Err, ErrDriverClosed) {
		t.Fatalf("after Close: %v", res.Err)
	}
	if st := d.Snapshot(); st.LogSize != s.cfg.Log.Size() || st.Next != s.state.Next {
		t.Fatalf("the snapshot after Close is not the ceremony as left: %d entries, step %d", st.LogSize, st.Next)
	}
}

// BenchmarkDriverDo times one operation through the Driver (a Poll: the
// request to the owner's goroutine, the operation, the snapshot and the
// answer) against the same operation called directly on the session in the
// same iterations: the price of one owner.
func BenchmarkDriverDo(b *testing.B) {
	ctx := context.Background()
	r := newRig(b)
	s, _ := r.open(b)
	d := NewDriver(s)
	var viaDriver, direct int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if res := d.Do(ctx, Poll{}); res.Err != nil {
			b.Fatal(res.Err)
		}
		t1 := time.Now()
		viaDriver += t1.Sub(t0).Nanoseconds()
	}
	d.Close()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s.poll(ctx)
		_ = s.Snapshot()
		direct += time.Since(t0).Nanoseconds()
	}
	b.ReportMetric(float64(viaDriver)/float64(b.N)/1e3, "µs/op")
	b.ReportMetric(float64(direct)/float64(b.N)/1e3, "direct-µs/op")
	b.ReportMetric(float64(viaDriver)/float64(direct), "×direct")
}
