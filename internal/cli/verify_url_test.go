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
	"testing"

	"github.com/keyceremony/keyceremony/transparency"
	"golang.org/x/mod/sumdb/note"
)

// TestVerifyURL: verify checks a log published over HTTP as it checks a
// folder: the same checks, the roster pinned, the officers' cosignatures of
// the archived checkpoints the log names; what the server alters fails by
// name, and the viewer's bounds hold.
func TestVerifyURL(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var folder, out bytes.Buffer
	if err := run(ctx, []string{"verify", dir, "--roster", dir + "-roster.yaml", "--require-cosigners", "3"}, nil, &folder, io.Discard); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"verify", srv.URL + "/", "--roster", dir + "-roster.yaml", "--require-cosigners", "3"}, nil, &out, io.Discard)
	report := out.String()
	if err != nil || !strings.Contains(report, "Log folder   "+srv.URL+"/") || !strings.Contains(report, "[ OK ] roster") ||
		!strings.Contains(report, "[ OK ] cosignatures          checkpoint 22 (quorum): cosigned by 3 of 3 present officers (CO1, CO2, CO3)") ||
		!strings.Contains(report, "[ OK ] cosignatures          final checkpoint 64: cosigned by 3 of 3 present officers (CO1, CO2, CO3)") ||
		lastLine(report) != lastLine(folder.String()) {
		t.Fatalf("verify URL: %v\n%s\nthe folder:\n%s", err, report, folder.String())
	}

	t.Run("an artefact altered on the server", func(t *testing.T) {
		copyDir := filepath.Join(t.TempDir(), "log")
		if err := copyTree(dir, copyDir); err != nil {
			t.Fatal(err)
		}
		arts, _ := filepath.Glob(filepath.Join(copyDir, "artefacts", "sha256", "*"))
		for _, a := range arts {
			b, _ := os.ReadFile(a)
			os.WriteFile(a, append(b, '\n'), 0o644)
		}
		srv := httptest.NewServer(http.FileServer(http.Dir(copyDir)))
		defer srv.Close()
		var out bytes.Buffer
		err := run(ctx, []string{"verify", srv.URL}, nil, &out, io.Discard)
		if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "artefact") {
			t.Fatalf("%v\n%s", err, out.String())
		}
	})
	t.Run("a checkpoint of 256,000,000 entries", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/checkpoint":
				w.Write(hugeCheckpoint(t, dir))
			default:
				http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
			}
		}))
		defer srv.Close()
		err := run(ctx, []string{"verify", srv.URL}, nil, io.Discard, io.Discard)
		if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "bounds") {
			t.Fatalf("%v", err)
		}
	})
}

// hugeCheckpoint is a checkpoint of the demo's log claiming 256,000,000
// entries, signed with its key.
func hugeCheckpoint(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := transparency.LoadKey(dir + ".key")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: transparency.FormatCheckpointBody(key.Signer.Name(), 256_000_000, transparency.Hash{})}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}
