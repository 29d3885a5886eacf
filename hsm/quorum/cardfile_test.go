package quorum

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCardFiles deals a 3-of-7 roster onto passphrase-encrypted card files
// and collects a quorum from them: files are 0600 and hold neither share nor
// passphrase in clear; a wrong passphrase is refused and counted; a missing,
// renamed, truncated or changed file is refused by name; three good cards
// recover the secret that was dealt.
func TestCardFiles(t *testing.T) {
	ctx := context.Background()
	r, cards, err := Deal(rand.Reader, 3, holders(7))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pass := func(id string) string { return "correct horse battery " + id }
	for _, c := range cards {
		if err := WriteCardFile(filepath.Join(dir, c.ID+CardFileExt), c, pass(c.ID), 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteCardFile(filepath.Join(dir, cards[0].ID+CardFileExt), cards[0], "x", 10); err == nil {
		t.Fatal("a card file was overwritten")
	}
	for _, c := range cards {
		p := filepath.Join(dir, c.ID+CardFileExt)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", p, err, st.Mode())
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, c.Value) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(c.Value))) || bytes.Contains(b, []byte(pass(c.ID))) {
			t.Fatalf("%s holds the share or the passphrase in clear", p)
		}
	}

	typed := map[string]string{}
	f := &CardFiles{Dir: dir, Passphrase: func(_ context.Context, id string) (string, error) { return typed[id], nil }}
	typed["CO1"] = "wrong"
	for try := 1; try <= 2; try++ {
		_, err := f.Read(ctx, "CO1")
		var wp *WrongPINError
		if !errors.As(err, &wp) || wp.Tries != try || !errors.Is(err, ErrCardPIN) || strings.Contains(err.Error(), "wrong\"") {
			t.Fatalf("wrong passphrase, try %d: %v", try, err)
		}
	}
	if _, err := f.Read(ctx, "CO9"); !errors.Is(err, ErrNoCard) {
		t.Fatalf("missing card: %v", err)
	}
	if _, err := f.Read(ctx, "../CO1"); !errors.Is(err, ErrNoCard) {
		t.Fatalf("a path as a card id: %v", err)
	}
	// CO2's file copied over as CO4's: it opens (with CO2's passphrase) but
	// names another card.
	b2, _ := os.ReadFile(filepath.Join(dir, "CO2"+CardFileExt))
	os.Remove(filepath.Join(dir, "CO4"+CardFileExt))
	os.WriteFile(filepath.Join(dir, "CO4"+CardFileExt), b2, 0o600)
	typed["CO4"] = pass("CO2")
	if _, err := f.Read(ctx, "CO4"); err == nil || !strings.Contains(err.Error(), "holds card CO2") {
		t.Fatalf("a renamed card: %v", err)
	}
	// A changed or truncated file is refused, never a panic.
	b5, _ := os.ReadFile(filepath.Join(dir, "CO5"+CardFileExt))
	typed["CO5"] = pass("CO5")
	for i := 0; i < len(b5); i += 7 {
		bad := bytes.Clone(b5)
		bad[i] ^= 0x20
		os.WriteFile(filepath.Join(dir, "CO5"+CardFileExt), bad, 0o600)
		if c, err := f.Read(ctx, "CO5"); err == nil && !bytes.Equal(c.Value, cards[4].Value) {
			t.Fatalf("byte %d changed: a different share was read", i)
		}
	}
	os.WriteFile(filepath.Join(dir, "CO5"+CardFileExt), b5[:len(b5)/2], 0o600)
	if _, err := f.Read(ctx, "CO5"); err == nil {
		t.Fatal("a truncated card file was read")
	}

	c, err := NewCollector(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO1", "CO3", "CO6"} {
		typed[id] = pass(id)
		card, err := f.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	// The dealt secret is what three of the dealt cards recover.
	c2, _ := NewCollector(r)
	for _, card := range cards[4:7] {
		c2.Present(card)
	}
	want, _ := c2.Recover()
	if !bytes.Equal(got, want) {
		t.Fatal("the card files recovered a different secret")
	}
}
