package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
)

// failingReader is handed to Sign: the token makes its own randomness, so
// reading this is a bug.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) {
	panic("the signer read the caller's randomness")
}

// TestGenerateKSK makes an RSA and an ECDSA KSK in SoftHSM2: the private
// halves are sensitive and never extractable, both sign (without the
// caller's randomness) and verify, a used label is refused, and a
// backup-capable key is extractable only when asked for.
func TestGenerateKSK(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	if _, err := tok.GenerateKSK(ctx, hsm.KeySpec{Label: "NEW", Algorithm: 8}); !errors.Is(err, hsm.ErrNotLoggedIn) {
		t.Fatalf("generate before login: %v, want ErrNotLoggedIn", err)
	}
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("an RRset"))
	for _, spec := range []hsm.KeySpec{{Label: "KSK-RSA", Algorithm: 8}, {Label: "KSK-EC", Algorithm: 13}, {Label: "KSK-BACKUP", Algorithm: 8, Bits: 3072, Extractable: true}} {
		k, err := tok.GenerateKSK(ctx, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec.Label, err)
		}
		sig, err := k.Sign(failingReader{}, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("%s: sign: %v", spec.Label, err)
		}
		switch pub := k.Public().(type) {
		case *rsa.PublicKey:
			want := spec.Bits
			if want == 0 {
				want = 2048
			}
			if spec.Algorithm != 8 || pub.N.BitLen() != want || pub.E != 65537 {
				t.Fatalf("%s: RSA key of %d bits, e=%d", spec.Label, pub.N.BitLen(), pub.E)
			}
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				t.Fatalf("%s: %v", spec.Label, err)
			}
		case *ecdsa.PublicKey:
			if spec.Algorithm != 13 || !ecdsa.VerifyASN1(pub, digest[:], sig) {
				t.Fatalf("%s: the ECDSA signature does not verify", spec.Label)
			}
		default:
			t.Fatalf("%s: public key %T", spec.Label, pub)
		}
		sensitive, extractable, never, err := tok.PrivateAttributes(spec.Label)
		if err != nil {
			t.Fatal(err)
		}
		if !sensitive || extractable != spec.Extractable || never == spec.Extractable {
			t.Fatalf("%s: sensitive %v, extractable %v, never extractable %v", spec.Label, sensitive, extractable, never)
		}
		// The public half only verifies, the private half only signs.
		uses, err := tok.Uses(spec.Label)
		if err != nil {
			t.Fatal(err)
		}
		if p := uses.Problems(spec.Extractable); len(p) > 0 || !uses.PrivateRead {
			t.Fatalf("%s: %v (%+v)", spec.Label, p, uses)
		}
		if spec.Extractable {
			if p := uses.Problems(false); len(p) != 1 || !strings.Contains(p[0], "extractable") {
				t.Fatalf("%s without backups: %v", spec.Label, p)
			}
		}
	}
	labels, err := tok.KeyLabels(ctx)
	if err != nil || len(labels) != 5 {
		t.Fatalf("labels %v, %v", labels, err)
	}
	for _, spec := range []hsm.KeySpec{{Label: "KSK-RSA", Algorithm: 8}, {Label: "KSK1", Algorithm: 13}} {
		if _, err := tok.GenerateKSK(ctx, spec); !errors.Is(err, hsm.ErrLabelExists) {
			t.Fatalf("%s again: %v, want ErrLabelExists", spec.Label, err)
		}
	}
	for _, spec := range []hsm.KeySpec{{Label: "X", Algorithm: 5}, {Label: "Y", Algorithm: 8, Bits: 1024}, {Algorithm: 8}} {
		if _, err := tok.GenerateKSK(ctx, spec); err == nil {
			t.Fatalf("%+v was generated", spec)
		}
	}
	if labels2, _ := tok.KeyLabels(ctx); len(labels2) != len(labels) {
		t.Fatalf("refused requests left keys behind: %v", labels2)
	}
}
