package publish_test

import (
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
	"golang.org/x/mod/sumdb/note"

	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/internal/logtest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/publish"
)

// browser starts headless Chromium (Debian's chromium, which make test
// installs). Without it the test is skipped, except under CI where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; make test installs it")
		}
		t.Skip("chromium is not installed (make test installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1200, 1800))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// demoLog opens a demo ceremony's log in a new folder, for a session to
// play into.
func demoLog(t testing.TB, key *transparency.Key) (*session.Session, *transparency.Log) {
	t.Helper()
	ctx := context.Background()
	script, err := session.DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	l, err := transparency.Open(ctx, filepath.Join(base, "log"), transparency.Options{Key: key, New: true,
		Open: event.Open{Ceremony: script.Ceremony, Zone: script.Zone, ScriptSHA256: script.Digest,
			OfficerKeys: ceremony.OfficerKeys(script.Quorum), QuorumThreshold: ceremony.QuorumThreshold(script)},
		OpenArtefacts: []transparency.Artefact{{Name: "demo.yaml", Data: script.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	cfg, err := session.DemoConfig(script, l, false, filepath.Join(base, "skr.xml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// pageState is what the page reports of itself (window.keyceremony).
type pageState struct {
	Size     int
	Verified int
	Failure  string
	Live     string
	Pinned   bool
}

func readPage(ctx context.Context) (pageState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](`(() => { const s = window.keyceremony; return {
		Size: s.cp ? s.cp.size : -1, Verified: s.verified.length, Failure: s.failure ? s.failure.check + ": " + s.failure.detail : "",
		Live: s.live, Pinned: s.pinned }; })()`))
}

// waitPage polls the page until ok says so.
func waitPage(t *testing.T, ctx context.Context, what string, ok func(pageState) bool) pageState {
	t.Helper()
	var p pageState
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if p, err = readPage(ctx); err == nil && ok(p) {
			return p
		}
	}
	t.Fatalf("the page never showed %s: %+v", what, p)
	return p
}

// screenshot saves the page as a PNG, where KEYCEREMONY_SCREENSHOTS says
// (default: the system's temporary folder), and logs the path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("KEYCEREMONY_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "keyceremony-screenshots")
	}
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// servePage serves a log folder, with its live stream, on loopback until
// the test ends, and returns the server's URL.
func servePage(t *testing.T, dir string) string {
	t.Helper()
	s, err := publish.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	sctx, stop := context.WithCancel(context.Background())
	go s.Run(sctx)
	t.Cleanup(func() {
		stop() // before srv.Close: the event streams end with Run
		srv.Close()
		s.Close()
	})
	return srv.URL
}

// TestPageVerifiesInTheBrowser opens the page in headless Chromium while a
// demo ceremony is played into the log it serves: the page, with the log
// key pinned in its link, verifies each checkpoint the server pushes
// (Ed25519 in WebCrypto, the root recomputed from the entries, each new
// checkpoint extending the last) until the ceremony closes, and shows the
// steps, the cards, the artefacts' hashes in hex and PGP words and every
// checkpoint marked verified. A screenshot of the page is saved.
func TestPageVerifiesInTheBrowser(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	link := servePage(t, l.Dir()) + "/#key=" + url.QueryEscape(key.VKey)
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	// The first checkpoint is read at once; the live stream is named when
	// its first event arrives.
	first := waitPage(t, ctx, "a first verified checkpoint from the live stream", func(p pageState) bool { return (p.Verified >= 1 && p.Live != "") || p.Failure != "" })
	if first.Failure != "" || !first.Pinned || first.Live != "events" {
		t.Fatalf("first checkpoint: %+v", first)
	}
	// The ceremony goes on while the page watches.
	played := make(chan error, 1)
	go func() {
		for sess.Next() != session.NextDone {
			if _, err := sess.AutoStep(context.Background()); err != nil {
				played <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		played <- nil
	}()
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	if _, err := l.AwaitCheckpoint(context.Background(), l.Size()-1); err != nil {
		t.Fatal(err)
	}
	size := int(l.Size())
	last := waitPage(t, ctx, fmt.Sprintf("checkpoint %d verified", size), func(p pageState) bool { return p.Size == size || p.Failure != "" })
	if last.Failure != "" || last.Verified < 3 {
		t.Fatalf("at the close: %+v (the log grew while the page watched; it verified %d checkpoints)", last, last.Verified)
	}
	// Closing the log publishes the final checkpoint with the officers'
	// cosignatures, which the page checks in the browser.
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	final := fmt.Sprintf("[ OK ] final checkpoint %d: cosigned by 3 of 3 present officers (CO1, CO2, CO3)", size)
	var text string
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !strings.Contains(text, final); time.Sleep(100 * time.Millisecond) {
		text, err = chromedp.Run(ctx, chromedp.Text("body"))
		if err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := readPage(ctx); p.Failure != "" {
		t.Fatalf("after the close: %+v", p)
	}
	quorum := regexp.MustCompile(`\[ OK \] checkpoint \d+ \(quorum\): cosigned by 3 of 3 present officers \(CO1, CO2, CO3\)`)
	if !strings.Contains(text, final) || !quorum.MatchString(text) {
		t.Fatalf("the page does not show the officers' cosignatures:\n%s", text)
	}
	for _, want := range []string{fmt.Sprintf("[ OK ] checkpoint %d verified", size), "pinned by the link you opened", "REHEARSAL",
		"Demo key-signing ceremony", "quorum reached: CO1, CO2, CO3", "CO2 (Bjorn Lindqvist) REJECTED", "ksr-root-2010-q1-0.xml", "SHA-256 ba59 9094 95d5",
		"shadow examine peachy molecule", "The ceremony is closed; its final checkpoint is verified.", "verified size " + fmt.Sprint(size)} {
		if !strings.Contains(text, want) {
			t.Fatalf("the page lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "page-verified.png")
}

// TestPageAlarms: the page raises a banner naming the check that failed,
// and keeps it, for a log whose entries were changed after signing, for a
// log replaced by another history while it watched, and for a key that is
// not the one pinned.
func TestPageAlarms(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	play := func(steps int) string {
		sess, l := demoLog(t, key)
		for i := 0; i < steps && sess.Next() != session.NextDone; i++ {
			if _, err := sess.AutoStep(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		l.Close(context.Background())
		return l.Dir()
	}
	served := filepath.Join(t.TempDir(), "served")
	logtest.CopyPublished(t, play(12), served)
	other := play(20)
	// Each case has its own server, so its own origin: the browser's cache
	// of immutable bundles from one case does not answer for another.
	serve := func() string {
		s, err := publish.New(served)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		sctx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop) // runs before srv.Close: the event streams end first
		go s.Run(sctx)
		return srv.URL
	}
	banner := func() string {
		b, _ := chromedp.Run(ctx, chromedp.Text("#banner"))
		return b
	}
	// Another history while the page watches.
	if err := chromedp.Do(ctx, chromedp.Navigate(serve()+"/#key="+url.QueryEscape(key.VKey))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the first checkpoint", func(p pageState) bool { return p.Verified == 1 })
	logtest.CopyPublished(t, other, served)
	p := waitPage(t, ctx, "an alarm", func(p pageState) bool { return p.Failure != "" })
	if !strings.HasPrefix(p.Failure, "consistency: ") || !strings.Contains(banner(), "ALARM: consistency failed") || !strings.Contains(banner(), "Do not trust") {
		t.Fatalf("another history: %+v, banner %q", p, banner())
	}
	screenshot(t, ctx, "page-alarm.png")
	// Entries changed after signing: the root does not match.
	logtest.CopyPublished(t, other, served)
	changed := false
	filepath.WalkDir(filepath.Join(served, "tile", "entries"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() { // every bundle, the one the page reads among them
			b, _ := os.ReadFile(path)
			if i := strings.Index(string(b), `"role":"CA"`); i >= 0 {
				b[i+8] = 'X'
				os.WriteFile(path, b, 0o644)
				changed = true
			}
		}
		return nil
	})
	if !changed {
		t.Fatal("no entry to change")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(serve()+"/#key="+url.QueryEscape(key.VKey))); err != nil {
		t.Fatal(err)
	}
	if p := waitPage(t, ctx, "an alarm", func(p pageState) bool { return p.Failure != "" }); !strings.HasPrefix(p.Failure, "root: ") {
		t.Fatalf("a changed entry: %+v", p)
	}
	// A key that is not the one pinned.
	otherKey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	ok, _ := transparency.ParseKey(otherKey)
	if err := chromedp.Do(ctx, chromedp.Navigate(serve()+"/#key="+url.QueryEscape(ok.VKey))); err != nil {
		t.Fatal(err)
	}
	if p := waitPage(t, ctx, "an alarm", func(p pageState) bool { return p.Failure != "" }); !strings.HasPrefix(p.Failure, "checkpoint signature: ") {
		t.Fatalf("another key: %+v", p)
	}
}

// TestPageOnAStaticHost: the page's files (serve --export-page) and a copy
// of the log folder on a plain static file server, no serve: the page,
// told where the log is (?log=), polls the checkpoint and verifies it.
func TestPageOnAStaticHost(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	for i := 0; i < 15; i++ {
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	l.Close(context.Background())
	host := t.TempDir()
	logtest.CopyPublished(t, l.Dir(), filepath.Join(host, "ceremony", "log"))
	exportPage(t, filepath.Join(host, "page"))
	srv := httptest.NewServer(http.FileServer(http.Dir(host)))
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page/index.html?log=../ceremony/log/#key="+url.QueryEscape(key.VKey))); err != nil {
		t.Fatal(err)
	}
	size := int(l.Size())
	// The live mode is named once the first checkpoint is read: wait for both.
	p := waitPage(t, ctx, fmt.Sprintf("checkpoint %d verified and the live mode", size), func(p pageState) bool { return (p.Size == size && p.Live != "") || p.Failure != "" })
	if p.Failure != "" || p.Live != "polling" {
		t.Fatalf("on a static host: %+v", p)
	}
}

// TestPageSaysTheConsoleStopped: a ceremony stopped by its operator is
// shown as such ("Console stopped since …"), and the page's log box shows
// the newest entries, not the oldest.
func TestPageSaysTheConsoleStopped(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	for i := 0; i < 40 && !sess.State().HSM; i++ {
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sess.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AwaitCheckpoint(context.Background(), l.Size()-1); err != nil {
		t.Fatal(err)
	}
	size := int(l.Size())
	if err := chromedp.Do(ctx, chromedp.Navigate(servePage(t, l.Dir())+"/#key="+url.QueryEscape(key.VKey))); err != nil {
		t.Fatal(err)
	}
	if p := waitPage(t, ctx, fmt.Sprintf("checkpoint %d", size), func(p pageState) bool { return p.Size == size || p.Failure != "" }); p.Failure != "" {
		t.Fatalf("%+v", p)
	}
	now, err := chromedp.Run(ctx, chromedp.Text("#now"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(now, "Console stopped since") || !strings.Contains(now, "the HSM was logged out first") {
		t.Fatalf("the page's Now: %q", now)
	}
	if cards, _ := chromedp.Run(ctx, chromedp.Text("#cards")); !strings.Contains(cards, "quorum: 3 officers' cards needed, reached") {
		t.Fatalf("the page's cards do not give the quorum's threshold: %q", cards)
	}
	// The steps with their text, read from the script the log cites.
	var stepsText string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(stepsText, "Three crypto officers in turn present their cards"); time.Sleep(100 * time.Millisecond) {
		stepsText, _ = chromedp.Run(ctx, chromedp.Text("#steps"))
	}
	if !strings.Contains(stepsText, "Three crypto officers in turn present their cards") || !strings.Contains(stepsText, "NOW") {
		t.Fatalf("the page's steps lack their text or the current step:\n%s", stepsText)
	}
	screenshot(t, ctx, "page-stopped.png")
	atEnd, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const l = document.getElementById("log"); return l.scrollHeight > l.clientHeight && l.scrollHeight - l.scrollTop - l.clientHeight < 8; })()`))
	if err != nil || !atEnd {
		t.Fatalf("the log box does not show the newest entries (%v)", err)
	}
}

// TestPageCountsOnlyNamedCosigners: a valid cosignature by an officer the
// log does not name for that checkpoint (CO4, who presented no card) is a
// failure on the page, as in verify and watch.
func TestPageCountsOnlyNamedCosigners(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	qsize := ""
	for i := 0; i < 60 && qsize == ""; i++ {
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
		names, _ := filepath.Glob(filepath.Join(l.Dir(), "checkpoints", "*"))
		for _, n := range names {
			if b, _ := os.ReadFile(n); strings.Count(string(b), "\u2014 officer/") >= 3 {
				qsize = filepath.Base(n)
			}
		}
	}
	if qsize == "" {
		t.Fatal("no checkpoint cosigned by the quorum")
	}
	for i := 0; i < 3; i++ { // the log.cosigned entry, and a little more
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	l.Close(context.Background())
	host := t.TempDir()
	logtest.CopyPublished(t, l.Dir(), filepath.Join(host, "log"))
	exportPage(t, host)
	// CO4's own key cosigns the quorum's checkpoint.
	cards, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	card, err := cards.Read(context.Background(), "CO4")
	if err != nil {
		t.Fatal(err)
	}
	defer quorum.CloseCard(&card)
	script, _ := session.DemoScript()
	info, _ := script.Quorum.Card("CO4")
	cosigner, err := transparency.NewCosigner(info.Key, card.Cosigner, nil)
	if err != nil {
		t.Fatal(err)
	}
	cpPath := filepath.Join(host, "log", "checkpoints", qsize)
	cp, _ := os.ReadFile(cpPath)
	i := strings.Index(string(cp), "\n\n")
	signed, err := note.Sign(&note.Note{Text: string(cp[:i+1])}, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cpPath, append(cp, signed[strings.Index(string(signed), "\n\n")+2:]...), 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(host)))
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/index.html?log=log/#key="+url.QueryEscape(key.VKey))); err != nil {
		t.Fatal(err)
	}
	p := waitPage(t, ctx, "a failure", func(p pageState) bool { return p.Failure != "" })
	if p.Failure != "cosignatures: checkpoint "+qsize+": not-named cosignature by CO4: the log does not name CO4 among the officers cosigning checkpoint "+qsize {
		t.Fatalf("%+v", p)
	}
}

// exportPage writes the page's files into dir as serve --export-page lays
// them out: index.html, and the rest under web/.
func exportPage(t *testing.T, dir string) {
	t.Helper()
	for _, name := range publish.WebFiles() {
		data, _, err := publish.WebFile(name)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "web", name)
		if name == "index.html" {
			p = filepath.Join(dir, name)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
}
