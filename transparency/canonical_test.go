package transparency

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// TestResignedNonCanonical: whoever holds the log key writes a log whose
// entries say what the true ones say, in other bytes, chained and signed
// as the log writes them. Each entry has one encoding; every other one
// fails entries.json, by entry.
func TestResignedNonCanonical(t *testing.T) {
	key := testKey(t, "test.keyceremony.invalid/canonical/rehearsal")
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	canonical := func(i int, prev string) string {
		var rec event.Event = event.Exception{Step: "1.1", Text: "the safe's door stuck"}
		if i == 0 {
			rec = event.Open{Origin: key.Signer.Name(), LogVKey: key.VKey}
		}
		b, err := (&event.Entry{Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second), Prev: prev, Event: rec}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, mangle := range map[string]func(string) string{
		"the canonical bytes": func(s string) string { return s },
		"whitespace":          func(s string) string { return strings.Replace(s, `"kind":`, `"kind": `, 1) },
		"field order": func(s string) string {
			return strings.Replace(s, `"step":"1.1","text":"the safe's door stuck"`, `"text":"the safe's door stuck","step":"1.1"`, 1)
		},
		"escaped key":          func(s string) string { return strings.Replace(s, `"text":`, `"t\u0065xt":`, 1) },
		"escaped character":    func(s string) string { return strings.Replace(s, `"1.1"`, `"1\u002e1"`, 1) },
		"number form":          func(s string) string { return strings.Replace(s, `"seq":2`, `"seq":2.0`, 1) },
		"number out of range":  func(s string) string { return strings.Replace(s, `"seq":2`, `"seq":1e99999`, 1) },
		"lone surrogate":       func(s string) string { return strings.Replace(s, `door stuck`, `door \ud800stuck`, 1) },
		"time in another form": func(s string) string { return strings.Replace(s, `.000Z`, `Z`, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeLog(t, key, 4, func(i int, prev string) []byte {
				s := canonical(i, prev)
				if i == 2 {
					if m := mangle(s); m != s || name == "the canonical bytes" {
						s = m
					} else {
						t.Fatalf("no variant made of %s", s)
					}
				}
				return []byte(s)
			})
			rep, err := Verify(os.DirFS(dir), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f := rep.FirstFailure()
			if name == "the canonical bytes" {
				if f != nil {
					t.Fatalf("%s: %s", f.ID, f.Detail)
				}
				return
			}
			if f == nil || f.ID != CheckEntryJSON || !strings.HasPrefix(f.Detail, "entry 2 ") {
				t.Fatalf("went unnoticed, or not as entry 2's encoding: %+v", f)
			}
			if !strings.Contains(f.Detail, event.ErrNotCanonical.Error()) && !strings.Contains(f.Detail, event.ErrEntry.Error()) {
				t.Fatalf("%s", f.Detail)
			}
			t.Logf("%s", f.Detail)
		})
	}
}
