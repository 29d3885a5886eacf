package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// TestRunCeremony runs the shipped quarterly signing script with `run
// --plain` on a real SoftHSM2 token whose PIN was set by `cards provision`,
// with the officers' card files: a wrong passphrase is refused and counted,
// three cards activate the HSM, the ceremony stops after the KSR checks and
// resumes (the cards are presented again), and the SKR carries IANA's own
// signatures for the 2010Q1 KSR. The log verifies, script and roster
// included, and no passphrase, share or PIN reaches any output or file.
func TestRunCeremony(t *testing.T) {
	const label = "ksk-hsm"
	dir, profile, cardsDir, pass := provisionedHSM(t, label)
	ctx := context.Background()
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "signing.yaml"))
	os.WriteFile(filepath.Join(dir, "signing.yaml"), script, 0o644)
	medium := filepath.Join(dir, "medium")
	os.Mkdir(medium, 0o755)
	ksr, _ := os.ReadFile(filepath.Join("..", "..", "dnssec", "testdata", "ksr-root-2010-q1-0.xml"))
	os.WriteFile(filepath.Join(medium, "ksr-root-2010-q1-0.xml"), ksr, 0o644)
	logDir := filepath.Join(dir, "log")
	args := []string{"run", "--script", filepath.Join(dir, "signing.yaml"), "--profile", profile, "--log", logDir,
		"--ksr", filepath.Join(medium, "ksr-root-2010-q1-0.xml"), "--cards", cardsDir, "--now", "2009-12-25", "--plain", "--rehearsal"}
	secrets := map[string]string{}
	for i := 1; i <= 7; i++ {
		secrets[fmt.Sprintf("CO%d", i)] = pass(i)
	}
	// CO2 mistypes first; CO1, CO2, CO3; the login, the KSR loaded and
	// checked; at the typed Yes the input ends: the console stops.
	mistyped := false
	firstRun := presenting([]string{"2", "1", "2", "3"}, secrets)
	answer := func(prompt string) (string, bool) {
		switch {
		case strings.HasPrefix(prompt, "  passphrase of card CO2") && !mistyped:
			mistyped = true
			return "not the passphrase", true
		case typePrompt.MatchString(prompt):
			return "", false
		}
		return firstRun(prompt)
	}
	var out, errb bytes.Buffer
	if err := run(ctx, args, &plainDriver{out: &out, answer: answer}, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errb.String())
	}
	all := out.String() + errb.String()
	for _, want := range []string{
		"passphrase of card CO2 (Officer B), typed by its holder: ",
		"card CO2: wrong card PIN or passphrase (1 wrong so far)",
		"durable: card CO3 (Officer C) accepted", "quorum reached", "IW confirms step 3.1",
		"  HSM ksk-hsm · SoftHSM project SoftHSM v2 · serial ",
		"SIGNER-INVENTORY", "Stopped before the end. The log is safe",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the first run lacks %q:\n%s", want, out.String())
		}
	}
	// The same command resumes at 4.3: the cards again, then sign.
	out.Reset()
	errb.Reset()
	if err := run(ctx, args, &plainDriver{out: &out, answer: presenting([]string{"4", "5", "6"}, secrets)}, &out, &errb); err != nil {
		t.Fatalf("run again: %v\n%s\n%s", err, out.String(), errb.String())
	}
	// The SKR went beside the KSR and holds IANA's signatures.
	got, err := parseFile(filepath.Join(medium, "skr-root-2010-q1-0.xml"))
	if err != nil {
		t.Fatalf("the SKR: %v", err)
	}
	want, err := parseFile(filepath.Join("..", "..", "dnssec", "testdata", "skr-root-2010-q1-0.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Response.Bundles) != len(want.Response.Bundles) {
		t.Fatalf("%d bundles, want %d", len(got.Response.Bundles), len(want.Response.Bundles))
	}
	for i, b := range got.Response.Bundles {
		if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
			t.Fatalf("bundle %d: the signature is not IANA's", i+1)
		}
	}
	// The command printed for the auditor pins the roster published
	// before the ceremony.
	hint := regexp.MustCompile(`Verify it with: keyceremony verify (\S+) --roster (\S+)\n`).FindStringSubmatch(out.String())
	if hint == nil || hint[1] != logDir {
		t.Fatalf("run prints no verify command pinning the roster:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"verify", hint[1], "--roster", hint[2]}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "[ OK ] roster") {
		t.Fatalf("verify --roster %s: %v\n%s", hint[2], err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"verify", logDir}, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ceremony.script") || !strings.Contains(out.String(), "24 of 24 steps") {
		t.Fatalf("verify printed:\n%s", out.String())
	}
	all += out.String()

	// No secret anywhere: outputs, log files, SKR, diagnostics.
	secrets = map[string]string{}
	for i := 1; i <= 7; i++ {
		secrets["passphrase "+fmt.Sprint(i)] = pass(i)
	}
	f := &quorum.CardFiles{Dir: cardsDir, Passphrase: func(_ context.Context, id string) (string, error) {
		var i int
		fmt.Sscanf(id, "CO%d", &i)
		return pass(i), nil
	}}
	roster, err := loadRoster(filepath.Join(dir, "roster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	col, _ := quorum.NewCollector(roster)
	for _, id := range []string{"CO1", "CO2", "CO3"} {
		c, err := f.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		secrets["share of "+id] = base64.StdEncoding.EncodeToString(c.Value)
		secrets["share of "+id+" (hex)"] = fmt.Sprintf("%x", c.Value)
		col.Present(c)
		// The officer's cosigning key, as the card file holds it.
		seed := cardFileKey(t, filepath.Join(cardsDir, id+".card"), pass(int(id[2]-'0')))
		secrets["cosigning key of "+id] = base64.StdEncoding.EncodeToString(seed)
		secrets["cosigning key of "+id+" (hex)"] = fmt.Sprintf("%x", seed)
	}
	secret, _ := col.Recover()
	pin, _ := quorum.DerivePIN(secret, label)
	secrets["PIN"] = string(pin)
	secrets["secret (hex)"] = fmt.Sprintf("%x", secret)
	files := map[string]string{"output": all}
	for _, root := range []string{logDir, medium} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				files[p] = string(b)
			}
			return nil
		})
	}
	for where, text := range files {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s is in %s", what, where)
			}
		}
	}
}

