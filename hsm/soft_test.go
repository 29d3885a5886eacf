package hsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

func TestSoftTokenConformance(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) hsmtest.Fixture {
		pin := []byte("0123456789abcdef")
		key, ok := hsm.RehearsalKey("demo-ksk1.key")
		if !ok {
			t.Fatal("the command carries no demo-ksk1.key")
		}
		tok, err := hsm.SoftTokenOf("keyceremony-demo", map[string][]byte{"KSK1": key}, sha256.Sum256(pin))
		if err != nil {
			t.Fatal(err)
		}
		return hsmtest.Fixture{Token: tok, PIN: pin, KeyLabel: "KSK1"}
	})
}

// TestLoadSoftTokenConformance: a software token from PEM files (RSA and
// ECDSA P-256) behaves as every token must; ECDSA signing works with the
// token's no-randomness reader (the signature's randomness is the key's own).
func TestLoadSoftTokenConformance(t *testing.T) {
	dir := t.TempDir()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	os.WriteFile(filepath.Join(dir, "ec.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	for _, label := range []string{"EC1", "KSK1"} {
		t.Run(label, func(t *testing.T) {
			hsmtest.Run(t, func(t *testing.T) hsmtest.Fixture {
				tok, err := hsm.LoadSoftToken("soft", map[string]string{"EC1": filepath.Join(dir, "ec.pem"), "KSK1": "assets/demo-ksk1.key"})
				if err != nil {
					t.Fatal(err)
				}
				return hsmtest.Fixture{Token: tok, PIN: nil, KeyLabel: label}
			})
		})
	}
}
