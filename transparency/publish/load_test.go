package publish_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/publish"
)

// received is what one viewer got: each checkpoint's size, and when.
type received struct {
	mu    sync.Mutex
	sizes []uint64
	at    []time.Time
}

func (r *received) add(size uint64) { r.addAt(size, time.Now()) }

func (r *received) addAt(size uint64, at time.Time) {
	r.mu.Lock()
	r.sizes = append(r.sizes, size)
	r.at = append(r.at, at)
	r.mu.Unlock()
}

// timedReader notes when its last read returned.
type timedReader struct {
	r  io.Reader
	at time.Time
}

func (t *timedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.at = time.Now()
	return n, err
}

// sizeOf is a checkpoint note's size line.
func sizeOf(note string) uint64 {
	lines := strings.SplitN(note, "\n", 3)
	if len(lines) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return n
}

// sseViewer follows /events until ctx ends, recording each checkpoint.
func sseViewer(ctx context.Context, client *http.Client, base string, r *received, ready *sync.WaitGroup) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
	resp, err := client.Do(req)
	ready.Done()
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The arrival time is when the bytes are read, before they are parsed.
	tr := &timedReader{r: resp.Body}
	sc := bufio.NewScanner(tr)
	var data []string
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case line == "" && data != nil:
			r.addAt(sizeOf(strings.Join(data, "\n")), tr.at)
			data = nil
		}
	}
	return nil
}

// pollingViewer reads /checkpoint every interval until ctx ends, recording
// each new one, as a viewer of a static host does.
func pollingViewer(ctx context.Context, client *http.Client, base string, every time.Duration, r *received) {
	var last uint64
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/checkpoint", nil)
		if resp, err := client.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if n := sizeOf(string(b)); n > last {
				last = n
				r.add(n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// playDemo plays the rest of a demo ceremony, a step every pace (a room
// takes seconds; this is faster, and still lets checkpoints come one by
// one), and waits for its last checkpoint.
func playDemo(t testing.TB, sess *session.Session, l *transparency.Log, pace time.Duration) {
	t.Helper()
	for sess.Next() != session.NextDone {
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pace)
	}
	if _, err := l.AwaitCheckpoint(context.Background(), l.Size()-1); err != nil {
		t.Fatal(err)
	}
}

// TestEveryViewerGetsEveryCheckpoint: while a demo ceremony is played, 1,000
// viewers follow the live stream and 100 poll the checkpoint, all on
// loopback: every stream viewer receives every checkpoint the server
// published, in order, ending with the final one; every polling viewer
// reaches the final checkpoint.
func TestEveryViewerGetsEveryCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	const streams, pollers = 1000, 100
	skey, _, _ := transparency.GenerateKey("load-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	base, stop := startServer(t, l.Dir())
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	views, done := crowd(ctx, base, streams, pollers)
	playDemo(t, sess, l, 40*time.Millisecond)
	final := l.Size()
	// Everyone has until the final checkpoint reaches them, or 30 s.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		all := true
		for _, v := range views {
			v.mu.Lock()
			all = all && len(v.sizes) > 0 && v.sizes[len(v.sizes)-1] == final
			v.mu.Unlock()
		}
		if all {
			break
		}
	}
	cancel()
	done.Wait()
	var union []uint64
	for _, v := range views[:streams] {
		for _, n := range v.sizes {
			if !slices.Contains(union, n) {
				union = append(union, n)
			}
		}
	}
	slices.Sort(union)
	if len(union) < 5 {
		t.Fatalf("only %d checkpoints were published while the demo ran", len(union))
	}
	for i, v := range views {
		if len(v.sizes) == 0 || v.sizes[len(v.sizes)-1] != final {
			t.Fatalf("viewer %d (stream %v) did not reach the final checkpoint %d: %v", i, i < streams, final, v.sizes)
		}
		if !slices.IsSorted(v.sizes) {
			t.Fatalf("viewer %d got checkpoints out of order: %v", i, v.sizes)
		}
		if i < streams && !slices.Equal(v.sizes, union) {
			t.Fatalf("stream viewer %d got %d of the %d checkpoints published: %v", i, len(v.sizes), len(union), v.sizes)
		}
	}
	t.Logf("%d checkpoints to each of %d stream viewers; %d polling viewers reached checkpoint %d", len(union), streams, pollers, final)
}

// crowd connects streams viewers of the live stream and pollers viewers
// polling the checkpoint every 500 ms, and returns once every stream is
// open: the first streams views are the stream viewers'. done ends when ctx
// does and every viewer has stopped.
func crowd(ctx context.Context, base string, streams, pollers int) ([]*received, *sync.WaitGroup) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pollers + 1}}
	var ready sync.WaitGroup
	done := &sync.WaitGroup{}
	views := make([]*received, streams+pollers)
	ready.Add(streams)
	for i := range views {
		views[i] = &received{}
		done.Add(1)
		go func(i int) {
			defer done.Done()
			if i < streams {
				sseViewer(ctx, client, base, views[i], &ready)
			} else {
				pollingViewer(ctx, client, base, 500*time.Millisecond, views[i])
			}
		}(i)
	}
	ready.Wait()
	return views, done
}

// startServer serves dir in process on loopback; stop ends the streams,
// then the server.
func startServer(t testing.TB, dir string) (string, func()) {
	t.Helper()
	s, err := publish.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	return srv.URL, func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		s.Close()
	}
}
