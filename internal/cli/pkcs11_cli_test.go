package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/hsm/tokencard"
	"gopkg.in/yaml.v3"

	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

// TestPKCS11Profile runs `hsm inventory` and `ksr sign` against a real
// SoftHSM2 token holding the rehearsal KSKs: the SKR it writes is byte for
// byte the one the software token writes (RSA PKCS#1 v1.5 is deterministic),
// and a missing or wrong PIN fails with the contract's codes.
func TestPKCS11Profile(t *testing.T) {
	keys := rehearsalKeys(t)
	module := hsmtest.SoftHSM(t, "ksk-token", "4242", keys)

	dir := t.TempDir()
	profile := pkcs11Profile(t, dir, module, "ksk-token")

	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"hsm", "inventory", "--profile", profile}, nil, &out, &errb); err != nil {
		t.Fatalf("hsm inventory: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"Token    ksk-token (pkcs11 backend)", "SoftHSM", "KSK1         8      5017 ", "KSK2         8      55186 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("hsm inventory lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), " matches\n") != 2 {
		t.Errorf("hsm inventory: want both keys to match the inventory:\n%s", out.String())
	}
	if strings.Contains(out.String(), "4242") {
		t.Error("the PIN reached the output")
	}

	sign := func(profile, outFile string) error {
		out.Reset()
		errb.Reset()
		return run(ctx, []string{"ksr", "sign", "../../dnssec/testdata/ksr-root-2010-q2-0.xml", "--profile", profile,
			"--schema", "rollover", "--previous-skr", "../../dnssec/testdata/skr-root-2010-q1-0.xml",
			"--now", "2010-03-20", "--out", outFile, "--yes"}, nil, &out, &errb)
	}
	// A token that is not there: a usage error that says what to do.
	absent := pkcs11Profile(t, t.TempDir(), module, "no-such-token")
	t.Setenv(pinEnv, "4242")
	if err := sign(absent, filepath.Join(dir, "absent.xml")); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "connect the HSM, or fix the profile's label") {
		t.Fatalf("an absent token: %v (exit %d)", err, exitCode(err))
	}
	t.Setenv(pinEnv, "")
	if err := sign(profile, filepath.Join(dir, "nopin.xml")); exitCode(err) != exitUsage || !strings.Contains(err.Error(), pinEnv) {
		t.Fatalf("without a PIN: %v (exit %d), want exit %d naming %s", err, exitCode(err), exitUsage, pinEnv)
	}
	t.Setenv(pinEnv, "0000")
	err := sign(profile, filepath.Join(dir, "badpin.xml"))
	if exitCode(err) != exitOperational || !strings.Contains(err.Error(), "PIN") {
		t.Fatalf("with a wrong PIN: %v (exit %d), want exit %d", err, exitCode(err), exitOperational)
	}
	if strings.Contains(err.Error(), "0000") || strings.Contains(errb.String(), "0000") {
		t.Fatal("the PIN reached the error")
	}
	for _, f := range []string{"nopin.xml", "badpin.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was written after a failed login", f)
		}
	}
	t.Setenv(pinEnv, "4242")
	if err := sign(profile, filepath.Join(dir, "hsm.xml")); err != nil {
		t.Fatalf("ksr sign over PKCS#11: %v\n%s", err, errb.String())
	}
	t.Setenv(pinEnv, "")
	if err := sign(filepath.Join("testdata", "profile", "rehearsal.yaml"), filepath.Join(dir, "soft.xml")); err != nil {
		t.Fatalf("ksr sign with the software token: %v\n%s", err, errb.String())
	}

	// A new KSK: generated in the token, shown by the inventory as not yet in
	// it; its label cannot be used twice; a software token generates nothing.
	t.Setenv(pinEnv, "4242")
	out.Reset()
	if err := run(ctx, []string{"hsm", "keygen", "--profile", profile, "--label", "KSK3", "--algorithm", "13"}, nil, &out, &errb); err != nil {
		t.Fatalf("hsm keygen: %v", err)
	}
	m := regexp.MustCompile(`key tag (\d+) \((\d+) with REVOKE\), sensitive true, extractable false\n\.\t172800\tIN\tDNSKEY\t257 3 13 `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("hsm keygen printed:\n%s", out.String())
	}
	if err := run(ctx, []string{"hsm", "keygen", "--profile", profile, "--label", "KSK3"}, nil, io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("keygen of a used label: %v (exit %d), want %d", err, exitCode(err), exitUsage)
	}
	// The first KSK of a zone: a profile with its token and a schema that
	// names the key to be made, no inventory yet. Keygen needs the token
	// alone and prints the inventory entry; the full profile is refused
	// elsewhere until the entry is pasted in.
	first := filepath.Join(dir, "first.yaml")
	os.WriteFile(first, []byte("zone: example.com.\ntoken:\n  backend: pkcs11\n  module: "+module+"\n  label: ksk-token\nschemas:\n  first:\n    - {sign: [KSK4]}\n"), 0o644)
	var fout bytes.Buffer
	if err := run(ctx, []string{"hsm", "keygen", "--profile", first, "--label", "KSK4"}, nil, &fout, &errb); err != nil ||
		!regexp.MustCompile(`(?m)^  - \{label: KSK4, key_tag: \d+, ds_sha256: [0-9a-f]{64}, valid_from: YYYY-MM-DDT00:00:00Z\}$`).MatchString(fout.String()) ||
		!strings.Contains(fout.String(), "example.com.\t172800\tIN\tDNSKEY\t257 3 8 ") {
		t.Fatalf("keygen from a token section: %v\n%s", err, fout.String())
	}
	if err := run(ctx, []string{"hsm", "inventory", "--profile", first}, nil, io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("inventory with a schema naming a key not in the inventory: %v", err)
	}
	if err := run(ctx, []string{"hsm", "keygen", "--profile", filepath.Join("testdata", "profile", "rehearsal.yaml"), "--label", "KSK3"}, nil, io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("keygen in a software token: %v (exit %d), want %d", err, exitCode(err), exitUsage)
	}
	out.Reset()
	if err := run(ctx, []string{"hsm", "inventory", "--profile", profile}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^KSK3 +13 +` + m[1] + ` +` + m[2] + ` +[0-9a-f]{64} not in the inventory$`).MatchString(out.String()) {
		t.Fatalf("inventory after keygen:\n%s", out.String())
	}
	// The generated key only verifies and signs; the keys imported with
	// SoftHSM's defaults are flagged under their rows.
	if regexp.MustCompile(`(?m)^KSK3 .*\n +\[FLAG\]`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^KSK1 .*\n +\[FLAG\] the public key can encrypt$`).MatchString(out.String()) {
		t.Fatalf("the keys' uses are not flagged as they should be:\n%s", out.String())
	}

	a, _ := os.ReadFile(filepath.Join(dir, "hsm.xml"))
	b, _ := os.ReadFile(filepath.Join(dir, "soft.xml"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the SKR signed over PKCS#11 (%d bytes) differs from the software token's (%d bytes)", len(a), len(b))
	}
}

