package durable

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("one"), 0o600, New); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := WriteFile(p, []byte("two"), 0o600, New); !errors.Is(err, ErrExists) {
		t.Fatalf("New over an existing file: %v", err)
	}
	if err := WriteFile(p, []byte("one"), 0o644, Same); err != nil {
		t.Fatalf("Same with the same content: %v", err)
	}
	if err := WriteFile(p, []byte("two"), 0o644, Same); !errors.Is(err, ErrExists) {
		t.Fatalf("Same with other content: %v", err)
	}
	if err := WriteFile(p, []byte("two"), 0o644, Replace); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Fatalf("temporary files left: %v", left)
	}
}
