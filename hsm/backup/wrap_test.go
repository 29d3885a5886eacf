package backup

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestRFC5649Vectors: the software key wrap is RFC 5649's, by its own
// examples (section 6), both ways; a changed byte does not unwrap.
func TestRFC5649Vectors(t *testing.T) {
	kek, _ := hex.DecodeString("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	for _, v := range []struct{ key, wrapped string }{
		{"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		key, _ := hex.DecodeString(v.key)
		got, err := wrapPad(kek, key)
		if err != nil || hex.EncodeToString(got) != v.wrapped {
			t.Fatalf("wrap %s: %x, %v; want %s", v.key, got, err, v.wrapped)
		}
		back, err := unwrapPad(kek, got)
		if err != nil || !bytes.Equal(back, key) {
			t.Fatalf("unwrap: %x, %v", back, err)
		}
		got[len(got)-1] ^= 1
		if _, err := unwrapPad(kek, got); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("a changed byte: %v", err)
		}
	}
}
