package quorum

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRosterFile: a roster written as a file reads back the same; a file
// with no quorum: block, or with a key a roster does not have, is refused.
func TestRosterFile(t *testing.T) {
	holders := []CardInfo{{ID: "CO1", Holder: "A"}, {ID: "CO2", Holder: "B"}, {ID: "CO3", Holder: "C"}}
	r, cards, err := Deal(rand.Reader, 2, holders)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalRosterFile(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRosterFile(b)
	if err != nil || !reflect.DeepEqual(back, r) || back.Validate() != nil {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
	if _, err := ParseRosterFile([]byte("ceremony: x\n")); err == nil || !strings.Contains(err.Error(), "field ceremony not found") {
		t.Fatalf("an unknown key: %v", err)
	}
	if _, err := ParseRosterFile([]byte("quorum:\n")); !errors.Is(err, ErrNotRoster) {
		t.Fatalf("an empty quorum block: %v", err)
	}
	if _, err := ParseRosterFile([]byte("other: {}\n")); err == nil {
		t.Fatal("a file of another kind read as a roster")
	}
	// The PIN dealt cards give is the one a quorum of them derives.
	pin, err := RecoverPIN(r, cards, "token")
	if err != nil {
		t.Fatal(err)
	}
	col, _ := NewCollector(r)
	for _, c := range cards[1:] {
		if err := col.Present(c); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := col.Recover()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := DerivePIN(secret, "token")
	if !bytes.Equal(pin, want) {
		t.Fatal("RecoverPIN differs from the PIN another quorum of the cards derives")
	}
	// Card files: a private folder, one file per card, never overwritten.
	dir := filepath.Join(t.TempDir(), "cards")
	passes := map[string]string{"CO1": "passphrase one", "CO2": "passphrase two", "CO3": "passphrase three"}
	paths, err := WriteCardFiles(dir, cards, passes, 10)
	if err != nil || len(paths) != 3 {
		t.Fatalf("%v %v", paths, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the card folder: %v %v", fi.Mode(), err)
	}
	if _, err := WriteCardFiles(dir, cards[:1], passes, 10); err == nil {
		t.Fatal("a card file was overwritten")
	}
}
