package hsm_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

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
	smk := make([]byte, backup.SMKSize)
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
		soft, err := backup.UnwrapPKCS8(smk, wrapped)
		if err != nil || !hsm.SamePublic(soft.Public(), k.Public()) {
			t.Fatalf("%s: the software unwrap: %v", spec.Label, err)
		}
		other := make([]byte, backup.SMKSize)
		if _, err := b.UnwrapKSK(ctx, spec.Label, other, wrapped, k.Public(), false); !errors.Is(err, backup.ErrUnwrap) {
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