// pkcs11Profile writes the rehearsal profile with its token replaced by a
// PKCS#11 token, and its policy file beside it.
func pkcs11Profile(t *testing.T, dir, module, label string) string {
	t.Helper()
	soft, err := os.ReadFile(filepath.Join("testdata", "profile", "rehearsal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	old := "token:\n  backend: software\n  label: rehearsal-token\n  keys:\n    KSK1: ksk1.key\n    KSK2: ksk2.key\n"
	if !bytes.Contains(soft, []byte(old)) {
		t.Fatal("rehearsal.yaml's token block changed; update this test")
	}
	hard := bytes.Replace(soft, []byte(old), []byte("token:\n  backend: pkcs11\n  module: "+module+"\n  label: "+label+"\n"), 1)
	profile := filepath.Join(dir, "hsm.yaml")
	os.WriteFile(profile, hard, 0o644)
	policy, _ := os.ReadFile(filepath.Join("testdata", "profile", "policy-2010.yaml"))
	os.WriteFile(filepath.Join(dir, "policy-2010.yaml"), policy, 0o644)
	return profile
}

// rehearsalKeys reads the rehearsal profile's KSK1 and KSK2.
func rehearsalKeys(t *testing.T) map[string]crypto.Signer {
	keys := map[string]crypto.Signer{}
	for _, l := range []string{"KSK1", "KSK2"} {
		b, err := os.ReadFile(filepath.Join("testdata", "profile", strings.ToLower(l)+".key"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		keys[l] = k
	}
	return keys
}

// TestCardsProvision provisions seven crypto officers' card files (3 of 7)
// for a real SoftHSM2 token: the token's old PIN stops working, three card
// files (with their holders' passphrases) recover the PIN that signs, and
// no passphrase or PIN reaches any output.
func TestCardsProvision(t *testing.T) {
	const label, initial = "co-token", "initial-pin-0"
	module := hsmtest.SoftHSM(t, label, initial, rehearsalKeys(t))
	dir := t.TempDir()
	profile := pkcs11Profile(t, dir, module, label)
	holders := filepath.Join(dir, "holders.yaml")
	var hy, passes strings.Builder
	hy.WriteString("holders:\n")
	pass := func(i int) string { return fmt.Sprintf("passphrase of officer %d", i) }
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&hy, "  - {id: CO%d, holder: Officer %c}\n", i, 'A'+i-1)
		passes.WriteString(pass(i) + "\n")
	}
	os.WriteFile(holders, []byte(hy.String()), 0o644)
	roster, cardsDir := filepath.Join(dir, "roster.yaml"), filepath.Join(dir, "cards")
	ctx := context.Background()
	args := []string{"cards", "provision", "--profile", profile, "--threshold", "3", "--holders", holders, "--out", roster, "--cards-dir", cardsDir, "--scrypt-work-factor", "10"}

	t.Setenv(pinEnv, initial)
	var out, errb bytes.Buffer
	if err := run(ctx, args, strings.NewReader(passes.String()), &out, &errb); err != nil {
		t.Fatalf("cards provision: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "roster: "+roster+" (3 of 7)") || strings.Count(out.String(), ".card\n") != 7 {
		t.Fatalf("cards provision printed:\n%s", out.String())
	}
	// Again: the roster exists, nothing is touched.
	if err := run(ctx, args, strings.NewReader(passes.String()), io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("provision over an existing roster: %v", err)
	}
	rb, err := os.ReadFile(roster)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Quorum quorum.Roster `yaml:"quorum"`
	}
	if err := yaml.Unmarshal(rb, &doc); err != nil || doc.Quorum.Validate() != nil || doc.Quorum.Threshold != 3 || len(doc.Quorum.Cards) != 7 {
		t.Fatalf("roster: %v\n%s", err, rb)
	}

	signArgs := func(outFile string) []string {
		return []string{"ksr", "sign", "../../dnssec/testdata/ksr-root-2010-q1-0.xml", "--profile", profile, "--now", "2009-12-25", "--out", filepath.Join(dir, outFile), "--yes"}
	}
	if err := run(ctx, signArgs("old.xml"), nil, io.Discard, io.Discard); exitCode(err) != exitOperational || !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("the old PIN after provisioning: %v", err)
	}

	// The officers' card files open the token: CO1's holder mistypes (the
	// card is refused by name), CO2, CO3 and CO4 make the quorum.
	t.Setenv(pinEnv, "")
	out.Reset()
	errb.Reset()
	typed := "wrong passphrase\n" + pass(2) + "\n" + pass(3) + "\n" + pass(4) + "\n"
	if err := run(ctx, append(signArgs("new.xml"), "--roster", roster, "--cards", cardsDir), strings.NewReader(typed), &out, &errb); err != nil {
		t.Fatalf("signing with the cards: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"card CO1 refused: card CO1: wrong card PIN or passphrase (1 wrong so far)", "card CO4 (Officer D) accepted: 3 of 3"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	// Two cards are not a quorum: nothing is signed.
	if err := run(ctx, append(signArgs("two.xml"), "--roster", roster, "--cards", cardsDir), strings.NewReader(pass(1)+"\n"+pass(2)+"\n"), io.Discard, &errb); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "2 of 3 cards") {
		t.Fatalf("two cards: %v\n%s", err, errb.String())
	}
	// The PIN the cards give is the one provisioning set.
	f := &quorum.CardFiles{Dir: cardsDir, Passphrase: func(_ context.Context, id string) (string, error) {
		var i int
		fmt.Sscanf(id, "CO%d", &i)
		return pass(i), nil
	}}
	col, err := quorum.NewCollector(&doc.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO2", "CO5", "CO7"} {
		card, err := f.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := col.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := col.Recover()
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := quorum.DerivePIN(secret, label)
	t.Setenv(pinEnv, string(pin))
	if err := run(ctx, signArgs("env.xml"), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("signing with the derived PIN: %v", err)
	}
	all := out.String() + errb.String()
	// Reissue: three old cards re-deal the secret to three new holders (2 of
	// 3); the token is untouched and opens with two new cards, and the old
	// cards are refused as revoked under the new roster.
	newHolders, newRoster, newCards := filepath.Join(dir, "new-holders.yaml"), filepath.Join(dir, "roster-2.yaml"), filepath.Join(dir, "cards-2")
	os.WriteFile(newHolders, []byte("holders:\n  - {id: CO8, holder: Officer H}\n  - {id: CO9, holder: Officer I}\n  - {id: CO10, holder: Officer J}\n"), 0o644)
	reissue := pass(1) + "\n" + pass(2) + "\n" + pass(3) + "\n" + pass(8) + "\n" + pass(9) + "\n" + pass(10) + "\n"
	var rout, rerr bytes.Buffer
	if err := run(ctx, []string{"cards", "reissue", "--roster", roster, "--cards", cardsDir, "--threshold", "2", "--holders", newHolders,
		"--out", newRoster, "--cards-dir", newCards, "--scrypt-work-factor", "10"}, strings.NewReader(reissue), &rout, &rerr); err != nil {
		t.Fatalf("cards reissue: %v\n%s", err, rerr.String())
	}
	if !strings.Contains(rout.String(), "revoked: CO1 CO2 CO3 CO4 CO5 CO6 CO7") || !strings.Contains(rout.String(), doc.Quorum.Commitments[0]) {
		t.Fatalf("cards reissue printed:\n%s", rout.String())
	}
	t.Setenv(pinEnv, "")
	if err := run(ctx, append(signArgs("new2.xml"), "--roster", newRoster, "--cards", newCards), strings.NewReader(pass(8)+"\n"+pass(9)+"\n"), io.Discard, &rerr); err != nil {
		t.Fatalf("signing with the new cards: %v\n%s", err, rerr.String())
	}
	rerr.Reset()
	if err := run(ctx, append(signArgs("old2.xml"), "--roster", newRoster, "--cards", cardsDir), strings.NewReader(reissue), io.Discard, &rerr); exitCode(err) != exitUsage {
		t.Fatalf("old cards under the new roster: %v", err)
	}
	if !strings.Contains(rerr.String(), "card CO1 (Officer A) rejected: revoked on this roster") {
		t.Fatalf("old cards under the new roster:\n%s", rerr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "old2.xml")); err == nil {
		t.Fatal("old cards signed under the new roster")
	}
	all += rout.String() + rerr.String()

	for i := 1; i <= 7; i++ {
		if strings.Contains(all, pass(i)) {
			t.Fatal("a passphrase reached the output")
		}
	}
	if strings.Contains(all, string(pin)) {
		t.Fatal("the PIN reached the output")
	}
	for _, f := range []string{"old.xml", "two.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("%s was written without the token opening", f)
		}
	}
}

// TestCardTokensProvision provisions three PKCS#11 cards (SoftHSM2 tokens
// labelled CO1–CO3 standing in for smart cards) for a KSK token: the card
// PINs are the typed secrets; afterwards two cards open the token for
// hsm keygen, a wrong card PIN is refused and counted, and no PIN reaches
// the output.
func TestCardTokensProvision(t *testing.T) {
	pins := map[string]string{"ksk-token": "initial-pin-1", "CO1": "card-pin-one", "CO2": "card-pin-two", "CO3": "card-pin-three"}
	module := hsmtest.SoftHSMTokens(t, pins)
	dir := t.TempDir()
	profile := pkcs11Profile(t, dir, module, "ksk-token")
	holders := filepath.Join(dir, "holders.yaml")
	os.WriteFile(holders, []byte("holders:\n  - {id: CO1, holder: Alice}\n  - {id: CO2, holder: Bob}\n  - {id: CO3, holder: Carol}\n"), 0o644)
	roster := filepath.Join(dir, "roster.yaml")
	ctx := context.Background()
	t.Setenv(pinEnv, pins["ksk-token"])
	var out, errb bytes.Buffer
	typed := pins["CO1"] + "\n" + pins["CO2"] + "\n" + pins["CO3"] + "\n"
	if err := run(ctx, []string{"cards", "provision", "--profile", profile, "--threshold", "2", "--holders", holders, "--out", roster, "--card-module", module},
		strings.NewReader(typed), &out, &errb); err != nil {
		t.Fatalf("cards provision: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "card CO2 (Bob): the card token labelled CO2, with its cosigning key made on the card") {
		t.Fatalf("cards provision printed:\n%s", out.String())
	}
	// The roster lists each card's cosigning key, the one made on the card:
	// the card signs with it, and its private half never leaves the card.
	r, err := loadRoster(roster)
	if err != nil || !r.HasCosignKeys() {
		t.Fatalf("the roster lists no cosigning keys: %v", err)
	}
	for _, id := range []string{"CO1", "CO2", "CO3"} {
		info, _ := r.Card(id)
		_, pub, err := quorum.ParseCosignVKey(info.Key)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := hsm.OpenPKCS11(module, id)
		if err != nil {
			t.Fatal(err)
		}
		tok.Login(ctx, []byte(pins[id]))
		onCard, err := tok.Ed25519Public(ctx, tokencard.CosignKey)
		_, extractable, never, aerr := tok.PrivateAttributes(tokencard.CosignKey)
		tok.Close()
		if err != nil || !onCard.Equal(pub) || aerr != nil || extractable || !never {
			t.Fatalf("card %s: the roster's key is not the card's own, unexportable one (%v, %v)", id, err, aerr)
		}
	}
	t.Setenv(pinEnv, "")
	keygen := []string{"hsm", "keygen", "--profile", profile, "--label", "KSK-NEW", "--algorithm", "13", "--roster", roster, "--card-module", module}
	if err := run(ctx, keygen, strings.NewReader("wrong-pin-1\n"+pins["CO2"]+"\n"+pins["CO3"]+"\n"), &out, &errb); err != nil {
		t.Fatalf("keygen with the cards: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"card CO1 refused: card CO1: wrong card PIN or passphrase (1 wrong so far)", "card CO3 (Carol) accepted: 2 of 2"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if !strings.Contains(out.String(), "generated KSK-NEW") {
		t.Fatalf("keygen printed:\n%s", out.String())
	}
	all := out.String() + errb.String()
	for _, p := range pins {
		if strings.Contains(all, p) {
			t.Fatal("a PIN reached the output")
		}
	}
}