// provisionedHSM makes a SoftHSM token holding the rehearsal KSKs, seven
// officers' card files (3 of 7, CO1–CO7) whose secret now opens it, the
// profile and roster.yaml in a new folder.
func provisionedHSM(t *testing.T, label string) (dir, profile, cardsDir string, pass func(int) string) {
	t.Helper()
	module := hsmtest.SoftHSM(t, label, "initial-pin-0", rehearsalKeys(t))
	dir = t.TempDir()
	profile = pkcs11Profile(t, dir, module, label)
	pass = func(i int) string { return fmt.Sprintf("passphrase of officer %d", i) }
	var hy, passes strings.Builder
	hy.WriteString("holders:\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&hy, "  - {id: CO%d, holder: Officer %c}\n", i, 'A'+i-1)
		passes.WriteString(pass(i) + "\n")
	}
	os.WriteFile(filepath.Join(dir, "holders.yaml"), []byte(hy.String()), 0o644)
	cardsDir = filepath.Join(dir, "cards")
	t.Setenv(pinEnv, "initial-pin-0")
	if err := run(context.Background(), []string{"cards", "provision", "--profile", profile, "--threshold", "3", "--holders", filepath.Join(dir, "holders.yaml"),
		"--out", filepath.Join(dir, "roster.yaml"), "--cards-dir", cardsDir, "--scrypt-work-factor", "10"}, strings.NewReader(passes.String()), io.Discard, io.Discard); err != nil {
		t.Fatalf("cards provision: %v", err)
	}
	t.Setenv(pinEnv, "")
	return dir, profile, cardsDir, pass
}

