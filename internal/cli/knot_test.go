package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

// keymgr finds Knot's keymgr: a test skips without it, and fails under CI,
// where make test installs it.
func keymgr(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"keymgr", "/usr/sbin/keymgr"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Knot's keymgr is not installed (make test installs the knot package)")
	}
	t.Skip("Knot's keymgr is not installed: apt-get install knot, or run make test")
	return ""
}

// knotConf writes a knot.conf for example.com. under an offline-KSK
// policy, as keymgr reads it on either side, with its KASP database in
// dir/db: top-level sections (a keystore) before the policy, and the
// policy's own lines (timing, keystore) after its fixed ones. It returns
// the file's path, dir/name.
func knotConf(dir, name, db, sections, policy string) string {
	p := filepath.Join(dir, name)
	os.WriteFile(p, []byte(fmt.Sprintf(`database:
  kasp-db: %[1]s/%[2]s
template:
  - id: default
    storage: %[1]s
%[3]spolicy:
  - id: offline
    manual: on
    offline-ksk: on
    algorithm: ecdsap256sha256
    dnskey-ttl: 3600
    zsk-lifetime: 30d
%[4]szone:
  - domain: example.com.
    dnssec-signing: on
    dnssec-policy: offline
`, dir, db, sections, policy)), 0o644)
	return p
}

