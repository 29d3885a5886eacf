package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/miekg/dns"
)

// bindTools finds BIND 9.20 where make deps unpacks it (.tools/bind, from
// bookworm-backports): a test skips without it, and fails under CI.
func bindTools(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", "..", ".tools", "bind", "usr"))
	if _, err := os.Stat(filepath.Join(root, "bin", "dnssec-ksr")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("BIND 9.20 is not in .tools/bind (make deps unpacks it from bookworm-backports)")
		}
		t.Skip("BIND 9.20 is not in .tools/bind: run make deps")
	}
	return root
}

// bindCmd is one of BIND's programs, run with its own libraries.
func bindCmd(root, name string, args ...string) *exec.Cmd {
	dir := "bin"
	if name == "named" || name == "rndc" || name == "rndc-confgen" {
		dir = "sbin"
	}
	cmd := exec.Command(filepath.Join(root, dir, name), args...)
	lib := filepath.Join(root, "lib", "x86_64-linux-gnu")
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+lib+":"+filepath.Join(lib, "bind"))
	return cmd
}

// bindOut runs a BIND program and returns its standard output.
func bindOut(t *testing.T, root, name string, args ...string) []byte {
	t.Helper()
	cmd := bindCmd(root, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// bindPolicy is a named.conf dnssec-policy for an offline KSK, with
// signing timing lines of its own.
func bindPolicy(timing string) string {
	return `dnssec-policy "offline" {
    offline-ksk yes;
` + timing + `    keys {
        ksk key-directory lifetime unlimited algorithm 13;
        zsk key-directory lifetime 30d algorithm 13;
    };
};
`
}

// bindKSK makes a KSK with dnssec-keygen in dir and returns it as a Go key:
// the same key signs for dnssec-ksr and for keyceremony.
func bindKSK(t *testing.T, root, conf, dir string) *ecdsa.PrivateKey {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	name := strings.TrimSpace(string(bindOut(t, root, "dnssec-keygen", "-l", conf, "-k", "offline", "-f", "KSK", "-K", dir, "example.com")))
	priv, err := os.ReadFile(filepath.Join(dir, name+".private"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(priv), "\n") {
		if v, ok := strings.CutPrefix(line, "PrivateKey: "); ok {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("no PrivateKey in %s.private", name)
	return nil
}

// textProfile writes a profile for example.com. whose software token holds
// priv, with the given text_signing section (may be empty), and its
// request policy; it returns the profile's path.
func textProfile(t testing.TB, dir, name string, priv *ecdsa.PrivateKey, textSigning string) string {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(filepath.Join(dir, "ksk.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	dk, _ := dnssec.NewDNSKEY("example.com.", priv.Public(), dnssec.FlagZone|dnssec.FlagSEP, 3600)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("domains: [example.com.]\napproved_algorithms: [13]\n"), 0o644)
	path := filepath.Join(dir, name)
	os.WriteFile(path, []byte(fmt.Sprintf(`zone: example.com.
token:
  backend: software
  label: ksk-side
  keys:
    KSK-EX: ksk.pem
ksks:
  - {label: KSK-EX, key_tag: %d, ds_sha256: %s, valid_from: 2020-01-01T00:00:00Z}
ttl: 3600
policy: policy.yaml
schemas:
  normal:
    - {publish: [KSK-EX], sign: [KSK-EX]}
default_schema: normal
ksk_policy:
  publish_safety: PT0S
  retire_safety: PT0S
  max_signature_validity: P41D
  min_signature_validity: P7D
  max_validity_overlap: P40D
  min_validity_overlap: PT1H
  algorithm: 13
  ec_size: 256
%s`, dk.KeyTag(), strings.ToLower(dnssec.DS(dk).Digest), textSigning)), 0o644)
	return path
}

// skrDiff says where two SKRs differ in anything but their signature
// bytes: bundle times, DNSKEY sets, RRSIG validity and signers, and the
// CDNSKEY and CDS sets with their RRSIGs; "" when they agree.
func skrDiff(mine, theirs *dnssec.Document) string {
	a, b := mine.Response.Bundles, theirs.Response.Bundles
	if len(a) != len(b) {
		return fmt.Sprintf("%d bundles against %d", len(a), len(b))
	}
	keys := func(ks []dnssec.Key) string {
		var out []string
		for _, k := range ks {
			out = append(out, fmt.Sprintf("%d/%d/%s", k.Flags, k.TTL, k.PublicKey))
		}
		return strings.Join(sorted(out), " ")
	}
	sigs := func(ss []dnssec.Signature) string {
		var out []string
		for _, s := range ss {
			out = append(out, fmt.Sprintf("%d %d %s %s", s.KeyTag, s.OriginalTTL, s.SignatureInception.Format(time.RFC3339), s.SignatureExpiration.Format(time.RFC3339)))
		}
		return strings.Join(sorted(out), " ")
	}
	sync := func(s *dnssec.ChildSync) string {
		if s == nil {
			return "none"
		}
		var out []string
		for _, r := range s.CDNSKEY {
			out = append(out, r.String())
		}
		for _, r := range s.CDS {
			out = append(out, strings.ToUpper(r.String()))
		}
		for _, r := range s.RRSIGs {
			out = append(out, fmt.Sprintf("RRSIG %s %d %d-%d", dns.TypeToString[r.TypeCovered], r.KeyTag, r.Inception, r.Expiration))
		}
		return strings.Join(sorted(out), "\n")
	}
	for i := range a {
		switch {
		case !a[i].At.Equal(b[i].At):
			return fmt.Sprintf("bundle %d: from %s, theirs from %s", i+1, a[i].At, b[i].At)
		case keys(a[i].Keys) != keys(b[i].Keys):
			return fmt.Sprintf("bundle %d: DNSKEY set\n%s\ntheirs\n%s", i+1, keys(a[i].Keys), keys(b[i].Keys))
		case sigs(a[i].Signatures) != sigs(b[i].Signatures):
			return fmt.Sprintf("bundle %d: RRSIGs %s, theirs %s", i+1, sigs(a[i].Signatures), sigs(b[i].Signatures))
		case sync(a[i].Sync) != sync(b[i].Sync):
			return fmt.Sprintf("bundle %d: CDNSKEY and CDS\n%s\ntheirs\n%s", i+1, sync(a[i].Sync), sync(b[i].Sync))
		}
	}
	return ""
}

// skrFilesDiff reads two SKR files and says where they differ (skrDiff).
func skrFilesDiff(t testing.TB, mine, theirs string) string {
	t.Helper()
	_, a, err := readSKR(mine, "")
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := readSKR(theirs, "")
	if err != nil {
		t.Fatal(err)
	}
	return skrDiff(a, b)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// The period of the BIND KSR the tests sign: dnssec-ksr's -i and -e.
const bindStart, bindEnd = "20270101000000", "20270302000000"

// bindKSR makes, in dir, a KSK with dnssec-keygen (ksk/) and ZSKs and a
// KSR with dnssec-ksr for bindStart to bindEnd (zsk/, ksr.txt), under
// BIND's default offline-KSK policy, and returns the KSK and the KSR's
// path.
func bindKSR(t *testing.T, root, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	conf := filepath.Join(dir, "named.conf")
	os.WriteFile(conf, []byte(bindPolicy("")), 0o644)
	priv := bindKSK(t, root, conf, filepath.Join(dir, "ksk"))
	zsk := filepath.Join(dir, "zsk")
	os.MkdirAll(zsk, 0o755)
	bindOut(t, root, "dnssec-ksr", "-l", conf, "-k", "offline", "-K", zsk, "-i", bindStart, "-e", bindEnd, "keygen", "example.com")
	ksr := filepath.Join(dir, "ksr.txt")
	os.WriteFile(ksr, bindOut(t, root, "dnssec-ksr", "-l", conf, "-k", "offline", "-K", zsk, "-i", bindStart, "-e", bindEnd, "request", "example.com"), 0o644)
	return priv, ksr
}

// TestBINDSignsAsDnssecKSR: for a real dnssec-ksr KSR (30-day ZSKs over
// 60 days), keyceremony's `ksr sign` with text_signing.bind and --until
// (dnssec-ksr's -e) writes the SKR the real `dnssec-ksr sign` writes with
// the same KSK and the same dnssec-policy timing, bundle for bundle: the
// same times, DNSKEY sets, RRSIG inceptions and expirations, and CDNSKEY
// and CDS sets signed by the KSK. For BIND's defaults (14d/5d), for 20d/8d,
// and for 40d/5d, where BIND signs a key set once more at the next key
// set's time. `skr verify --ksr --profile --until` holds each SKR to the
// timing; a BIND KSR without --until is refused.
func TestBINDSignsAsDnssecKSR(t *testing.T) {
	root := bindTools(t)
	dir := t.TempDir()
	priv, ksr := bindKSR(t, root, dir)
	anchor := filepath.Join(dir, "anchor.txt")
	dk, _ := dnssec.NewDNSKEY("example.com.", priv.Public(), dnssec.FlagZone|dnssec.FlagSEP, 3600)
	os.WriteFile(anchor, []byte(dk.String()+"\n"), 0o644)

	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"ksr", "sign", ksr, "--profile", textProfile(t, dir, "p.yaml", priv, ""), "--out", filepath.Join(dir, "x.txt"), "--yes"}, nil, &out, io.Discard); exitCode(err) != exitUsage ||
		!strings.Contains(errString(err), "a BIND KSR does not say when its period ends: give --until TIME") {
		t.Fatalf("a BIND KSR without --until: %v", err)
	}
	for i, c := range []struct{ named, profile string }{
		{"", ""},
		{"    signatures-validity-dnskey 20d;\n    signatures-refresh 8d;\n", "text_signing:\n  bind: {signatures_validity_dnskey: 20d, signatures_refresh: P8D}\n"},
		{"    signatures-validity 40d;\n    signatures-validity-dnskey 40d;\n    signatures-refresh 5d;\n", "text_signing:\n  bind: {signatures_validity_dnskey: P40D, signatures_refresh: 5d}\n"},
	} {
		signConf := filepath.Join(dir, fmt.Sprintf("sign%d.conf", i))
		os.WriteFile(signConf, []byte(strings.Replace(bindPolicy(c.named), "lifetime 30d", "lifetime 180d", 1)), 0o644)
		theirs := filepath.Join(dir, fmt.Sprintf("bind%d.txt", i))
		os.WriteFile(theirs, bindOut(t, root, "dnssec-ksr", "-l", signConf, "-k", "offline", "-K", filepath.Join(dir, "ksk"), "-i", bindStart, "-e", bindEnd, "-f", ksr, "sign", "example.com"), 0o644)
		profile := textProfile(t, dir, fmt.Sprintf("p%d.yaml", i), priv, c.profile)
		mine := filepath.Join(dir, fmt.Sprintf("mine%d.txt", i))
		out.Reset()
		if err := run(ctx, []string{"ksr", "sign", ksr, "--profile", profile, "--until", "2027-03-02T00:00:00Z", "--out", mine, "--yes"}, nil, &out, io.Discard); err != nil {
			t.Fatalf("setting %d: ksr sign: %v\n%s", i, err, out.String())
		}
		if d := skrFilesDiff(t, mine, theirs); d != "" {
			t.Fatalf("setting %d: keyceremony's SKR and dnssec-ksr's differ: %s", i, d)
		}
		for _, skr := range []string{mine, theirs} {
			out.Reset()
			if err := run(ctx, []string{"skr", "verify", skr, "--ksr", ksr, "--profile", profile, "--until", "2027-03-02", "--anchor", anchor}, nil, &out, io.Discard); err != nil ||
				!strings.Contains(out.String(), "[PASS] SKR-TIMING") {
				t.Fatalf("setting %d: skr verify %s: %v\n%s", i, filepath.Base(skr), err, out.String())
			}
		}
		// Held to another setting's timing, the SKR fails SKR-TIMING.
		if i > 0 {
			out.Reset()
			err := run(ctx, []string{"skr", "verify", mine, "--ksr", ksr, "--profile", filepath.Join(dir, "p0.yaml"), "--until", "2027-03-02", "--anchor", anchor}, nil, &out, io.Discard)
			if exitCode(err) != exitBadInput || !strings.Contains(out.String(), "[FAIL] SKR-TIMING") {
				t.Fatalf("setting %d held to BIND's defaults: %v\n%s", i, err, out.String())
			}
		}
	}
}

// TestBINDServesKeyceremonySKR: a zone whose KSK is offline in
// keyceremony. dnssec-ksr makes the ZSKs and the KSR, `ksr sign` answers
// it, named imports the SKR (`rndc skr -import`) and serves the zone, and
// delv, trusting only the DS that `keyceremony anchor export` wrote,
// validates the CDS set (which the SKR carries, signed by the KSK), the
// DNSKEY set and an address in the zone. With another KSK's DS, delv does
// not.
func TestBINDServesKeyceremonySKR(t *testing.T) {
	root := bindTools(t)
	dir := t.TempDir()
	srv := filepath.Join(dir, "srv")
	os.MkdirAll(srv, 0o755)
	port, ctlPort := freeLoopbackPort(t), freeLoopbackPort(t)
	bindOut(t, root, "rndc-confgen", "-a", "-c", filepath.Join(srv, "rndc.key"), "-k", "rndc-key")
	conf := filepath.Join(srv, "named.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`include "%[1]s/rndc.key";
controls { inet 127.0.0.1 port %[3]d allow { 127.0.0.1; } keys { rndc-key; }; };
options { directory "%[1]s"; listen-on port %[2]d { 127.0.0.1; }; listen-on-v6 { none; }; pid-file "%[1]s/named.pid";
  recursion no; dnssec-validation no; };
%[4]s
zone "example.com" { type primary; file "example.com.db"; dnssec-policy offline; key-directory "%[1]s"; };
`, srv, port, ctlPort, bindPolicy(""))), 0o644)
	os.WriteFile(filepath.Join(srv, "rndc.conf"), []byte(fmt.Sprintf("include \"%s/rndc.key\";\noptions { default-key \"rndc-key\"; default-server 127.0.0.1; default-port %d; };\n", srv, ctlPort)), 0o644)
	os.WriteFile(filepath.Join(srv, "example.com.db"), []byte("$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 3600\n@ IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 192.0.2.1\n"), 0o644)

	// The ZSK side: keys and a KSR from now for 60 days.
	until := time.Now().UTC().Add(60 * 24 * time.Hour).Truncate(time.Second)
	bindOut(t, root, "dnssec-ksr", "-l", conf, "-k", "offline", "-K", srv, "-e", until.Format("20060102150405"), "keygen", "example.com")
	ksr := filepath.Join(dir, "ksr.txt")
	os.WriteFile(ksr, bindOut(t, root, "dnssec-ksr", "-l", conf, "-k", "offline", "-K", srv, "-e", until.Format("20060102150405"), "request", "example.com"), 0o644)

	// The KSK side: keyceremony.
	priv := bindKSK(t, root, conf, filepath.Join(dir, "ksk")) // a P-256 key; BIND's files are not used again
	profile := textProfile(t, dir, "profile.yaml", priv, "")
	skr := filepath.Join(dir, "skr.txt")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"ksr", "sign", ksr, "--profile", profile, "--until", until.Format(time.RFC3339), "--out", skr, "--yes"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("ksr sign: %v\n%s", err, out.String())
	}

	named := bindCmd(root, "named", "-c", conf, "-g", "-u", fmt.Sprint(os.Getuid()))
	if os.Getuid() == 0 {
		named = bindCmd(root, "named", "-c", conf, "-g", "-u", "root")
	}
	var log bytes.Buffer
	named.Stdout, named.Stderr = &log, &log
	if err := named.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { named.Process.Kill(); named.Wait() })
	rndc := func(args ...string) error {
		return bindCmd(root, "rndc", append([]string{"-c", filepath.Join(srv, "rndc.conf")}, args...)...).Run()
	}
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		ready = rndc("status") == nil
		if !ready {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("named did not start:\n%s", log.String())
	}
	if err := rndc("skr", "-import", skr, "example.com"); err != nil {
		t.Fatalf("rndc skr -import: %v\n%s", err, log.String())
	}

	// The anchor as the KSK side publishes it: `keyceremony anchor export`.
	if err := run(context.Background(), []string{"anchor", "export", "--profile", profile, "--out", dir}, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("anchor export: %v", err)
	}
	good := delvAnchors(t, filepath.Join(dir, "ds.txt"), filepath.Join(dir, "anchors.conf"))
	dk, _ := dnssec.NewDNSKEY("example.com.", priv.Public(), dnssec.FlagZone|dnssec.FlagSEP, 3600)
	ds := dnssec.DS(dk)
	got, ok := delvValidates(root, good, port, 50, "example.com", "CDS") // named signs the zone with the imported SKR
	if !ok || !strings.Contains(strings.ToUpper(got), strings.ToUpper(ds.Digest[:20])) {
		t.Fatalf("delv example.com CDS:\n%s\nnamed:\n%s", got, log.String())
	}
	for _, q := range [][]string{{"example.com", "DNSKEY"}, {"www.example.com", "A"}} {
		if got, ok := delvValidates(root, good, port, 1, q...); !ok {
			t.Fatalf("delv %v:\n%s", q, got)
		}
	}
	other := filepath.Join(dir, "other.conf")
	os.WriteFile(other, []byte(fmt.Sprintf("trust-anchors {\n  example.com. static-ds %d 13 2 \"%064x\";\n};\n", ds.KeyTag, 1)), 0o644)
	if got, ok := delvValidates(root, other, port, 1, "www.example.com", "A"); ok {
		t.Fatalf("delv validated the zone under another KSK's DS:\n%s", got)
	}
}

// freeLoopbackPort is a TCP port free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBINDCeremony: a whole ceremony (`run`, the quarterly script for
// example.com, the KSK in SoftHSM, two officers' cards) signs a real
// dnssec-ksr KSR. Without --ksr-until it is refused before anything is
// logged; with it, the ceremony's SKR is the one dnssec-ksr sign writes
// with the same KSK and period, bundle for bundle, CDNSKEY and CDS
// included, and the log verifies.
func TestBINDCeremony(t *testing.T) {
	root := bindTools(t)
	dir := t.TempDir()
	priv, ksr := bindKSR(t, root, dir)
	theirs := filepath.Join(dir, "bind-skr.txt")
	os.WriteFile(theirs, bindOut(t, root, "dnssec-ksr", "-l", filepath.Join(dir, "named.conf"), "-k", "offline", "-K", filepath.Join(dir, "ksk"), "-i", bindStart, "-e", bindEnd, "-f", ksr, "sign", "example.com"), 0o644)

	profile := textProfile(t, dir, "profile.yaml", priv, "")
	hsmProfile := exampleCeremony(t, dir, "bind-ksk", priv, profile)
	ctx := context.Background()
	mine := filepath.Join(dir, "skr-ceremony.txt")
	args := []string{"run", "--script", filepath.Join(dir, "signing.yaml"), "--profile", hsmProfile, "--log", filepath.Join(dir, "log"),
		"--ksr", ksr, "--skr", mine, "--cards", filepath.Join(dir, "cards"), "--plain"}
	var out bytes.Buffer
	err := run(ctx, args, &plainDriver{out: &out}, &out, io.Discard)
	if exitCode(err) != exitUsage || !strings.Contains(errString(err), "give --ksr-until TIME") {
		t.Fatalf("run on a BIND KSR without --ksr-until: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log")); err == nil {
		if entries, _ := os.ReadDir(filepath.Join(dir, "log")); len(entries) > 0 {
			t.Fatalf("the refused run wrote a log: %v", entries)
		}
	}
	out.Reset()
	answer := presenting([]string{"1", "3"}, map[string]string{"CO1": "passphrase one", "CO3": "passphrase three"})
	if err := run(ctx, append(args, "--ksr-until", "2027-03-02T00:00:00Z"), &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "signed bundle 9 of 9") || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("the ceremony on BIND's KSR:\n%s", out.String())
	}
	if d := skrFilesDiff(t, mine, theirs); d != "" {
		t.Fatalf("the ceremony's SKR and dnssec-ksr's differ: %s", d)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", filepath.Join(dir, "log"), "--roster", filepath.Join(dir, "roster.yaml")}, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
}

// delvAnchors turns the ds.txt `keyceremony anchor export` writes into a
// trust-anchors file for delv (static-ds, one per DS record).
func delvAnchors(t *testing.T, dsFile, out string) string {
	t.Helper()
	data, err := os.ReadFile(dsFile)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("trust-anchors {\n")
	zp := dns.NewZoneParser(bytes.NewReader(data), "", dsFile)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		ds := rr.(*dns.DS)
		fmt.Fprintf(&b, "  %s static-ds %d %d %d \"%s\";\n", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	b.WriteString("};\n")
	os.WriteFile(out, []byte(b.String()), 0o644)
	return out
}

// delvValidates asks delv, trusting only anchors, for a name and type at a
// server on loopback, up to tries times while the server may still be
// signing; it returns delv's output and whether it says "fully validated".
func delvValidates(root, anchors string, port, tries int, q ...string) (string, bool) {
	var got string
	for i := 0; i < tries; i++ {
		b, _ := bindCmd(root, "delv", append([]string{"-a", anchors, "+root=example.com", "@127.0.0.1", "-p", fmt.Sprint(port)}, q...)...).CombinedOutput()
		if got = string(b); strings.Contains(got, "; fully validated") {
			return got, true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return got, false
}

// TestKnotServesKeyceremonySKR: Knot's offline-KSK flow with knotd
// serving the zone. keymgr makes the ZSKs and the KSR, `ksr sign` answers
// it, keymgr import-skr takes the SKR, knotd signs and serves the zone,
// and delv, trusting only the DS that `keyceremony anchor export` wrote,
// validates the DNSKEY set and an address. With another KSK's DS, delv
// does not.
func TestKnotServesKeyceremonySKR(t *testing.T) {
	km := keymgr(t)
	root := bindTools(t)
	knotd, err := exec.LookPath("knotd")
	if err != nil {
		knotd = "/usr/sbin/knotd"
	}
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	conf := filepath.Join(dir, "knot.conf")
	os.MkdirAll(filepath.Join(dir, "run"), 0o755)
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	os.WriteFile(conf, []byte(fmt.Sprintf(`server:
  rundir: %[1]s/run
  listen: 127.0.0.1@%[2]d
database:
  storage: %[1]s/db
  kasp-db: %[1]s/kasp
template:
  - id: default
    storage: %[1]s
policy:
  - id: offline
    manual: on
    offline-ksk: on
    algorithm: ecdsap256sha256
    dnskey-ttl: 3600
    zone-max-ttl: 3600
    zsk-lifetime: 30d
zone:
  - domain: example.com.
    file: example.com.zone
    dnssec-signing: on
    dnssec-policy: offline
    zonefile-sync: -1
    journal-content: all
`, dir, port)), 0o644)
	os.WriteFile(filepath.Join(dir, "example.com.zone"), []byte("$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 3600\n@ IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 192.0.2.1\n"), 0o644)
	keymgrRun := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(km, append([]string{"-c", conf, "example.com."}, args...)...).Output()
		if err != nil {
			t.Fatalf("keymgr %v: %v", args, err)
		}
		return out
	}
	keymgrRun("pregenerate", "+60d")
	ksr := filepath.Join(dir, "ksr.txt")
	os.WriteFile(ksr, keymgrRun("generate-ksr", "+0", "+60d"), 0o644)

	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ksk := filepath.Join(dir, "ksk-side")
	os.MkdirAll(ksk, 0o755)
	profile := textProfile(t, ksk, "profile.yaml", priv, "")
	skr := filepath.Join(dir, "skr.txt")
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"ksr", "sign", ksr, "--profile", profile, "--out", skr, "--yes"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("ksr sign: %v\n%s", err, out.String())
	}
	keymgrRun("import-skr", skr)
	if err := run(ctx, []string{"anchor", "export", "--profile", profile, "--out", ksk}, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("anchor export: %v", err)
	}

	cmd := exec.Command(knotd, "-c", conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	anchors := delvAnchors(t, filepath.Join(ksk, "ds.txt"), filepath.Join(dir, "anchors.conf"))
	for _, q := range [][]string{{"example.com", "DNSKEY"}, {"www.example.com", "A"}} {
		if got, ok := delvValidates(root, anchors, port, 50, q...); !ok {
			t.Fatalf("delv %v:\n%s\nknotd:\n%s", q, got, log.String())
		}
	}
	other := filepath.Join(dir, "other.conf")
	os.WriteFile(other, []byte(fmt.Sprintf("trust-anchors {\n  example.com. static-ds 1 13 2 \"%064x\";\n};\n", 1)), 0o644)
	if got, ok := delvValidates(root, other, port, 1, "www.example.com", "A"); ok {
		t.Fatalf("delv validated the zone under another KSK's DS:\n%s", got)
	}
}