// TestRunKeyGeneration runs the shipped KSK generation script on SoftHSM
// with the officers' card files: the key is generated in the token only
// after the typed Yes, its tags and DS are shown and logged, the DNSKEY and
// DS are stored with the log, hsm inventory finds the same key tag in the
// token, and the log verifies.
func TestRunKeyGeneration(t *testing.T) {
	dir, profile, cardsDir, pass := provisionedHSM(t, "keygen-hsm")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "keygen.yaml"))
	os.WriteFile(filepath.Join(dir, "keygen.yaml"), script, 0o644)
	os.WriteFile(filepath.Join(dir, "new-holders.yaml"), []byte("holders:\n  - {id: CO11, holder: Kim}\n  - {id: CO12, holder: Lee}\n  - {id: CO13, holder: Mo}\n"), 0o644)
	logDir, newRoster, newCards := filepath.Join(dir, "log"), filepath.Join(dir, "roster-2.yaml"), filepath.Join(dir, "cards-2")
	var rk bytes.Buffer
	rk.WriteString("holders:\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&rk, "  - {id: RK%d, holder: Holder %d}\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "rksh.yaml"), rk.Bytes(), 0o644)
	recRoster, recCards := filepath.Join(dir, "rksh-roster.yaml"), filepath.Join(dir, "rksh-cards")
	ctx := context.Background()
	args := []string{"run", "--script", filepath.Join(dir, "keygen.yaml"), "--profile", profile, "--log", logDir, "--cards", cardsDir,
		"--new-holders", filepath.Join(dir, "new-holders.yaml"), "--new-roster", newRoster, "--new-cards", newCards, "--scrypt-work-factor", "10", "--plain",
		"--recovery-holders", filepath.Join(dir, "rksh.yaml"), "--recovery-roster", recRoster, "--recovery-cards", recCards}
	// The keys are backed up at generation: a profile whose keys cannot be
	// wrapped is refused before anything is logged.
	if err := run(ctx, args, nil, io.Discard, io.Discard); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "must say backup_capable: true") {
		t.Fatalf("a key.backup with a profile that is not backup-capable: %v", err)
	}
	text, _ := os.ReadFile(profile)
	os.WriteFile(profile, bytes.Replace(text, []byte("  backend: pkcs11\n"), []byte("  backend: pkcs11\n  backup_capable: true\n"), 1), 0o644)
	cards := presenting([]string{"2", "4", "6"}, map[string]string{"CO2": pass(2), "CO4": pass(4), "CO6": pass(6)})
	np := func(id string) string { return "new passphrase of " + id }
	var newPass []string
	for _, id := range []string{"CO11", "CO12", "CO13", "RK1", "RK2", "RK3", "RK4", "RK5", "RK6", "RK7"} {
		newPass = append(newPass, np(id), np(id))
	}
	typing := typingNew(&newPass, cards)
	typedOnce := false
	answer := func(prompt string) (string, bool) {
		if typePrompt.MatchString(prompt) && !typedOnce {
			typedOnce = true
			return "yes", true // not exactly Yes: refused
		}
		return typing(prompt)
	}
	var out bytes.Buffer
	if err := run(ctx, args, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`KSK KSK-NEW · algorithm 8 · key tag (\d+) \((\d+) with REVOKE\)\n  DS SHA-256 ([0-9a-f ]+)\n`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), `typed "yes"; type Yes exactly to go on`) || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("run printed:\n%s", out.String())
	}
	for _, want := range []string{"new card set CO11, CO12, CO13 (3 of 3) with a new secret; the HSM's PIN changed; revoked CO1, CO2, CO3, CO4, CO5, CO6, CO7",
		"The HSM's PIN changed: only the new cards open it from now on.",
		"under a new storage master key (check value ", "dealt to the recovery holders RK1, RK2, RK3, RK4, RK5, RK6, RK7 (5 of 7)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run lacks %q:\n%s", want, out.String())
		}
	}
	// The new card set opens the HSM; the old cards, even under the old
	// roster, no longer do.
	sign := func(roster, cards, typed, outFile string) (string, error) {
		return signWithCards(ctx, profile, filepath.Join(dir, outFile), roster, cards, typed)
	}
	if msg, err := sign(newRoster, newCards, np("CO11")+"\n"+np("CO12")+"\n"+np("CO13")+"\n", "new.xml"); err != nil {
		t.Fatalf("the new cards do not open the HSM: %v\n%s", err, msg)
	}
	if msg, err := sign(filepath.Join(dir, "roster.yaml"), cardsDir, pass(1)+"\n"+pass(2)+"\n"+pass(3)+"\n", "old.xml"); err == nil || !strings.Contains(err.Error(), "PIN incorrect") {
		t.Fatalf("the old cards after the new card set: %v\n%s", err, msg)
	}
	if strings.Contains(out.String(), np("CO11")) {
		t.Fatal("a new passphrase reached the output")
	}
	var inv bytes.Buffer
	if err := run(ctx, []string{"hsm", "inventory", "--profile", profile}, nil, &inv, io.Discard); err != nil {
		t.Fatal(err)
	}
	ds := strings.ReplaceAll(m[3], " ", "")
	if !regexp.MustCompile(`(?m)^KSK-NEW +8 +` + m[1] + ` +` + m[2] + ` +` + ds + ` `).MatchString(inv.String()) {
		t.Fatalf("hsm inventory does not show the generated key (tag %s, DS %s):\n%s", m[1], ds, inv.String())
	}
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", logDir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "24 of 24 steps") {
		t.Fatalf("verify: %v\n%s", err, vout.String())
	}
	arts, _ := filepath.Glob(filepath.Join(logDir, "artefacts", "sha256", "*"))
	found := false
	for _, a := range arts {
		b, _ := os.ReadFile(a)
		if strings.Contains(string(b), "IN\tDS\t"+m[1]+" 8 2 ") {
			found = true
		}
	}
	if !found {
		t.Fatal("the generated key's DS record is not among the log's artefacts")
	}
	anchor := false
	for _, a := range arts {
		b, _ := os.ReadFile(a)
		anchor = anchor || (strings.Contains(string(b), "<TrustAnchor") && strings.Contains(string(b), "<KeyTag>"+m[1]+"</KeyTag>"))
	}
	if !anchor {
		t.Fatal("the generated key's trust anchor XML is not among the log's artefacts")
	}
	// The backup among the artefacts holds the new key, wrapped; the
	// recovery holders' seven card files and roster are written.
	var file *backup.File
	for _, a := range arts {
		b, _ := os.ReadFile(a)
		if bk, err := backup.Parse(b); err == nil {
			file = bk
		}
	}
	if file == nil || !slices.ContainsFunc(file.Keys, func(k backup.Key) bool { return k.Label == "KSK-NEW" }) {
		t.Fatalf("no backup of KSK-NEW among the log's artefacts: %+v", file)
	}
	if files, _ := filepath.Glob(filepath.Join(recCards, "*.card")); len(files) != 7 {
		t.Fatalf("%d recovery card files", len(files))
	}
	if _, err := quorum.ParseRosterFile(mustRead(t, recRoster)); err != nil {
		t.Fatalf("the recovery holders' roster: %v", err)
	}
}

