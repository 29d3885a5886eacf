package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"github.com/keyceremony/keyceremony/dnssec"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	testTokenPIN  = "123456"
	testLabel     = "keyceremony-test"
)

// softHSM makes a SoftHSM2 token in a private folder, with IANA's public test
// KSK1 (for a stable key tag) and a fresh ECDSA P-256 key imported, and opens
// it. Without SoftHSM the test is skipped, except in CI where it fails.
func softHSM(t *testing.T) *hsm.PKCS11Token {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil || !fileExists(softhsmModule) {
		if os.Getenv("CI") != "" {
			t.Fatal("SoftHSM2 is missing in CI: make test installs softhsm2")
		}
		t.Skip("SoftHSM2 is not installed (make test installs it)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.MkdirAll(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(util, args...).CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util %v: %v\n%s", args, err, out)
		}
	}
	run("--init-token", "--free", "--label", testLabel, "--pin", testTokenPIN, "--so-pin", "12345678")
	// PKCS #8 copies of the keys for softhsm2-util --import.
	b, _ := os.ReadFile("assets/demo-ksk1.key")
	blk, _ := pem.Decode(b)
	rsaKey, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, k := range []struct {
		label, id string
		key       any
	}{{"KSK1", "01", rsaKey}, {"EC1", "02", ec}} {
		der, _ := x509.MarshalPKCS8PrivateKey(k.key)
		p := filepath.Join(dir, k.label+".p8")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		run("--pin", testTokenPIN, "--import", p, "--token", testLabel, "--label", k.label, "--id", k.id)
		os.Remove(p)
	}
	tok, err := hsm.OpenPKCS11(softhsmModule, testLabel)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

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
	if _, err := hsm.OpenPKCS11(softhsmModule, "no-such-token"); !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Fatalf("unknown label: %v, want ErrTokenNotFound", err)
	}
	if _, err := hsm.OpenPKCS11("/nonexistent/libpkcs11.so", testLabel); err == nil {
		t.Fatal("a missing module opened")
	}
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
	for i := range ksr.Request.Bundles {
		b, err := dnssec.SignBundle(ksr, i, dnssec.KSK{Identifier: "KSK1", DNSKEY: dk, Signer: k}, 172800)
		if err != nil {
			t.Fatal(err)
		}
		if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
			t.Fatalf("bundle %d: the HSM's signature differs from IANA's", i+1)
		}
	}
}
