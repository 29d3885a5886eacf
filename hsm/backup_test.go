package hsm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
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
		got, err := hsm.WrapPadForTest(kek, key)
		if err != nil || hex.EncodeToString(got) != v.wrapped {
			t.Fatalf("wrap %s: %x, %v; want %s", v.key, got, err, v.wrapped)
		}
		back, err := hsm.UnwrapPadForTest(kek, got)
		if err != nil || !bytes.Equal(back, key) {
			t.Fatalf("unwrap: %x, %v", back, err)
		}
		got[len(got)-1] ^= 1
		if _, err := hsm.UnwrapPadForTest(kek, got); !errors.Is(err, hsm.ErrUnwrap) {
			t.Fatalf("a changed byte: %v", err)
		}
	}
}

// TestBackupAcrossTokens: a backup-capable KSK wrapped in one SoftHSM token
// under a storage master key (C_WrapKey) is restored into another
// (C_UnwrapKey) as a sensitive, non-extractable, sign-only key that signs
// for the same public key; the wrapped bytes are RFC 5649 over PKCS#8, as
// the software unwrap reads them. Another storage master key, or another
// key's public half, restores nothing and leaves nothing behind; a key
// generated non-extractable is not backed up.
func TestBackupAcrossTokens(t *testing.T) {
	ctx := context.Background()
	module := hsmtest.SoftHSMTokens(t, map[string]string{"facility-a": "pin-a-0000", "facility-b": "pin-b-0000"})
	open := func(label, pin string) *hsm.PKCS11Token {
		tok, err := hsm.OpenPKCS11(module, label)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tok.Close() })
		if err := tok.Login(ctx, []byte(pin)); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a, b := open("facility-a", "pin-a-0000"), open("facility-b", "pin-b-0000")
	smk := make([]byte, hsm.SMKSize)
	rand.Read(smk)
	for _, spec := range []hsm.KeySpec{{Label: "KSK-RSA", Algorithm: 8, Extractable: true}, {Label: "KSK-EC", Algorithm: 13, Extractable: true}} {
		k, err := a.GenerateKSK(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		wrapped, err := a.WrapKSK(ctx, spec.Label, smk)
		if err != nil {
			t.Fatalf("%s: wrap: %v", spec.Label, err)
		}
		soft, err := hsm.UnwrapPKCS8(smk, wrapped)
		if err != nil || !hsm.SamePublic(soft.Public(), k.Public()) {
			t.Fatalf("%s: the software unwrap: %v", spec.Label, err)
		}
		other := make([]byte, hsm.SMKSize)
		if _, err := b.UnwrapKSK(ctx, spec.Label, other, wrapped, k.Public(), false); !errors.Is(err, hsm.ErrUnwrap) {
			t.Fatalf("%s: another storage master key: %v", spec.Label, err)
		}
		r, err := b.UnwrapKSK(ctx, spec.Label, smk, wrapped, k.Public(), false)
		if err != nil {
			t.Fatalf("%s: restore: %v", spec.Label, err)
		}
		if !hsm.SamePublic(r.Public(), k.Public()) {
			t.Fatalf("%s: restored with another public key", spec.Label)
		}
		sensitive, extractable, _, err := b.PrivateAttributes(spec.Label)
		if err != nil || !sensitive || extractable {
			t.Fatalf("%s: restored sensitive=%v extractable=%v (%v)", spec.Label, sensitive, extractable, err)
		}
		uses, err := b.Uses(spec.Label)
		if err != nil || len(uses.Problems(false)) > 0 {
			t.Fatalf("%s: restored key's uses: %v %v", spec.Label, uses.Problems(false), err)
		}
		if _, err := b.UnwrapKSK(ctx, spec.Label, smk, wrapped, k.Public(), false); !errors.Is(err, hsm.ErrLabelExists) {
			t.Fatalf("%s: restored twice: %v", spec.Label, err)
		}
	}
	// The RSA key's private half with the EC key's public half.
	wrapped, _ := a.WrapKSK(ctx, "KSK-RSA", smk)
	ec, _ := a.Key(ctx, "KSK-EC")
	if _, err := b.UnwrapKSK(ctx, "MIXED", smk, wrapped, ec.Public(), false); err == nil {
		t.Fatal("a private half restored with another key's public half")
	}
	if labels, _ := b.KeyLabels(ctx); strings.Contains(strings.Join(labels, " "), "MIXED") {
		t.Fatalf("a refused restore left %v behind", labels)
	}
	if _, err := a.GenerateKSK(ctx, hsm.KeySpec{Label: "KSK-KEPT", Algorithm: 13}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WrapKSK(ctx, "KSK-KEPT", smk); err == nil || !strings.Contains(err.Error(), "not extractable") {
		t.Fatalf("a non-extractable key backed up: %v", err)
	}
}