func parseFile(path string) (*dnssec.Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return dnssec.Parse(b)
}

// TestRunWitnessed runs the signing script with a witnessed roster (the HSM
// enforces M-of-N itself) on SoftHSM: no card source is asked for, each card
// is recorded with its serial and the IW's confirmation, and as SoftHSM has
// no card reader of its own the login is refused with what to do, the step
// left open and the refusal logged.
func TestRunWitnessed(t *testing.T) {
	const label = "keyper"
	module := hsmtest.SoftHSM(t, label, "the-hsm-pin", rehearsalKeys(t))
	dir := t.TempDir()
	profile := pkcs11Profile(t, dir, module, label)
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "signing.yaml"))
	os.WriteFile(filepath.Join(dir, "signing.yaml"), script, 0o644)
	os.WriteFile(filepath.Join(dir, "roster.yaml"), []byte("quorum:\n  mode: witnessed\n  threshold: 2\n  cards:\n"+
		"    - {id: CO1, holder: Alice, serial: KP-0001}\n    - {id: CO2, holder: Bob}\n    - {id: CO3, holder: Carol}\n"), 0o644)
	ctx := context.Background()
	args := []string{"run", "--script", filepath.Join(dir, "signing.yaml"), "--profile", profile, "--log", filepath.Join(dir, "log"),
		"--ksr", filepath.Join("..", "..", "dnssec", "testdata", "ksr-root-2010-q1-0.xml"), "--skr", filepath.Join(dir, "skr.xml"), "--plain"}
	if err := run(ctx, append(args, "--cards", dir), nil, io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("--cards with a witnessed quorum: %v", err)
	}
	// CO1 (KP-0001, confirmed), CO3 (not confirmed), CO2 (confirmed); the
	// login fails and the input ends.
	var out bytes.Buffer
	lines := []string{"1", "KP-0001", "y", "3", "CH-77", "n", "2", "BO-12", "y"}
	answer := func(prompt string) (string, bool) {
		if bagPrompt.MatchString(prompt) {
			return atTable(prompt)
		}
		if strings.HasPrefix(prompt, "  Card ") || strings.HasPrefix(prompt, "  Serial ") || strings.Contains(prompt, "the HSM accepted card") {
			if len(lines) == 0 {
				return "", false
			}
			l := lines[0]
			lines = lines[1:]
			return l, true
		}
		if strings.Contains(prompt, "log in to the HSM") && strings.Contains(out.String(), "[FAIL] log in") {
			return "", false
		}
		return atTable(prompt)
	}
	if err := run(ctx, args, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Card the HSM accepted (1-3, x exception, a abort, q quit): ",
		"IW: the HSM accepted card CO1 (Alice), serial KP-0001? [y/N]: ",
		"card CO1 (Alice) accepted by the HSM, serial KP-0001, confirmed by IW",
		"Not confirmed: nothing recorded.",
		"quorum reached: CO1, CO2",
		"the HSM enforces the quorum itself: activate it with its officers' cards (PED), then log in again",
		"Stopped before the end",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "CH-77") && strings.Contains(out.String(), "serial CH-77, confirmed") {
		t.Fatal("an unconfirmed card was recorded")
	}
}

