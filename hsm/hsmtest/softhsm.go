package hsmtest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSMModule is Debian's SoftHSM2 PKCS#11 library.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSM makes a SoftHSM2 token with the given label and user PIN in a
// private folder (SOFTHSM2_CONF is set for the test), imports the keys by
// label, and returns the module path. Without SoftHSM2 the test is skipped,
// except in CI (CI set), where it fails: CI must never pass without it.
func SoftHSM(t testing.TB, label, pin string, keys map[string]crypto.Signer) string {
	t.Helper()
	util, dir := setup(t)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(util, args...).CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util %v: %v\n%s", args, err, out)
		}
	}
	run("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "12345678")
	n := 0
	for l, k := range keys {
		n++
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "import.p8")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		run("--pin", pin, "--import", p, "--token", label, "--label", l, "--id", string([]byte{'0' + byte(n/10), '0' + byte(n%10)}))
		os.Remove(p)
	}
	return SoftHSMModule
}

// SoftHSMTokens makes several empty SoftHSM2 tokens (label to user PIN) in
// one private folder, for tests where SoftHSM tokens stand in for crypto
// officers' smart cards. Skips or fails like SoftHSM.
func SoftHSMTokens(t testing.TB, pins map[string]string) string {
	t.Helper()
	util, _ := setup(t)
	for label, pin := range pins {
		if out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "12345678").CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util: %v\n%s", err, out)
		}
	}
	return SoftHSMModule
}

// setup finds softhsm2-util (skipping, or failing in CI, without it) and
// points SOFTHSM2_CONF at a private token folder for the test.
func setup(t testing.TB) (util, dir string) {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if _, serr := os.Stat(SoftHSMModule); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("SoftHSM2 is missing in CI: make test installs softhsm2")
		}
		t.Skip("SoftHSM2 is not installed (make test installs it)")
	}
	dir = t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.MkdirAll(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	return util, dir
}
