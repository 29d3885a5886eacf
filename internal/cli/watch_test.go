package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchPlainOverHTTP follows a rehearsal as it is played: the log folder
// is served over real HTTP on loopback by a static file server, and
// watch --plain URL, with the log key pinned, prints each verified
// checkpoint and every entry, and ends when the ceremony closes. The key it
// pins is the demo's, read from DIR.key's public half once the log exists.
func TestWatchPlainOverHTTP(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	os.MkdirAll(dir, 0o755)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var demoOut bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	os.Remove(dir) // the demo makes the folder
	go func() {
		defer wg.Done()
		if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &demoOut, io.Discard); err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	var vkey []byte
	for i := 0; i < 200 && len(vkey) == 0; i++ {
		vkey, _ = os.ReadFile(filepath.Join(dir, "log.vkey"))
		time.Sleep(20 * time.Millisecond)
	}
	if len(vkey) == 0 {
		t.Fatal("the demo made no log")
	}
	keyFile := filepath.Join(t.TempDir(), "announced.vkey")
	os.WriteFile(keyFile, vkey, 0o644)
	var out bytes.Buffer
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := run(wctx, []string{"watch", "--plain", "--interval", "100ms", "--key", keyFile, srv.URL + "/"}, nil, &out, io.Discard)
	wg.Wait()
	if err != nil {
		t.Fatalf("watch: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"Watching " + srv.URL, "[ OK ] checkpoint ", "ceremony closed", "The ceremony is closed; its final checkpoint is verified.",
		"(quorum): cosigned by 3 of 3 present officers (CO1, CO2, CO3)", ": cosigned by 3 of 3 present officers (CO1, CO2, CO3)\nThe ceremony is closed"} {
		if !strings.Contains(s, want) {
			t.Fatalf("watch printed no %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "compare it with the one announced") {
		t.Fatal("a pinned key is shown as read from the log")
	}
	// Every entry, once, in order: the log's size is the last index + 1.
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", dir}, nil, &vout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(s, "  #"); !strings.Contains(vout.String(), "VERIFIED on the log key alone: "+itoa(n)+" entries") {
		t.Fatalf("watch printed %d entries; verify says:\n%s", n, vout.String())
	}
	if strings.Count(s, "[ OK ] checkpoint ") < 2 {
		t.Fatalf("the log was not seen growing (one checkpoint only):\n%s", s)
	}
}

// TestWatchAlarmsOnRewrite: a folder whose log is replaced by another
// history (here: another ceremony's log with the same key name would not
// verify; another key altogether) makes watch print the alarm and exit 1.
func TestWatchAlarmsOnRewrite(t *testing.T) {
	ctx := context.Background()
	a := filepath.Join(t.TempDir(), "a", "log")
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--script", "admin", "--log", a}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	vkey, _ := os.ReadFile(filepath.Join(a, "log.vkey"))
	cp, _ := os.ReadFile(filepath.Join(a, "checkpoint"))
	// A checkpoint edited after signing: the served log is not the signed one.
	os.WriteFile(filepath.Join(a, "checkpoint"), bytes.Replace(cp, []byte("\n29\n"), []byte("\n28\n"), 1), 0o644)
	var out bytes.Buffer
	err := run(ctx, []string{"watch", "--plain", "--key", strings.TrimSpace(string(vkey)), a}, nil, &out, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(out.String(), "ALARM: checkpoint.signature") || !strings.Contains(out.String(), "do not trust") {
		t.Fatalf("watch on a tampered checkpoint: %v\n%s", err, out.String())
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