// TestRunOfficerReplacement runs the shipped crypto officer replacement
// script: three old cards recover the secret, the new officers' passphrases
// are typed twice (a mismatch is refused and typed again), the new card
// files and roster are written and logged, the log verifies; then the new
// cards open the HSM for ksr sign while an old one is refused as revoked.
func TestRunOfficerReplacement(t *testing.T) {
	dir, profile, cardsDir, pass := provisionedHSM(t, "officers-hsm")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "officers.yaml"))
	os.WriteFile(filepath.Join(dir, "officers.yaml"), script, 0o644)
	os.WriteFile(filepath.Join(dir, "new-holders.yaml"), []byte("holders:\n  - {id: CO11, holder: Kim}\n  - {id: CO12, holder: Lee}\n  - {id: CO13, holder: Mo}\n"), 0o644)
	logDir, newRoster, newCards := filepath.Join(dir, "log"), filepath.Join(dir, "roster-2.yaml"), filepath.Join(dir, "cards-2")
	ctx := context.Background()
	args := []string{"run", "--script", filepath.Join(dir, "officers.yaml"), "--profile", profile, "--log", logDir, "--cards", cardsDir,
		"--new-holders", filepath.Join(dir, "new-holders.yaml"), "--new-roster", newRoster, "--new-cards", newCards, "--scrypt-work-factor", "10", "--plain"}
	if err := run(ctx, args[:len(args)-9], nil, io.Discard, io.Discard); exitCode(err) != exitUsage {
		t.Fatalf("without the new holders: %v", err)
	}
	np := func(id string) string { return "new passphrase of " + id }
	// The new officers type their passphrases twice; CO12 mistypes the
	// second time once.
	newPass := []string{np("CO11"), np("CO11"), np("CO12"), "a different one",
		np("CO12"), np("CO12"), np("CO13"), np("CO13")}
	cards := presenting([]string{"1", "5", "7"}, map[string]string{"CO1": pass(1), "CO5": pass(5), "CO7": pass(7)})
	answer := typingNew(&newPass, cards)
	var out bytes.Buffer
	if err := run(ctx, args, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"card CO12: the two typings differ; type it again", "new cards CO11, CO12, CO13 (3 of 3) dealt from the same secret; revoked CO1, CO2, CO3, CO4, CO5, CO6, CO7",
		"New roster roster-2.yaml · SHA-256 ", "The ceremony is closed: "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run lacks %q:\n%s", want, out.String())
		}
	}
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", logDir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "11 of 11 steps") {
		t.Fatalf("verify: %v\n%s", err, vout.String())
	}
	sign := func(roster, cards, typed, outFile string) (string, error) {
		return signWithCards(ctx, profile, filepath.Join(dir, outFile), roster, cards, typed)
	}
	if msg, err := sign(newRoster, newCards, np("CO11")+"\n"+np("CO12")+"\n"+np("CO13")+"\n", "new.xml"); err != nil {
		t.Fatalf("the new cards do not open the HSM: %v\n%s", err, msg)
	}
	if msg, err := sign(newRoster, cardsDir, pass(1)+"\n", "old.xml"); err == nil || !strings.Contains(msg, "card CO1 (Officer A) rejected: revoked on this roster") {
		t.Fatalf("an old card under the new roster: %v\n%s", err, msg)
	}
	all := out.String() + vout.String()
	for _, id := range []string{"CO11", "CO12", "CO13"} {
		if strings.Contains(all, np(id)) {
			t.Fatalf("%s's new passphrase reached the output", id)
		}
	}
}

