// Package logtest has helpers for tests that publish copies of a log folder.
package logtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// CopyPublished copies a log folder's published files (everything but
// .state/) over dst, replacing what dst held: a publisher pushing a new
// version. dst itself stays, so that a server holding it open goes on.
func CopyPublished(t testing.TB, src, dst string) {
	t.Helper()
	old, _ := os.ReadDir(dst)
	for _, e := range old {
		os.RemoveAll(filepath.Join(dst, e.Name()))
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == ".state" {
			return fs.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
