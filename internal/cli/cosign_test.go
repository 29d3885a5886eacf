package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/scripts"

	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
	"golang.org/x/mod/sumdb/note"
)

// TestOfficersCosign: the demo's officers cosign the checkpoint that records
// the quorum and the final one; verify reports each, and an auditor's policy
// can require them. Forged, duplicate, unknown-key and wrong-checkpoint
// cosignatures are each refused by name, a final checkpoint without the
// cosignatures required fails, and a history rewritten with the laptop's key
// is caught against a checkpoint the officers cosigned.
func TestOfficersCosign(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "log")
	var out bytes.Buffer
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Cosigned by 3 of 3 present officers (CO1, CO2, CO3)") {
		t.Fatalf("the demo does not report the final cosignatures:\n%s", out.String())
	}
	report, code := verify(t, dir, "--require-cosigners", "3")
	quorumLine := regexp.MustCompile(`\[ OK \] cosignatures +checkpoint (\d+) \(quorum\): cosigned by 3 of 3 present officers \(CO1, CO2, CO3\)`).FindStringSubmatch(report)
	finalLine := regexp.MustCompile(`\[ OK \] cosignatures +final checkpoint (\d+): cosigned by 3 of 3 present officers \(CO1, CO2, CO3\)\n`).FindStringSubmatch(report)
	if code != exitOK || quorumLine == nil || finalLine == nil {
		t.Fatalf("verify --require-cosigners 3: exit %d\n%s", code, report)
	}
	qsize, fsize := quorumLine[1], finalLine[1]
	if report, code := verify(t, dir, "--require-cosigners", "4"); code != exitBadInput || !strings.Contains(report, "[FAIL] cosignatures") || !strings.Contains(report, "; 4 required") {
		t.Fatalf("verify --require-cosigners 4: exit %d\n%s", code, report)
	}
	// The published checkpoint carries the officers' lines too.
	published, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if n := strings.Count(string(published), "\u2014 officer/CO"); n != 3 {
		t.Fatalf("the published checkpoint carries %d officer cosignatures, want 3:\n%s", n, published)
	}

	final := filepath.Join("checkpoints", fsize)
	orig, err := os.ReadFile(filepath.Join(dir, final))
	if err != nil {
		t.Fatal(err)
	}
	quorumCP, _ := os.ReadFile(filepath.Join(dir, "checkpoints", qsize))
	lineOf := func(cp []byte, id string) string {
		for _, l := range strings.Split(string(cp), "\n") {
			if strings.HasPrefix(l, "\u2014 officer/"+id+" ") {
				return l + "\n"
			}
		}
		t.Fatalf("no line by %s in\n%s", id, cp)
		return ""
	}
	strip := func(cp []byte) []byte {
		var keep []string
		for _, l := range strings.SplitAfter(string(cp), "\n") {
			if !strings.HasPrefix(l, "\u2014 officer/") {
				keep = append(keep, l)
			}
		}
		return []byte(strings.Join(keep, ""))
	}
	// A line by a key the roster does not list, under an officer's name.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, _ := quorum.CosignVKey("officer/CO9", pub)
	stranger, _ := transparency.NewCosigner(vkey, softKey{priv}, nil)
	body := orig[:bytes.Index(orig, []byte("\n\n"))+1]
	strangerLine := func() string {
		signed, err := note.Sign(&note.Note{Text: string(body)}, stranger)
		if err != nil {
			t.Fatal(err)
		}
		return string(signed[bytes.Index(signed, []byte("\n\n"))+2:])
	}()

	for name, c := range map[string]struct {
		cp   func() []byte
		want string
	}{
		"forged": {func() []byte {
			l := lineOf(orig, "CO2")
			i := strings.LastIndex(l, " ")
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(l[i+1:]))
			raw[len(raw)-1] ^= 1
			return bytes.Replace(orig, []byte(l), []byte(l[:i+1]+base64.StdEncoding.EncodeToString(raw)+"\n"), 1)
		}, "forged cosignature by CO2: it does not verify with CO2's key over checkpoint " + fsize},
		"duplicate": {func() []byte {
			return append(bytes.Clone(orig), lineOf(orig, "CO1")...)
		}, "duplicate cosignature by CO1"},
		"unknown key": {func() []byte {
			return append(bytes.Clone(orig), strangerLine...)
		}, "unknown-key cosignature by officer/CO9+"},
		"wrong checkpoint": {func() []byte {
			return bytes.Replace(orig, []byte(lineOf(orig, "CO3")), []byte(lineOf(quorumCP, "CO3")), 1)
		}, "wrong-checkpoint cosignature by CO3: it cosigns checkpoint " + qsize + ", not " + fsize},
	} {
		t.Run(name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "log")
			if err := copyTree(dir, copyDir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(copyDir, final), c.cp(), 0o644); err != nil {
				t.Fatal(err)
			}
			report, code := verify(t, copyDir)
			if code != exitBadInput || !strings.Contains(report, "[FAIL] cosignatures") || !strings.Contains(report, c.want) {
				t.Fatalf("exit %d, want 1 naming %q:\n%s", code, c.want, report)
			}
		})
	}

	t.Run("a cosignature dated before its checkpoint", func(t *testing.T) {
		// CO1's own key (the demo's simulated card) signs the quorum's
		// checkpoint, but dated an hour before the entries it covers.
		cards, err := quorum.LoadSimulated(scripts.DemoCards())
		if err != nil {
			t.Fatal(err)
		}
		card, _ := cards.Read(ctx, "CO1")
		defer quorum.CloseCard(&card)
		script, _ := session.DemoScript()
		info, _ := script.Quorum.Card("CO1")
		early, err := transparency.NewCosigner(info.Key, card.Cosigner, func() time.Time { return time.Now().Add(-time.Hour) })
		if err != nil {
			t.Fatal(err)
		}
		qbody := quorumCP[:bytes.Index(quorumCP, []byte("\n\n"))+1]
		signed, err := note.Sign(&note.Note{Text: string(qbody)}, early)
		if err != nil {
			t.Fatal(err)
		}
		earlyLine := string(signed[bytes.Index(signed, []byte("\n\n"))+2:])
		copyDir := filepath.Join(t.TempDir(), "log")
		if err := copyTree(dir, copyDir); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(copyDir, "checkpoints", qsize), bytes.Replace(quorumCP, []byte(lineOf(quorumCP, "CO1")), []byte(earlyLine), 1), 0o644)
		report, code := verify(t, copyDir)
		if code != exitOK || !regexp.MustCompile(`\[WARN\] cosignatures +checkpoint `+qsize+`: CO1's cosignature is dated \S+, before entry \d+ it covers`).MatchString(report) {
			t.Fatalf("a back-dated cosignature: exit %d\n%s", code, report)
		}
	})

	t.Run("watch", func(t *testing.T) {
		// The viewer shows the same lines, and a forged cosignature is an
		// alarm that stops it.
		var wout bytes.Buffer
		if err := run(ctx, []string{"watch", dir, "--plain"}, nil, &wout, io.Discard); err != nil ||
			!strings.Contains(wout.String(), "[ OK ] checkpoint "+qsize+" (quorum): cosigned by 3 of 3 present officers (CO1, CO2, CO3)") ||
			!strings.Contains(wout.String(), "[ OK ] final checkpoint "+fsize+": cosigned by 3 of 3 present officers (CO1, CO2, CO3)") {
			t.Fatalf("watch: %v\n%s", err, wout.String())
		}
		copyDir := filepath.Join(t.TempDir(), "log")
		if err := copyTree(dir, copyDir); err != nil {
			t.Fatal(err)
		}
		l := lineOf(quorumCP, "CO2")
		i := strings.LastIndex(l, " ")
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(l[i+1:]))
		raw[len(raw)-1] ^= 1
		os.WriteFile(filepath.Join(copyDir, "checkpoints", qsize), bytes.Replace(quorumCP, []byte(l), []byte(l[:i+1]+base64.StdEncoding.EncodeToString(raw)+"\n"), 1), 0o644)
		wout.Reset()
		err := run(ctx, []string{"watch", copyDir, "--plain"}, nil, &wout, io.Discard)
		if exitCode(err) != exitBadInput || !strings.Contains(wout.String(), "forged cosignature by CO2") {
			t.Fatalf("watch with a forged cosignature: %v\n%s", err, wout.String())
		}
	})

	t.Run("final checkpoint without the cosignatures required", func(t *testing.T) {
		copyDir := filepath.Join(t.TempDir(), "log")
		if err := copyTree(dir, copyDir); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(copyDir, final), strip(orig), 0o644)
		os.WriteFile(filepath.Join(copyDir, "checkpoint"), strip(published), 0o644)
		report, code := verify(t, copyDir)
		if code != exitOK || !strings.Contains(report, "[WARN] cosignatures") || !strings.Contains(report, "present but not cosigned: CO1, CO2, CO3") {
			t.Fatalf("without a policy: exit %d, want 0 with a warning:\n%s", code, report)
		}
		report, code = verify(t, copyDir, "--require-cosigners", "3")
		if code != exitBadInput || !strings.Contains(report, "final checkpoint "+fsize+": cosigned by 0 of 3 present officers") {
			t.Fatalf("--require-cosigners 3: exit %d, want 1:\n%s", code, report)
		}
	})

	t.Run("a history rewritten with the laptop key", func(t *testing.T) {
		// Whoever holds the laptop's key writes the same ceremony again,
		// entry by entry, at other times: a rewritten history, signed by
		// the same key. Without the officers' cards its checkpoints carry
		// no cosignatures of theirs.
		other := filepath.Join(t.TempDir(), "log")
		key, err := transparency.LoadKey(dir + ".key")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
		if err != nil {
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
		open := entries[0].Event.(event.Open)
		var arts []transparency.Artefact
		for _, a := range entries[0].Artefacts {
			data, _ := os.ReadFile(filepath.Join(dir, "artefacts", "sha256", a.SHA256))
			arts = append(arts, transparency.Artefact{Name: a.Name, Data: data})
		}
		l, err := transparency.Open(ctx, other, transparency.Options{Key: key, New: true, Open: open, OpenArtefacts: arts})
		if err != nil {
			t.Fatal(err)
		}
		if err := copyTree(filepath.Join(dir, "artefacts"), filepath.Join(other, "artefacts")); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[1:] {
			if _, err := l.Append(ctx, e.Event, e.Artefacts...); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// Its own signatures verify; what the officers cosigned does not.
		cosigned := filepath.Join(dir, "checkpoints", qsize)
		report, code := verify(t, other, "--checkpoint", cosigned)
		want := cosigned + ": checkpoint " + qsize + " is cosigned by the officers CO1, CO2, CO3, and this log is not consistent with it: its history was rewritten after they signed"
		if code != exitBadInput || !strings.Contains(report, want) {
			t.Fatalf("the rewritten log against the cosigned checkpoint %s: exit %d\n%s", qsize, code, report)
		}
		// And on its own it lacks what its entries claim.
		report, code = verify(t, other, "--require-cosigners", "3")
		if code != exitBadInput || !strings.Contains(report, "the log records cosignatures by CO1, CO2, CO3, but checkpoints/") {
			t.Fatalf("the rewritten log alone: exit %d\n%s", code, report)
		}
	})
}

// softKey is an Ed25519 key in memory, as a card would yield it.
type softKey struct{ k ed25519.PrivateKey }

func (s softKey) Public() ed25519.PublicKey              { return s.k.Public().(ed25519.PublicKey) }
func (s softKey) SignEd25519(msg []byte) ([]byte, error) { return ed25519.Sign(s.k, msg), nil }

// verify runs verify on a log folder: its report and its exit code.
func verify(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"verify", dir}, args...), nil, &out, io.Discard)
	return out.String(), exitCode(err)
}
