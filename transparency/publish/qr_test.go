package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/camera"
	"golang.org/x/mod/sumdb/note"
)

// modules writes a code's modules as the page reports them: a line of 0
// and 1 per row.
func modules(c camera.Code) string {
	var b strings.Builder
	for y := range c.Size {
		if y > 0 {
			b.WriteByte('\n')
		}
		for x := range c.Size {
			if c.Black(x, y) {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
	}
	return b.String()
}

type jsCode struct {
	Version int
	Part    int
	Of      int
	Modules string
}

// TestPageDrawsTheConsolesCodes: the page draws a checkpoint's QR codes
// itself, from the note it verified, module for module as the console
// does (package camera), for payloads of every version up to the largest
// drawn and for the closed ceremony's split final note; the code on the
// screen, read back from a screenshot, holds what it should. A viewer
// pastes what the stream showed: the final note, or the texts of its
// codes, is consistent and names its cosigners; a checkpoint of a
// rewritten log signed by the same key is not, and the page's own
// verdict is untouched; text that is no note is one line.
func TestPageDrawsTheConsolesCodes(t *testing.T) {
	ctx := browser(t)
	skey, _, _ := transparency.GenerateKey("page-test.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	sess, l := demoLog(t, key)
	for sess.Next() != session.NextDone {
		if _, err := sess.AutoStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	link := servePage(t, l.Dir()) + "/#key=" + url.QueryEscape(key.VKey)
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	size := int(l.Size())
	waitPage(t, ctx, fmt.Sprintf("checkpoint %d verified", size), func(p pageState) bool { return p.Size == size || p.Failure != "" })

	// Payloads of every length class, through the JavaScript encoder and
	// the Go one.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 12, 30, 50, 75, 100, 130, 150, 180, 220, 260, 271} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		payload := []byte(base64.StdEncoding.EncodeToString(raw))[:n]
		want, err := camera.Codes(payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]jsCode](fmt.Sprintf(`QR.codes(new TextEncoder().encode(%q)).then((cs) => cs.map((c) => ({
			Version: c.version, Part: c.part, Of: c.of, Modules: c.modules.map((r) => r.map((b) => (b ? "1" : "0")).join("")).join("\n") })))`, payload),
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d bytes: the page draws %d codes, the console %d", n, len(got), len(want))
		}
		for i := range want {
			if got[i].Version != want[i].Version || got[i].Modules != modules(want[i]) {
				t.Fatalf("%d bytes, code %d: the page draws version %d, the console version %d:\n%s\n\n%s", n, i, got[i].Version, want[i].Version, got[i].Modules, modules(want[i]))
			}
		}
	}

	// The closed ceremony's final note, cosigned: split, drawn in turn.
	final, err := os.ReadFile(filepath.Join(l.Dir(), "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := camera.Codes(final)
	if err != nil || len(want) < 2 {
		t.Fatalf("the final note in %d codes: %v", len(want), err)
	}
	var got []jsCode
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && len(got) != len(want); time.Sleep(100 * time.Millisecond) {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[[]jsCode](`(window.keyceremony.qrCodes || []).map((c) => ({Version: c.version, Part: c.part, Of: c.of, Modules: c.modules}))`))
	}
	if len(got) != len(want) {
		t.Fatalf("the page draws %d codes for the final note, the console %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Modules != modules(want[i]) || got[i].Part != i+1 || got[i].Of != len(want) {
			t.Fatalf("final note, code %d of %d: not the console's", got[i].Part, got[i].Of)
		}
	}
	// Each code on the screen, read back from a screenshot of it.
	var asm camera.Assembler
	var joined []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && joined == nil; time.Sleep(500 * time.Millisecond) {
		caption, _ := chromedp.Run(ctx, chromedp.Text("#qrpart"))
		shot, err := chromedp.Run(ctx, chromedp.Screenshot("#qr svg"))
		if err != nil {
			t.Fatal(err)
		}
		if after, _ := chromedp.Run(ctx, chromedp.Text("#qrpart")); after != caption {
			continue // the next code took the screen while this one was captured
		}
		img, _, err := image.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		payload, err := camera.DecodeImage(img)
		if err != nil {
			t.Fatalf("the code on the page does not decode: %v", err)
		}
		part, err := camera.ParsePart(payload)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(caption, fmt.Sprintf("code %d of %d", part.N, part.Of)) {
			t.Fatalf("code %d of %d is captioned %q", part.N, part.Of, caption)
		}
		if joined, err = asm.Add(part); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(joined, final) {
		t.Fatalf("the page's codes join to:\n%s\nthe final checkpoint is:\n%s", joined, final)
	}
	screenshot(t, ctx, "page-codes.png")

	// What a viewer pastes.
	var parts []string
	for _, c := range want {
		parts = append(parts, string(c.Payload))
	}
	signer, _ := note.NewSigner(skey)
	body, _ := transparency.SplitNote(final)
	origin, fsize, root, _ := transparency.ParseCheckpointBody(string(body))
	root = sha256.Sum256(root[:])
	rewritten, _ := note.Sign(&note.Note{Text: transparency.FormatCheckpointBody(origin, fsize, root)}, signer)
	for _, c := range []struct{ pasted, want string }{
		{string(final), "[ OK ] consistent: checkpoint " + strconv.Itoa(size) + " is signed by the log key and its root is the root of the published log's first " + strconv.Itoa(size) + " entries; cosigned by CO1, CO2, CO3"},
		{"  " + strings.TrimSuffix(string(final), "\n") + "\n\n", "[ OK ] consistent: checkpoint " + strconv.Itoa(size)},
		{strings.Join(parts, "\n"), "[ OK ] consistent: checkpoint " + strconv.Itoa(size) + " is signed by the log key"},
		{parts[1] + parts[0] + strings.Join(parts[2:], ""), "[ OK ] consistent: checkpoint " + strconv.Itoa(size)},
		{parts[0], "[FAIL] parts 2"},
		{string(rewritten), "[FAIL] NOT consistent: checkpoint " + strconv.Itoa(size) + " is signed by the log key, but its root"},
		{"https://example.com/", "[FAIL] checkpoint signature: the checkpoint has no signature"},
	} {
		res, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
			$("pasted").value = %q; window.keyceremony.pasted = null; $("checkpasted").click();
			for (let i = 0; i < 400 && !window.keyceremony.pasted; i++) await new Promise((r) => setTimeout(r, 25));
			return $("pastedresult").textContent; })()`, c.pasted),
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res, c.want) {
			t.Fatalf("pasted %.60q: the page says %q, want %q", c.pasted, res, c.want)
		}
	}
	if p, _ := readPage(ctx); p.Failure != "" || p.Size != size {
		t.Fatalf("after what was pasted, the page's own verdict: %+v", p)
	}
}
