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

// TestInputCaps: an input larger than any real one (a 2 MiB KSR, script or
// profile) is refused in one line naming the file, before it is parsed.
func TestInputCaps(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.xml")
	os.WriteFile(big, bytes.Repeat([]byte("<"), 2<<20), 0o644)
	for _, args := range [][]string{
		{"ksr", "check", big},
		{"script", "check", big},
		{"skr", "verify", big, "--anchor", big},
	} {
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "big.xml") || !strings.Contains(err.Error(), "1048576") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