// TestRunAdministrative runs the administrative ceremony, which uses no
// HSM: no profile and no cards are asked for, a step is skipped with the
// witness's confirmation, and the log verifies.
func TestRunAdministrative(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	ctx := context.Background()
	// Step 3.2 is skipped: s, the reason, the IW's y.
	var out bytes.Buffer
	skip := []string{"s", "the SA's access badge is not ready", "y"}
	answer := func(prompt string) (string, bool) {
		if strings.Contains(out.String(), "Step 3.2 ·") && len(skip) > 0 {
			l := skip[0]
			skip = skip[1:]
			return l, true
		}
		return atTable(prompt)
	}
	if err := run(ctx, []string{"run", "--script", "admin", "--log", logDir, "--plain"}, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run admin: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "step 3.2 SKIPPED, confirmed by IW: the SA's access badge is not ready") || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("run admin printed:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"verify", logDir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "10 of 11 steps done (1 more passed over)") {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"transcript", logDir}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| SA | System Administrator (new staff member) | Participant SA |", "- step 3.2 skipped, ", "confirmed by IW: the SA's access badge is not ready",
		"- Ceremony closed: 10 of 11 steps done, 1 passed over, 0 exceptions, 0 stops, 0 resumes"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the transcript lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunDecommission zeroizes a SoftHSM token in the decommissioning
// ceremony: after the typed Yes every key is destroyed, the token is read
// back empty, hsm inventory lists no key, and the log verifies.
func TestRunDecommission(t *testing.T) {
	dir, profile, cardsDir, pass := provisionedHSM(t, "old-hsm")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "decommission.yaml"))
	os.WriteFile(filepath.Join(dir, "decommission.yaml"), script, 0o644)
	logDir := filepath.Join(dir, "log")
	ctx := context.Background()
	var out bytes.Buffer
	answer := presenting([]string{"3", "4", "5"}, map[string]string{"CO3": pass(3), "CO4": pass(4), "CO5": pass(5)})
	if err := run(ctx, []string{"run", "--script", filepath.Join(dir, "decommission.yaml"), "--profile", profile, "--log", logDir,
		"--cards", cardsDir, "--plain"}, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run decommission: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "HSM old-hsm ZEROIZED: 2 keys destroyed (KSK1, KSK2), none left") || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("run decommission printed:\n%s", out.String())
	}
	var inv bytes.Buffer
	if err := run(ctx, []string{"hsm", "inventory", "--profile", profile}, nil, &inv, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inv.String(), "no keys on the token") {
		t.Fatalf("hsm inventory after zeroizing:\n%s", inv.String())
	}
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", logDir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "12 of 12 steps done") {
		t.Fatalf("verify: %v\n%s", err, vout.String())
	}
}

