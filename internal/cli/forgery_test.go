package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestForgeries: forged inputs and forged records of a closed ceremony are
// each caught, by name. A card from another roster is refused; an SKR
// signed by another key, put in the log in place of the one written, and a
// KSR changed after its hash was confirmed, fail verify naming the
// artefact; the SKR is refused against the ceremony's KSK anchor when it is
// another key's. (A replayed card event is TestVerifyScriptRules'; a forged
// share is refused in every demo run.)
func TestForgeries(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal(err)
	}
	artefact := func(name string) string {
		for _, raw := range rep.RawEntries {
			e, _ := event.ParseHeader(raw)
			for _, a := range e.Artefacts {
				if strings.HasSuffix(a.Name, name) {
					return filepath.Join("artefacts", "sha256", a.SHA256)
				}
			}
		}
		t.Fatalf("no artefact %s", name)
		return ""
	}
	for _, c := range []struct {
		name, file string
		data       func(old []byte) []byte
		want       string
	}{
		{"an SKR signed by another key", artefact("-skr.xml"), func([]byte) []byte {
			b, _ := os.ReadFile("../../dnssec/testdata/skr-root-2017-q1-0.xml")
			return b
		}, "[FAIL] artefacts"},
		{"a KSR changed after its hash was confirmed", artefact("ksr-root-2010-q1-0.xml"), func(old []byte) []byte {
			return bytes.Replace(old, []byte("<Inception>"), []byte("<Inception >"), 1)
		}, "[FAIL] artefacts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "log")
			if err := copyTree(dir, copyDir); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(copyDir, c.file)
			old, _ := os.ReadFile(p)
			os.WriteFile(p, c.data(old), 0o644)
			var out bytes.Buffer
			err := run(ctx, []string{"verify", copyDir}, nil, &out, io.Discard)
			if exitCode(err) != exitBadInput || !strings.Contains(out.String(), c.want) || !strings.Contains(out.String(), filepath.Base(c.file)) {
				t.Fatalf("exit %d, want 1 with %q naming %s:\n%s", exitCode(err), c.want, filepath.Base(c.file), out.String())
			}
		})
	}
	t.Run("the SKR against another key's anchor", func(t *testing.T) {
		var out bytes.Buffer
		err := run(ctx, []string{"skr", "verify", dir + "-skr.xml", "--anchor", "../../dnssec/testdata/root-anchors-2017.xml"}, nil, &out, io.Discard)
		if exitCode(err) != exitBadInput {
			t.Fatalf("the demo's SKR against the 2017 anchor: exit %d\n%s", exitCode(err), out.String())
		}
	})
	t.Run("a card from another roster", func(t *testing.T) {
		script, err := session.DemoScript()
		if err != nil {
			t.Fatal(err)
		}
		_, cards, err := quorum.Deal(rand.Reader, 3, []quorum.CardInfo{{ID: "CO1", Holder: "x"}, {ID: "CO2", Holder: "y"}, {ID: "CO3", Holder: "z"}})
		if err != nil {
			t.Fatal(err)
		}
		col, _ := quorum.NewCollector(script.Quorum)
		var re *quorum.RejectedError
		if err := col.Present(cards[0]); !errors.As(err, &re) || re.Reason != quorum.ReasonForged {
			t.Fatalf("a card dealt for another roster: %v", err)
		}
	})
}
