package publish_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/transparency"
)

// serveProcess runs `keyceremony serve` on dir as its own process, on a
// free loopback port, so that its memory is its own.
func serveProcess(b *testing.B, bin, dir string) (string, int, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--log", dir, "--addr", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	base := "http://" + addr
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(base + "/checkpoint"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base, cmd.Process.Pid, func() { cmd.Process.Kill(); cmd.Wait() }
}

// rssKB is a process's resident memory.
func rssKB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// delays are each received checkpoint's delay after it was published, for
// the checkpoints published after from (when every viewer was connected: the
// one current at connection time is sent at once, and its "delay" would be
// the connection's).
func delays(views []*received, seen map[uint64]time.Time, mu *sync.Mutex, from time.Time) []time.Duration {
	var out []time.Duration
	mu.Lock()
	defer mu.Unlock()
	for _, v := range views {
		for i, n := range v.sizes {
			if t0, ok := seen[n]; ok && t0.After(from) {
				out = append(out, v.at[i].Sub(t0))
			}
		}
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
}

// BenchmarkServeLoad plays the demo twice against `keyceremony serve` run as
// its own process on loopback: first with one stream viewer (the baseline,
// in the same run), then with 1,000 stream viewers and 100 viewers polling
// the checkpoint every 500 ms. It reports the delay from a checkpoint's
// publication (the file appearing, watched every millisecond) to its
// arrival at each viewer, p50 and p99, and the server's resident memory per
// connected viewer.
func BenchmarkServeLoad(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "keyceremony")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keyceremony/keyceremony").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	skey, _, _ := transparency.GenerateKey("load-bench.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	phase := func(streams, pollers int) (stream, polled []time.Duration, kbPerViewer float64) {
		sess, l := demoLog(b, key)
		base, pid, stop := serveProcess(b, bin, l.Dir())
		defer stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		seen := map[uint64]time.Time{}
		go func() {
			for ctx.Err() == nil {
				if data, err := os.ReadFile(filepath.Join(l.Dir(), "checkpoint")); err == nil {
					n := sizeOf(string(data))
					mu.Lock()
					if _, ok := seen[n]; !ok {
						seen[n] = time.Now()
					}
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
		before := rssKB(b, pid)
		views, done := crowd(ctx, base, streams, pollers)
		time.Sleep(300 * time.Millisecond)
		after := rssKB(b, pid)
		from := time.Now()
		playDemo(b, sess, l, 40*time.Millisecond)
		time.Sleep(time.Second) // the last checkpoint reaches everyone
		cancel()
		done.Wait()
		return delays(views[:streams], seen, &mu, from), delays(views[streams:], seen, &mu, from), float64(after-before) / float64(streams+pollers)
	}
	for i := 0; i < b.N; i++ {
		one, _, _ := phase(1, 0)
		crowd, polled, kb := phase(1000, 100)
		b.ReportMetric(pct(one, 0.5), "single-p50-ms")
		b.ReportMetric(pct(one, 0.99), "single-p99-ms")
		b.ReportMetric(pct(crowd, 0.5), "crowd-p50-ms")
		b.ReportMetric(pct(crowd, 0.99), "crowd-p99-ms")
		if p := pct(one, 0.99); p > 0 {
			b.ReportMetric(pct(crowd, 0.99)/p, "p99-ratio")
		}
		b.ReportMetric(pct(polled, 0.5), "polled-p50-ms")
		b.ReportMetric(pct(polled, 0.99), "polled-p99-ms")
		b.ReportMetric(kb, "server-KB/viewer")
	}
}