// TestRunContingency: in the administrative ceremony the new staff member
// cannot attend; once that contingency is chosen the induction steps are
// passed over in the log at once, the ceremony closes, and the log and
// transcript say why.
func TestRunContingency(t *testing.T) {
	logDir := filepath.Join(t.TempDir(), "log")
	ctx := context.Background()
	var out bytes.Buffer
	answer := func(prompt string) (string, bool) {
		if strings.HasPrefix(prompt, "  Contingencies that apply") {
			return "no-new-staff", true
		}
		return atTable(prompt)
	}
	if err := run(ctx, []string{"run", "--script", "admin", "--log", logDir, "--plain"}, &plainDriver{out: &out, answer: answer}, &out, io.Discard); err != nil {
		t.Fatalf("run admin: %v\n%s", err, out.String())
	}
	for _, want := range []string{"no-new-staff   The new staff member cannot attend", "contingencies chosen: no-new-staff",
		"step 3.1 does not apply with the contingencies chosen", "step 3.2 does not apply with the contingencies chosen", "The ceremony is closed: "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(ctx, []string{"transcript", logDir}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "- step 3.2 does not apply (contingency no-new-staff)") {
		t.Fatalf("transcript: %v\n%s", err, out.String())
	}
}

// TestRunTwoKSRs answers two KSRs in one ceremony (the shipped signing-two
// script): the HSM is activated once, each KSR is loaded, checked, signed
// and written in turn, each SKR beside its KSR, and the log verifies.
func TestRunTwoKSRs(t *testing.T) {
	dir, profile, cardsDir, pass := provisionedHSM(t, "two-hsm")
	script, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "signing-two.yaml"))
	os.WriteFile(filepath.Join(dir, "signing-two.yaml"), script, 0o644)
	q1, _ := os.ReadFile(filepath.Join("..", "..", "dnssec", "testdata", "ksr-root-2010-q1-0.xml"))
	q2, _ := os.ReadFile(filepath.Join("..", "..", "dnssec", "testdata", "ksr-root-2010-q2-0.xml"))
	for n, b := range map[string][]byte{"ksr-a.xml": q1, "ksr-b.xml": q2, "ksr-again.xml": q1} {
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	ctx := context.Background()
	args := func(logDir string, ksrs ...string) []string {
		a := []string{"run", "--script", filepath.Join(dir, "signing-two.yaml"), "--profile", profile, "--log", logDir, "--cards", cardsDir,
			"--now", "2010-01-07", "--plain"}
		for _, k := range ksrs {
			a = append(a, "--ksr", filepath.Join(dir, k))
		}
		return a
	}
	if err := run(ctx, args(filepath.Join(dir, "log-0"), "ksr-a.xml"), nil, io.Discard, io.Discard); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "loads 2 KSRs") {
		t.Fatalf("one --ksr for two: %v", err)
	}
	answer := func() func(string) (string, bool) {
		return presenting([]string{"1", "2", "3"}, map[string]string{"CO1": pass(1), "CO2": pass(2), "CO3": pass(3)})
	}
	// The same KSR twice: the second is checked against the SKR just
	// written for the first, and refused as answered already.
	var out bytes.Buffer
	run(ctx, args(filepath.Join(dir, "log-replay"), "ksr-a.xml", "ksr-again.xml"), &plainDriver{out: &out, answer: answer()}, &out, io.Discard)
	if !strings.Contains(out.String(), "[FAIL] KSR-ID") || !strings.Contains(out.String(), "this KSR was answered already (replay)") || strings.Count(out.String(), "signed bundle 9 of 9") != 1 {
		t.Fatalf("the same KSR twice in one ceremony:\n%s", out.String())
	}
	// 2010Q1, then 2010Q2, which follows the 2010Q1 response.
	os.Remove(filepath.Join(dir, "skr-a.xml"))
	logDir := filepath.Join(dir, "log")
	out.Reset()
	if err := run(ctx, args(logDir, "ksr-a.xml", "ksr-b.xml"), &plainDriver{out: &out, answer: answer()}, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if strings.Count(out.String(), "signed bundle 9 of 9") != 2 || !strings.Contains(out.String(), "The ceremony is closed: ") {
		t.Fatalf("run printed:\n%s", out.String())
	}
	for _, n := range []string{"skr-a.xml", "skr-b.xml"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", logDir}, nil, &vout, io.Discard); err != nil || !strings.Contains(vout.String(), "18 of 18 steps done") {
		t.Fatalf("verify: %v\n%s", err, vout.String())
	}
}

