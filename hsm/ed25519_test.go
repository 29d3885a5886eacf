package hsm_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
)

// TestEd25519OnToken: a crypto officer's cosigning key is made in SoftHSM,
// signs with CKM_EDDSA (checked with Go's own Ed25519), and its private half
// can never be read out.
func TestEd25519OnToken(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		t.Fatal(err)
	}
	pub, err := tok.GenerateEd25519(ctx, "cosign")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("cosignature/v1\ntime 1\nexample\n1\nAAAA\n")
	sig, err := tok.SignEd25519(ctx, "cosign", msg)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatal("the token's Ed25519 signature does not verify with its public key")
	}
	again, err := tok.Ed25519Public(ctx, "cosign")
	if err != nil || !again.Equal(pub) {
		t.Fatalf("public key read back: %x, %v", again, err)
	}
	sensitive, extractable, never, err := tok.PrivateAttributes("cosign")
	if err != nil || !sensitive || extractable || !never {
		t.Fatalf("private half: sensitive %v extractable %v never-extractable %v (%v)", sensitive, extractable, never, err)
	}
	if _, err := tok.GenerateEd25519(ctx, "cosign"); !errors.Is(err, hsm.ErrLabelExists) {
		t.Fatalf("a second key with the same label: %v", err)
	}
}
