package ceremony

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyceremony/keyceremony/scripts"
)

var updateRenders = flag.Bool("update-renders", false, "rewrite testdata/render/*.md from the shipped scripts")

// TestRenderGolden: the printable script of every shipped script, as the
// participants get it, is the reviewed one in testdata/render (after a
// deliberate change: go test -run RenderGolden -update-renders).
func TestRenderGolden(t *testing.T) {
	for _, name := range []string{"demo", "signing", "signing-two", "keygen", "officers", "recovery", "decommission", "admin"} {
		t.Run(name, func(t *testing.T) {
			raw, err := scripts.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			// As keyceremony script render prints a built-in script: a roster
			// it names is read when the ceremony runs.
			s, err := LoadScriptWith(name+".yaml", raw, func(string) ([]byte, error) { return nil, fs.ErrNotExist })
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := RenderMarkdown(&out, s); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "render", name+".md")
			if *updateRenders {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-renders to write it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("script render %s differs from %s; review the change and run with -update-renders", name, path)
			}
		})
	}
}
