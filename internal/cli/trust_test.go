package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
	"golang.org/x/mod/sumdb/note"
)

// TestPinnedTrust: what an auditor's verdict rests on. The roster can be
// pinned from outside the log, and a log whose roster is not the pinned one
// fails by card; a cosignature counts only for an officer the close names
// present, whose card is not revoked, and not when it is dated after the
// verification time or long after the close; the published checkpoint's
// lines count; a log that is not closed is not verified unless --open is
// given; and a verdict with no outside pin says that the log key alone
// could have written the log.
func TestPinnedTrust(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "log")
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	script, err := session.DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	writeRoster := func(t *testing.T, r *quorum.Roster) string {
		t.Helper()
		b, err := quorum.MarshalRosterFile(r)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "roster.yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pinned := writeRoster(t, script.Quorum)
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal(err)
	}
	var entries []*event.Entry
	for _, raw := range rep.RawEntries {
		e, err := event.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	fsize := rep.Size
	final := filepath.Join("checkpoints", fmtU(fsize))
	orig, err := os.ReadFile(filepath.Join(dir, final))
	if err != nil {
		t.Fatal(err)
	}
	published, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	strip := func(cp []byte) []byte {
		var keep []string
		for _, l := range strings.SplitAfter(string(cp), "\n") {
			if !strings.HasPrefix(l, "\u2014 officer/") {
				keep = append(keep, l)
			}
		}
		return []byte(strings.Join(keep, ""))
	}
	cards, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	// cosignLine is the officer's own cosignature (their card's key) of a
	// checkpoint note, dated by clock.
	cosignLine := func(t *testing.T, id string, cp []byte, clock func() time.Time) string {
		t.Helper()
		card, err := cards.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer quorum.CloseCard(&card)
		info, _ := script.Quorum.Card(id)
		c, err := transparency.NewCosigner(info.Key, card.Cosigner, clock)
		if err != nil {
			t.Fatal(err)
		}
		body := cp[:bytes.Index(cp, []byte("\n\n"))+1]
		signed, err := note.Sign(&note.Note{Text: string(body)}, c)
		if err != nil {
			t.Fatal(err)
		}
		return string(signed[bytes.Index(signed, []byte("\n\n"))+2:])
	}
	withFinal := func(t *testing.T, archived, pub []byte) string {
		t.Helper()
		copyDir := filepath.Join(t.TempDir(), "log")
		if err := copyTree(dir, copyDir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, final), archived, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, "checkpoint"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
		return copyDir
	}

	t.Run("no outside pin", func(t *testing.T) {
		report, code := verify(t, dir, "--require-cosigners", "3")
		if code != exitOK || !strings.Contains(report, "VERIFIED on the log key alone: "+fmtU(fsize)+" entries") ||
			!strings.Contains(report, "anyone holding the log key could have written this log") ||
			!regexp.MustCompile(`roster +read from the log: whoever holds the log key chose it`).MatchString(report) {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		// The verdict is the last line.
		lines := strings.Split(strings.TrimSpace(report), "\n")
		if !strings.HasPrefix(lines[len(lines)-1], "Nothing outside the log vouches for it") {
			t.Fatalf("the verdict is not last:\n%s", report)
		}
	})

	t.Run("the pinned roster", func(t *testing.T) {
		report, code := verify(t, dir, "--roster", pinned, "--require-cosigners", "3")
		if code != exitOK || !strings.Contains(report, "[ OK ] roster") || !strings.Contains(report, "VERIFIED: "+fmtU(fsize)+" entries") ||
			!regexp.MustCompile(`\[OUTSIDE\] officers +the final checkpoint cosigned by 3 officers present, unrevoked, with keys from the pinned roster \(CO1, CO2, CO3\)`).MatchString(report) ||
			strings.Contains(report, "log key alone") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		// --json says the same.
		var out bytes.Buffer
		if err := run(ctx, []string{"verify", dir, "--roster", pinned, "--json"}, nil, &out, io.Discard); err != nil ||
			!strings.Contains(out.String(), `"part": "officers"`) || !strings.Contains(out.String(), `"outside": true`) {
			t.Fatalf("--json: %v\n%s", err, out.String())
		}
	})

	t.Run("a log whose roster is not the pinned one", func(t *testing.T) {
		// Whoever holds the log key wrote a history with a roster of new
		// officer keys: against the roster published before the ceremony,
		// the log's differs, by card.
		other := *script.Quorum
		other.Cards = append([]quorum.CardInfo(nil), script.Quorum.Cards...)
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		if other.Cards[1].Key, err = quorum.CosignVKey(quorum.CosignKeyName("CO2"), pub); err != nil {
			t.Fatal(err)
		}
		other.Cards = append(other.Cards, quorum.CardInfo{ID: "CO8", Holder: "Officer H", Share: 8})
		report, code := verify(t, dir, "--roster", writeRoster(t, &other))
		if code != exitBadInput || !strings.Contains(report, "[FAIL] roster") ||
			!strings.Contains(report, "CO2's cosigning key differs") || !strings.Contains(report, "CO8 is missing") ||
			!strings.HasSuffix(strings.TrimSpace(report), "NOT VERIFIED") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		if _, code := verify(t, dir, "--roster", filepath.Join(base, "none.yaml")); code != exitUsage {
			t.Fatalf("a missing roster file: exit %d", code)
		}
	})

	t.Run("cosignatures by officers the close names absent", func(t *testing.T) {
		// The present officers' lines stripped, and lines by officers who
		// were never there added: valid signatures, which count for nothing.
		forged := strip(orig)
		for _, id := range []string{"CO4", "CO5", "CO6"} {
			forged = append(forged, cosignLine(t, id, orig, nil)...)
		}
		copyDir := withFinal(t, forged, forged)
		report, code := verify(t, copyDir, "--require-cosigners", "3")
		if code != exitBadInput || !strings.Contains(report, "not-named cosignature by CO4: the log does not name CO4 among the officers cosigning checkpoint "+fmtU(fsize)) ||
			!strings.Contains(report, "cosigned by 0 of 3 present officers") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		var wout bytes.Buffer
		err := run(ctx, []string{"watch", copyDir, "--plain"}, nil, &wout, io.Discard)
		if exitCode(err) != exitBadInput || !strings.Contains(wout.String(), "not-named cosignature by CO4") {
			t.Fatalf("watch: %v\n%s", err, wout.String())
		}
	})

	t.Run("a revoked card's cosignature", func(t *testing.T) {
		c, err := audit.ReadCeremony(os.DirFS(dir), rep)
		if err != nil {
			t.Fatal(err)
		}
		revoked := *script.Quorum
		revoked.Cards = append([]quorum.CardInfo(nil), script.Quorum.Cards...)
		revoked.Cards[1].Revoked = true
		findings, outcome := audit.VerifyCosignatures(c.State, c.Entries, map[uint64][]byte{fsize: orig}, audit.CosignPolicy{Require: 3, Roster: &revoked})
		var all []string
		for _, f := range findings {
			all = append(all, f.Detail)
		}
		if !strings.Contains(strings.Join(all, "\n"), "revoked cosignature by CO2") || len(outcome.Final) != 2 {
			t.Fatalf("counted %v:\n%s", outcome.Final, strings.Join(all, "\n"))
		}
	})

	t.Run("the published checkpoint's lines count", func(t *testing.T) {
		copyDir := withFinal(t, strip(orig), published)
		if report, code := verify(t, copyDir, "--require-cosigners", "3"); code != exitOK || !strings.Contains(report, "final checkpoint "+fmtU(fsize)+": cosigned by 3 of 3 present officers (CO1, CO2, CO3)") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
	})

	t.Run("a cosignature dated in 2100", func(t *testing.T) {
		in2100 := func() time.Time { return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) }
		var keep []string
		for _, l := range strings.SplitAfter(string(orig), "\n") {
			if !strings.HasPrefix(l, "\u2014 officer/CO1 ") {
				keep = append(keep, l)
			}
		}
		late := append([]byte(strings.Join(keep, "")), cosignLine(t, "CO1", orig, in2100)...)
		copyDir := withFinal(t, late, late)
		report, code := verify(t, copyDir)
		if code != exitBadInput || !strings.Contains(report, "dated-later cosignature by CO1: it is dated 2100-01-01T00:00:00Z, after the verification time") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		// Dated a day after the close, verified later still: too long after.
		c, err := audit.ReadCeremony(os.DirFS(dir), rep)
		if err != nil {
			t.Fatal(err)
		}
		dayAfter := entries[len(entries)-1].Time.Add(25 * time.Hour)
		lateCP := append([]byte(strings.Join(keep, "")), cosignLine(t, "CO1", orig, func() time.Time { return dayAfter })...)
		findings, _ := audit.VerifyCosignatures(c.State, c.Entries, map[uint64][]byte{fsize: lateCP}, audit.CosignPolicy{Now: dayAfter.Add(time.Hour)})
		var all []string
		for _, f := range findings {
			all = append(all, f.Detail)
		}
		if !strings.Contains(strings.Join(all, "\n"), "dated-later cosignature by CO1") || !strings.Contains(strings.Join(all, "\n"), "more than 24h after the close") {
			t.Fatalf("a day after the close:\n%s", strings.Join(all, "\n"))
		}
	})

	t.Run("a log cut short and re-signed", func(t *testing.T) {
		// Whoever holds the log key writes the first 20 entries again: a
		// log that is whole and signed, but not closed.
		other := filepath.Join(t.TempDir(), "log")
		rewriteLog(t, dir, other, 20, nil)
		report, code := verify(t, other)
		if code != exitBadInput || !strings.Contains(report, "[FAIL] entries.close") || !strings.Contains(report, "give --open") {
			t.Fatalf("exit %d:\n%s", code, report)
		}
		report, code = verify(t, other, "--open")
		if code != exitOK || !strings.Contains(report, "VERIFIED on the log key alone: 20 entries") {
			t.Fatalf("--open: exit %d:\n%s", code, report)
		}
	})
}

func fmtU(n uint64) string { return strconv.FormatUint(n, 10) }