// TestKnotOfflineKSK is Knot DNS's offline-KSK flow with keyceremony as the
// KSK side: Knot's keymgr pregenerates ZSKs and writes a KSR,
// `keyceremony ksr check` and `ksr sign` answer it with a P-256 KSK from the
// profile, and keymgr's import-skr, which verifies every signature, takes
// the SKR; the same SKR with one signature byte changed is refused. Then a
// whole ceremony (`run`, the quarterly script for example.com, the KSK in
// SoftHSM, two officers' cards) signs the same KSR, and Knot takes that SKR
// too.
func TestKnotOfflineKSK(t *testing.T) {
	km := keymgr(t)
	dir := t.TempDir()
	conf := knotConf(dir, "zsk.conf", "kasp", "", "    zone-max-ttl: 3600\n")
	keymgrRun := func(args ...string) (string, error) {
		cmd := exec.Command(km, append([]string{"-c", conf, "example.com."}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := keymgrRun("pregenerate", "+60d"); err != nil {
		t.Fatalf("keymgr pregenerate: %v\n%s", err, out)
	}
	ksr, err := exec.Command(km, "-c", conf, "example.com.", "generate-ksr", "+0", "+60d").Output()
	if err != nil {
		t.Fatalf("keymgr generate-ksr: %v", err)
	}
	ksrPath := filepath.Join(dir, "ksr.txt")
	os.WriteFile(ksrPath, ksr, 0o644)

	// The KSK side: a P-256 key in the profile's software token.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	profile := textProfile(t, dir, "profile.yaml", priv, "")

	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"ksr", "check", ksrPath, "--policy", filepath.Join(dir, "policy.yaml")}, nil, &out, io.Discard); err != nil {
		t.Fatalf("ksr check of Knot's KSR: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "KSR-BUNDLE-POP") || !strings.Contains(out.String(), "no proof of possession") {
		t.Fatalf("ksr check printed:\n%s", out.String())
	}
	skrPath := filepath.Join(dir, "skr.txt")
	out.Reset()
	if err := run(ctx, []string{"ksr", "sign", ksrPath, "--profile", profile, "--out", skrPath, "--yes"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("ksr sign of Knot's KSR: %v\n%s", err, out.String())
	}
	skr, _ := os.ReadFile(skrPath)
	if !bytes.HasPrefix(skr, []byte(";; SignedKeyResponse 1.0 ")) {
		t.Fatalf("the SKR is not in Knot's format:\n%s", skr)
	}
	// A profile that asks for more overlap than its own text timing gives
	// (Knot's defaults renew 2 hours before expiry): refused, and said why.
	strict := filepath.Join(dir, "strict.yaml")
	soft, _ := os.ReadFile(profile)
	os.WriteFile(strict, bytes.Replace(soft, []byte("min_validity_overlap: PT1H"), []byte("min_validity_overlap: P8D"), 1), 0o644)
	out.Reset()
	err = run(ctx, []string{"ksr", "sign", ksrPath, "--profile", strict, "--out", filepath.Join(dir, "strict-skr.txt"), "--yes"}, nil, &out, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(out.String()+errString(err), "less than the profile's min_validity_overlap P8D") {
		t.Fatalf("a plan short of the profile's overlap: %v\n%s", err, out.String())
	}
	// A changed signature byte: keymgr refuses the SKR.
	doc, err := dnssec.ParseAny(skr, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig := doc.Response.Bundles[0].Signatures[0].SignatureData
	bad := strings.Replace(string(skr), sig, flipBase64(sig), 1)
	os.WriteFile(filepath.Join(dir, "bad.txt"), []byte(bad), 0o644)
	if out, err := keymgrRun("import-skr", filepath.Join(dir, "bad.txt")); err == nil {
		t.Fatalf("keymgr import-skr took an SKR with a broken signature:\n%s", out)
	}
	if out, err := keymgrRun("import-skr", skrPath); err != nil {
		t.Fatalf("keymgr import-skr refused keyceremony's SKR: %v\n%s", err, out)
	}

	// The same KSR in a ceremony: the quarterly script for example.com, the
	// KSK in a SoftHSM token whose PIN two of three officers' cards give.
	hsmProfile := exampleCeremony(t, dir, "knot-ksk", priv, profile)
	consoleSKR := filepath.Join(dir, "skr-ceremony.txt")
	out.Reset()
	answer := presenting([]string{"1", "3"}, map[string]string{"CO1": "passphrase one", "CO3": "passphrase three"})
	if err := run(ctx, []string{"run", "--script", filepath.Join(dir, "signing.yaml"), "--profile", hsmProfile, "--log", filepath.Join(dir, "log"),
		"--ksr", ksrPath, "--skr", consoleSKR, "--cards", filepath.Join(dir, "cards"), "--plain"}, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	// Knot's own timing for this policy (rrsig-refresh: propagation-delay
	// 1h + zone-max-ttl 1h, so a bundle every 13d22h): 9 bundles, as
	// keymgr sign-ksr makes them.
	if !strings.Contains(out.String(), "signed bundle 9 of 9") || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("the ceremony on Knot's KSR:\n%s", out.String())
	}
	if out, err := keymgrRun("import-skr", consoleSKR); err != nil {
		t.Fatalf("keymgr import-skr refused the ceremony's SKR: %v\n%s", err, out)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", filepath.Join(dir, "log")}, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
}

// flipBase64 changes one character in the middle of a base64 string.
func flipBase64(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestSKRVerifyKnot: `skr verify` checks an SKR Knot's keymgr signed
// against its KSR and the KSK's DNSKEY as anchor, and catches a changed
// signature byte (exit 1).
func TestSKRVerifyKnot(t *testing.T) {
	ctx := context.Background()
	knot := filepath.Join("..", "..", "dnssec", "testdata", "knot")
	args := []string{"skr", "verify", filepath.Join(knot, "skr-example.com.txt"), "--ksr", filepath.Join(knot, "ksr-example.com.txt"),
		"--anchor", filepath.Join(knot, "anchor-example.com.txt")}
	var out bytes.Buffer
	if err := run(ctx, args, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "[PASS] SKR-MATCH") {
		t.Fatalf("skr verify of Knot's SKR: %v\n%s", err, out.String())
	}
	skr, _ := os.ReadFile(filepath.Join(knot, "skr-example.com.txt"))
	bad := filepath.Join(t.TempDir(), "skr.txt")
	os.WriteFile(bad, bytes.Replace(skr, []byte("HVM13ftnKz6o86gfFZ7r"), []byte("HVM13ftnKz6o86gfFZ7s"), 1), 0o644)
	args[2] = bad
	if err := run(ctx, args, nil, io.Discard, io.Discard); exitCode(err) != exitBadInput {
		t.Fatalf("a changed signature: %v (exit %d)", err, exitCode(err))
	}
}

// TestKnotSignsAsKeymgr: for a real keymgr KSR (30-day ZSKs over 60
// days), keyceremony's `ksr sign` with text_signing.knot writes the SKR
// the real `keymgr sign-ksr` writes with the same KSK and the same policy,
// bundle for bundle: the same times, DNSKEY sets, RRSIG inceptions and
// expirations. For Knot's defaults (rrsig-lifetime 14d; rrsig-refresh
// unset, so propagation-delay + zone-max-ttl: 2 hours), for 14d/3d, and
// for a 10-day lifetime with rrsig-refresh left to propagation-delay 6h +
// zone-max-ttl 1d and an rrsig-pre-refresh of 2d (which sign-ksr does not
// use). `skr verify --ksr --profile` holds each SKR to its timing.
func TestKnotSignsAsKeymgr(t *testing.T) {
	km := keymgr(t)
	dir := t.TempDir()
	policy := func(db, timing string) string {
		return knotConf(dir, db+fmt.Sprint(len(timing))+".conf", db, "", timing)
	}
	keymgrOut := func(conf string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(km, append([]string{"-c", conf, "example.com."}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("keymgr %v: %v\n%s%s", args, err, out, stderr.String())
		}
		return out
	}
	zskSide := policy("zsk-kasp", "    zone-max-ttl: 3600\n")
	keymgrOut(zskSide, "pregenerate", "+60d")
	ksr := filepath.Join(dir, "ksr.txt")
	os.WriteFile(ksr, keymgrOut(zskSide, "generate-ksr", "+0", "+60d"), 0o644)

	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemPath := filepath.Join(dir, "ksk-import.pem")
	os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	dk, _ := dnssec.NewDNSKEY("example.com.", priv.Public(), dnssec.FlagZone|dnssec.FlagSEP, 3600)
	anchor := filepath.Join(dir, "anchor.txt")
	os.WriteFile(anchor, []byte(dk.String()+"\n"), 0o644)

	ctx := context.Background()
	var out bytes.Buffer
	for i, c := range []struct{ knot, profile string }{
		{"    zone-max-ttl: 3600\n", ""},
		{"    zone-max-ttl: 3600\n    rrsig-lifetime: 14d\n    rrsig-refresh: 3d\n", "text_signing:\n  knot: {rrsig_lifetime: 14d, rrsig_refresh: P3D}\n"},
		{"    zone-max-ttl: 1d\n    propagation-delay: 6h\n    rrsig-lifetime: 10d\n    rrsig-pre-refresh: 2d\n",
			"text_signing:\n  knot: {rrsig_lifetime: P10D, zone_max_ttl: 1d, propagation_delay: PT6H, rrsig_pre_refresh: 2d}\n"},
	} {
		kskSide := policy("ksk-kasp", c.knot)
		if i == 0 {
			keymgrOut(kskSide, "import-pem", pemPath, "ksk=yes", "zsk=no", "created=1000000000", "publish=1000000000", "active=1000000000")
		}
		theirs := filepath.Join(dir, fmt.Sprintf("keymgr%d.txt", i))
		os.WriteFile(theirs, keymgrOut(kskSide, "sign-ksr", ksr), 0o644)
		profile := textProfile(t, dir, fmt.Sprintf("p%d.yaml", i), priv, c.profile)
		mine := filepath.Join(dir, fmt.Sprintf("mine%d.txt", i))
		out.Reset()
		if err := run(ctx, []string{"ksr", "sign", ksr, "--profile", profile, "--out", mine, "--yes"}, nil, &out, io.Discard); err != nil {
			t.Fatalf("setting %d: ksr sign: %v\n%s", i, err, out.String())
		}
		if d := skrFilesDiff(t, mine, theirs); d != "" {
			t.Fatalf("setting %d: keyceremony's SKR and keymgr's differ: %s", i, d)
		}
		out.Reset()
		if err := run(ctx, []string{"skr", "verify", theirs, "--ksr", ksr, "--profile", profile, "--anchor", anchor}, nil, &out, io.Discard); err != nil ||
			!strings.Contains(out.String(), "[PASS] SKR-TIMING") {
			t.Fatalf("setting %d: skr verify keymgr's SKR: %v\n%s", i, err, out.String())
		}
		if out, err := exec.Command(km, "-c", zskSide, "example.com.", "validate-skr", mine).CombinedOutput(); err != nil {
			t.Fatalf("setting %d: keymgr validate-skr refused keyceremony's SKR: %v\n%s", i, err, out)
		}
	}
}

// exampleCeremony sets up, in dir, what a ceremony for example.com. needs
// beside the KSR: the KSK in a SoftHSM token labelled label, whose PIN two
// of three officers' cards give (cards/, roster.yaml; passphrases "passphrase
// one" … "three"), the quarterly script for example.com (signing.yaml),
// and the software profile turned to that token; it returns the profile.
func exampleCeremony(t *testing.T, dir, label string, priv *ecdsa.PrivateKey, profile string) string {
	t.Helper()
	module := hsmtest.SoftHSM(t, label, "initial-pin-0", map[string]crypto.Signer{"KSK-EX": priv})
	text, _ := os.ReadFile(profile)
	hsmProfile := filepath.Join(dir, "hsm.yaml")
	os.WriteFile(hsmProfile, bytes.Replace(text, []byte("  backend: software\n  label: ksk-side\n  keys:\n    KSK-EX: ksk.pem\n"),
		[]byte("  backend: pkcs11\n  module: "+module+"\n  label: "+label+"\n"), 1), 0o644)
	os.WriteFile(filepath.Join(dir, "holders.yaml"), []byte("holders:\n  - {id: CO1, holder: Ana}\n  - {id: CO2, holder: Ben}\n  - {id: CO3, holder: Cy}\n"), 0o644)
	t.Setenv(pinEnv, "initial-pin-0")
	if err := run(context.Background(), []string{"cards", "provision", "--profile", hsmProfile, "--threshold", "2", "--holders", filepath.Join(dir, "holders.yaml"),
		"--out", filepath.Join(dir, "roster.yaml"), "--cards-dir", filepath.Join(dir, "cards"), "--scrypt-work-factor", "10"},
		strings.NewReader("passphrase one\npassphrase two\npassphrase three\n"), io.Discard, io.Discard); err != nil {
		t.Fatalf("cards provision: %v", err)
	}
	t.Setenv(pinEnv, "")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "signing.yaml"))
	os.WriteFile(filepath.Join(dir, "signing.yaml"), bytes.Replace(script, []byte(`zone: "."`), []byte(`zone: example.com.`), 1), 0o644)
	return hsmProfile
}