// signWithCards signs IANA's 2010Q1 KSR with ksr sign, the HSM opened by
// the cards of a roster whose passphrases typed holds, one per line; it
// returns what ksr sign said on stderr.
func signWithCards(ctx context.Context, profile, out, roster, cards, typed string) (string, error) {
	var errb bytes.Buffer
	err := run(ctx, []string{"ksr", "sign", "../../dnssec/testdata/ksr-root-2010-q1-0.xml", "--profile", profile, "--now", "2009-12-25",
		"--out", out, "--yes", "--roster", roster, "--cards", cards}, strings.NewReader(typed), io.Discard, &errb)
	return errb.String(), err
}

// typingNew answers the new officers' passphrase prompts from *passes, in
// order, and every other prompt with other.
func typingNew(passes *[]string, other func(string) (string, bool)) func(string) (string, bool) {
	return func(prompt string) (string, bool) {
		if strings.HasPrefix(prompt, "  passphrase for new card") || strings.HasPrefix(prompt, "  passphrase for new recovery card") || strings.HasPrefix(prompt, "  again") {
			p := (*passes)[0]
			*passes = (*passes)[1:]
			return p, true
		}
		return other(prompt)
	}
}

// cardFileKey opens a card file as its holder would and returns the seed of
// the officer's cosigning key it holds.
func cardFileKey(t *testing.T, path, passphrase string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Key string `json:"key"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil || doc.Key == "" {
		t.Fatalf("%s holds no cosigning key: %v", path, err)
	}
	seed, err := base64.StdEncoding.DecodeString(doc.Key)
	if err != nil || len(seed) != 32 {
		t.Fatalf("%s: a cosigning key of %d bytes (%v)", path, len(seed), err)
	}
	return seed
}
