package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusals: serve binds loopback unless told --public, and wants
// a log folder.
func TestServeRefusals(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--log", t.TempDir(), "--addr", "0.0.0.0:0"}, "not a loopback address; give --public"},
		{[]string{"serve", "--log", t.TempDir(), "--addr", "127.0.0.1:0"}, "not a log folder"},
		{[]string{"serve"}, "serve: missing --log"},
	} {
		err := run(ctx, c.args, nil, io.Discard, io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestServeExportPage: the page's files for a static host.
func TestServeExportPage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "page")
	var b bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--export-page", out}, nil, &b, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "web/app.js", "web/style.css", "web/pgpwords.js"} {
		data, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || len(data) == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	words, _ := os.ReadFile(filepath.Join(out, "web/pgpwords.js"))
	if !strings.Contains(string(words), `"aardvark"`) || !strings.Contains(string(words), `"adroitness"`) {
		t.Fatal("the PGP word lists are not in the page")
	}
}
