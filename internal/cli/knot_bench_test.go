package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

// BenchmarkKSRSignVsKeymgr times, as whole processes and side by side in
// one run, `keyceremony ksr sign` and Knot's `keymgr sign-ksr` answering
// the same Knot KSR with the same P-256 KSK in the same SoftHSM2 token,
// each with Knot's default timing: a 60-day KSR (9 bundles) and a
// 365-day one (62). keyceremony is the built command; every iteration
// signs anew and writes the SKR; the two SKRs are first checked to be the
// same bundle for bundle. The ratio is keyceremony's time over keymgr's.
func BenchmarkKSRSignVsKeymgr(b *testing.B) {
	for _, days := range []int{60, 365} {
		b.Run(fmt.Sprintf("%dd", days), func(b *testing.B) { benchmarkKSRSignVsKeymgr(b, days) })
	}
}

func benchmarkKSRSignVsKeymgr(b *testing.B, days int) {
	km, err := exec.LookPath("keymgr")
	if err != nil {
		b.Skip("Knot's keymgr is not installed")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "keyceremony")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	const pin = "bench-pin-0"
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	module := hsmtest.SoftHSM(b, "bench-ksk", pin, map[string]crypto.Signer{"KSK-EX": priv}) // CKA_ID 01
	conf := func(name, keystore string) string {
		policy := "    zone-max-ttl: 3600\n"
		if keystore != "" {
			policy += "    keystore: hsm\n"
		}
		return knotConf(dir, name, name+"-kasp", keystore, policy)
	}
	keymgrRun := func(c string, args ...string) {
		b.Helper()
		if out, err := exec.Command(km, append([]string{"-c", c, "example.com."}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("keymgr %v: %v\n%s", args, err, out)
		}
	}
	zsk := conf("zsk.conf", "")
	keymgrRun(zsk, "pregenerate", fmt.Sprintf("+%dd", days))
	ksr := filepath.Join(dir, "ksr.txt")
	out, err := exec.Command(km, "-c", zsk, "example.com.", "generate-ksr", "+0", fmt.Sprintf("+%dd", days)).Output()
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(ksr, out, 0o644)
	ksk := conf("ksk.conf", fmt.Sprintf("keystore:\n  - id: hsm\n    backend: pkcs11\n    config: \"pkcs11:token=bench-ksk;pin-value=%s %s\"\n", pin, module))
	keymgrRun(ksk, "import-pkcs11", "01", "algorithm=ecdsap256sha256", "ksk=yes", "zsk=no", "created=1000000000", "publish=1000000000", "active=1000000000")

	profile := textProfile(b, dir, "profile.yaml", priv, "")
	text, _ := os.ReadFile(profile)
	os.WriteFile(profile, []byte(strings.Replace(string(text), "  backend: software\n  label: ksk-side\n  keys:\n    KSK-EX: ksk.pem\n",
		"  backend: pkcs11\n  module: "+module+"\n  label: bench-ksk\n", 1)), 0o644)
	skr := filepath.Join(dir, "skr.txt")
	sign := func() {
		os.Remove(skr)
		cmd := exec.Command(bin, "ksr", "sign", ksr, "--profile", profile, "--out", skr, "--yes")
		cmd.Env = append(os.Environ(), pinEnv+"="+pin)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("keyceremony ksr sign: %v\n%s", err, out)
		}
	}
	keymgrSign := func() {
		cmd := exec.Command(km, "-c", ksk, "example.com.", "sign-ksr", ksr)
		f, _ := os.Create(filepath.Join(dir, "keymgr-skr.txt"))
		cmd.Stdout = f
		if err := cmd.Run(); err != nil {
			b.Fatalf("keymgr sign-ksr: %v", err)
		}
		f.Close()
	}
	sign()
	keymgrSign()
	if d := skrFilesDiff(b, skr, filepath.Join(dir, "keymgr-skr.txt")); d != "" {
		b.Fatalf("the two SKRs differ: %s", d)
	}
	var opT, baseT float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		sign()
		t1 := time.Now()
		keymgrSign()
		opT, baseT = opT+float64(t1.Sub(t0)), baseT+float64(time.Since(t1))
	}
	b.StopTimer()
	b.ReportMetric(opT/float64(b.N)/1e6, "ms/ksr-sign")
	b.ReportMetric(baseT/float64(b.N)/1e6, "ms/keymgr-sign-ksr")
	b.ReportMetric(opT/baseT, "ratio")
}
