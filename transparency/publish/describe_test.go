package publish_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/publish"
)

// TestDescribeJSIsGenerated: the page's description table is the log
// format's own, as go generate writes it.
func TestDescribeJSIsGenerated(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("web", "describe.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, publish.DescribeJS()) {
		t.Fatal("web/describe.js differs from ceremony/event's table: run go generate ./transparency/publish")
	}
	served, _, err := publish.WebFile("describe.js")
	if err != nil || !bytes.Equal(served, got) {
		t.Fatalf("the page is served another describe.js: %v", err)
	}
}

// TestPageDescribesAsTheConsole: in headless Chromium, the page's
// describe() words every kind of entry (the log format's vectors) exactly
// as the console, the viewer and the transcript do.
func TestPageDescribesAsTheConsole(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	_, l := demoLog(t, key)
	if err := chromedp.Do(ctx, chromedp.Navigate(servePage(t, l.Dir())+"/")); err != nil {
		t.Fatal(err)
	}
	vectors, _ := filepath.Glob(filepath.Join("..", "..", "ceremony", "event", "testdata", "vectors", "*.json"))
	if len(vectors) < len(event.Kinds) {
		t.Fatalf("%d vectors for %d kinds", len(vectors), len(event.Kinds))
	}
	for _, v := range vectors {
		raw, err := os.ReadFile(v)
		if err != nil {
			t.Fatal(err)
		}
		e, err := event.Parse(bytes.TrimSpace(raw))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		arg, _ := json.Marshal(string(bytes.TrimSpace(raw)))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`describe(JSON.parse(`+string(arg)+`))`))
		if err != nil {
			t.Fatal(err)
		}
		if want := event.Describe(e); got != want {
			t.Errorf("%s: the page says %q, the console %q", filepath.Base(v), got, want)
		}
	}
}
