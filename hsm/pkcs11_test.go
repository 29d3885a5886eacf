package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/dnssec"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

const (
	testTokenPIN = "123456"
	testLabel    = "keyceremony-test"
)

// softHSM makes a SoftHSM2 token holding IANA's public test KSK1 (for a
// stable key tag) and a fresh ECDSA P-256 key, and opens it.
func softHSM(t testing.TB) *hsm.PKCS11Token {
	t.Helper()
	b, _ := os.ReadFile("assets/demo-ksk1.key")
	blk, _ := pem.Decode(b)
	rsaKey, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	module := hsmtest.SoftHSM(t, testLabel, testTokenPIN, map[string]crypto.Signer{"KSK1": rsaKey, "EC1": ec})
	tok, err := hsm.OpenPKCS11(module, testLabel)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPKCS11Conformance runs the token conformance suite against a real
// SoftHSM2 token, for an RSA and an ECDSA key.
func TestPKCS11Conformance(t *testing.T) {
	tok := softHSM(t)
	defer tok.Close()
	for _, label := range []string{"KSK1", "EC1"} {
		t.Run(label, func(t *testing.T) {
			hsmtest.Run(t, func(t *testing.T) hsmtest.Fixture {
				tok.Logout(context.Background())
				return hsmtest.Fixture{Token: tok, PIN: []byte(testTokenPIN), KeyLabel: label}
			})
		})
	}
	info, err := tok.Info()
	if err != nil || info.Label != testLabel || info.ProtectedPath {
		t.Fatalf("token info %+v, %v", info, err)
	}
}

func TestPKCS11Errors(t *testing.T) {
	tok := softHSM(t)
	defer tok.Close()
	if _, err := hsm.OpenPKCS11(hsmtest.SoftHSMModule, "no-such-token"); !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Fatalf("unknown label: %v, want ErrTokenNotFound", err)
	}
	if _, err := hsm.OpenPKCS11("/nonexistent/libpkcs11.so", testLabel); err == nil {
		t.Fatal("a missing module opened")
	}
	// The serial, when the profile gives one, must be the token's.
	info, err := tok.Info()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.OpenPKCS11Serial(hsmtest.SoftHSMModule, testLabel, "0000000000000000"); !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), "has serial "+strings.TrimSpace(info.Serial)) {
		t.Fatalf("wrong serial: %v", err)
	}
	again, err := hsm.OpenPKCS11Serial(hsmtest.SoftHSMModule, testLabel, strings.TrimSpace(info.Serial))
	if err != nil {
		t.Fatalf("right serial: %v", err)
	}
	again.Close()
}

// TestPKCS11SignsLikeIANA: test KSK1 in SoftHSM, reached over PKCS#11,
// signs IANA's 2010Q1 KSR into exactly IANA's signatures, and its DNSKEY
// has tag 5017 (5145 revoked).
func TestPKCS11SignsLikeIANA(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		t.Fatal(err)
	}
	k, err := tok.Key(ctx, "KSK1")
	if err != nil {
		t.Fatal(err)
	}
	dk, err := dnssec.NewDNSKEY(".", k.Public(), dnssec.FlagZone|dnssec.FlagSEP, 172800)
	if err != nil {
		t.Fatal(err)
	}
	if tag, revoked := dnssec.KeyTags(dk); tag != 5017 || revoked != 5145 {
		t.Fatalf("tags %d/%d, want 5017/5145", tag, revoked)
	}
	if n, err := signLikeIANA(t, tok); n != 9 || err != nil {
		t.Fatalf("%d bundles signed: %v", n, err)
	}
}

// signLikeIANA signs IANA's 2010Q1 KSR with the token's KSK1 bundle by
// bundle and returns how many were signed before an error; a signature that
// differs from IANA's SKR fails the test.
func signLikeIANA(t *testing.T, tok *hsm.PKCS11Token) (int, error) {
	t.Helper()
	read := func(name string) *dnssec.Document {
		b, err := os.ReadFile("../dnssec/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dnssec.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ksr, want := read("ksr-root-2010-q1-0.xml"), read("skr-root-2010-q1-0.xml")
	k, err := tok.Key(context.Background(), "KSK1")
	if err != nil {
		return 0, err
	}
	dk, err := dnssec.NewDNSKEY(".", k.Public(), dnssec.FlagZone|dnssec.FlagSEP, 172800)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ksr.Request.Bundles {
		b, err := dnssec.SignSlot(ksr, i, dnssec.Slot{Publish: []string{"KSK1"}, Sign: []string{"KSK1"}}, map[string]dnssec.KSK{"KSK1": {Identifier: "KSK1", DNSKEY: dk, Signer: k}}, 172800)
		if err != nil {
			return i, err
		}
		if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
			t.Fatalf("bundle %d: the HSM's signature differs from IANA's", i+1)
		}
	}
	return len(ksr.Request.Bundles), nil
}
