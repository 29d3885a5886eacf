package publish_test

import (
	"github.com/keyceremony/keyceremony/ceremony/event"

	"bufio"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/publish"
	"golang.org/x/mod/sumdb/note"
)

// newLog opens a log in a temporary folder with a few entries, checkpointed.
func newLog(t *testing.T) (*transparency.Log, *transparency.Key) {
	t.Helper()
	ctx := context.Background()
	skey, _, err := transparency.GenerateKey("publish-test.keyceremony.invalid/rehearsal")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := transparency.ParseKey(skey)
	l, err := transparency.Open(ctx, filepath.Join(t.TempDir(), "log"), transparency.Options{Key: k, New: true,
		Open: event.Open{ScriptSHA256: strings.Repeat("ab", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	grow(t, l, 3)
	return l, k
}

// grow appends n entries and waits for the checkpoint covering them.
func grow(t *testing.T, l *transparency.Log, n int) {
	t.Helper()
	ctx := context.Background()
	var a transparency.Appended
	for i := 0; i < n; i++ {
		var err error
		if a, err = l.Append(ctx, event.StepDone{Step: "1.1", Role: "CA"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.AwaitCheckpoint(ctx, a.Index); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists every file under dir with its size and modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil {
				out[p] = fi.ModTime().String() + " " + fi.Mode().String() + " " + string(rune(fi.Size()))
			}
		}
		return nil
	})
	return out
}

// TestServeFiles: the log's files are served read-only with the cache
// rules of static tlog-tiles (the checkpoint never cached, the rest
// immutable) and the security headers; nothing outside the folder, under
// .state/, behind a link, by an encoded or dotted path, or by another method
// is served; and serving writes nothing.
func TestServeFiles(t *testing.T) {
	l, _ := newLog(t)
	dir := l.Dir()
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("not for viewers"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "checkpoints", "99"))
	os.Symlink(filepath.Join(dir, "log.vkey"), filepath.Join(dir, "artefacts", "sha256", strings.Repeat("0", 64)))
	// A link to a folder inside the log (.state/, under a published name),
	// and a pipe that would never end.
	os.WriteFile(filepath.Join(dir, ".state", "123"), []byte("not for viewers"), 0o644)
	os.Symlink(filepath.Join(dir, ".state"), filepath.Join(dir, "tile", "7"))
	if err := syscall.Mkfifo(filepath.Join(dir, "checkpoints", "98"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := publish.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	before := snapshot(t, dir)
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.URL.Opaque = path // sent exactly as written, encoded dots and all
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for path, cache := range map[string]string{
		"/checkpoint":           "no-cache",
		"/log.vkey":             "public, max-age=31536000, immutable",
		"/tile/entries/000.p/4": "public, max-age=31536000, immutable",
		"/checkpoints/4":        "no-cache", // cosignatures may be added
		"/":                     "no-cache",
		"/web/app.js":           "no-cache",
		"/web/pgpwords.js":      "no-cache",
	} {
		resp, body := get("GET", path)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != cache || body == "" {
			t.Errorf("%s: %d, Cache-Control %q, want %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"), cache)
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers %v", path, h)
		}
	}
	for _, path := range []string{"/.state/treeState", "/.state/", "/tile/../.state/lock", "/tile/%2e%2e/.state/lock", "/%2e%2e/%2e%2e/etc/passwd",
		"/..%2f..%2fetc%2fpasswd", "/checkpoints/99", "/checkpoints/98", "/tile/7/123", "/artefacts/sha256/" + strings.Repeat("0", 64), "/tile/entries/000.p/4/", "//etc/passwd",
		"/tile\\entries", "/checkpoint%00", "/nope", "/web/../checkpoint", "/web/app.js/x"} {
		resp, body := get("GET", path)
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("%s: served (%d): %.40q", path, resp.StatusCode, body)
		}
		if strings.Contains(body, "not for viewers") {
			t.Errorf("%s: a file outside the folder was served", path)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp, _ := get(m, "/checkpoint"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, resp.StatusCode)
		}
	}
	after := snapshot(t, dir)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed while it was served", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("serving made or removed files: %d before, %d after", len(before), len(after))
	}
}

// TestEvents: /events sends the current checkpoint at once, then each new
// one as the log grows.
func TestEvents(t *testing.T) {
	l, k := newLog(t)
	s, err := publish.New(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Poll = 10 * time.Millisecond
	go s.Run(ctx)
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var data []string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "" && data != nil:
				events <- strings.Join(data, "\n") + "\n"
				data = nil
			}
		}
	}()
	nv, _ := note.NewVerifier(k.VKey)
	next := func() *transparency.Checkpoint {
		t.Helper()
		select {
		case e := <-events:
			cp, err := transparency.OpenCheckpoint([]byte(e), nv, "")
			if err != nil {
				t.Fatalf("an event that is not the signed checkpoint: %v\n%s", err, e)
			}
			return cp
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return nil
	}
	if cp := next(); cp.Size != 4 {
		t.Fatalf("first event: size %d", cp.Size)
	}
	grow(t, l, 5)
	for {
		if cp := next(); cp.Size == 9 {
			break
		} else if cp.Size < 4 || cp.Size > 9 {
			t.Fatalf("event of size %d", cp.Size)
		}
	}
	if s.Subscribers() != 1 {
		t.Fatalf("%d subscribers", s.Subscribers())
	}
}
