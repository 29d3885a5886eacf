package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// needSoftHSM skips a test without SoftHSM2, except in CI, where it fails.
func needSoftHSM(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(softHSMModule); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("SoftHSM2 is missing in CI: make test installs softhsm2")
		}
		t.Skip("SoftHSM2 is not installed (make test installs it)")
	}
	t.Setenv("SOFTHSM2_CONF", "") // the recovery's second HSM sets it for the process
}

// TestYearRehearsed: demo --script year plays a KSK's year, each ceremony on
// the previous one's log: the key generated and backed up for seven
// recovery holders, two quarterly signings, three officers replaced, and
// the keys restored onto a second HSM (SoftHSM2) under five recovery
// holders' cards, the test KSR signed with them; verify --history over the
// five is the closing check, and it verifies. The restored keys are in the
// second HSM, sensitive and not extractable, and only the officers'
// current cards open it. A chain with a ceremony left out fails by name.
func TestYearRehearsed(t *testing.T) {
	needSoftHSM(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "year")
	var out bytes.Buffer
	if err := run(ctx, []string{"demo", "--script", "year", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("demo --script year: %v\n%s", err, tail(out.String(), 40))
	}
	got := out.String()
	for _, want := range []string{
		"token keyceremony-demo's keys backed up (count: 2)",
		"recovery quorum reached: RK1, RK2, RK3, RK4, RK5",
		"KSK KSK1 restored into token keyceremony-facility-b",
		"KSK KSK-NEW restored into token keyceremony-facility-b",
		"[ OK ] history.backup    " + filepath.Join(dir, "5-recovery") + " carries over the KSK backup",
		"[ OK ] history.custody   " + filepath.Join(dir, "3-signing-q2"),
		"[ OK ] history.inventory the inventory of " + filepath.Join(dir, "5-recovery") + " names 1 KSK, each held",
		"HISTORY VERIFIED: 5 ceremonies",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("the year's output lacks %q\n%s", want, tail(got, 60))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "5-recovery-skr.xml")); err != nil {
		t.Fatalf("the recovery's test SKR: %v", err)
	}
	// The second HSM, as the officers' current cards open it.
	roster, err := quorum.ParseRosterFile(mustRead(t, filepath.Join(dir, "4-officers-roster-2.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	pin, err := session.RehearsalPIN(roster, &quorum.CardFiles{Dir: filepath.Join(dir, "4-officers-cards-2")}, RecoveryTokenLabel)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", filepath.Join(dir, "5-recovery-softhsm", "softhsm2.conf"))
	tok, err := hsm.OpenPKCS11(softHSMModule, RecoveryTokenLabel)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if err := tok.Login(ctx, pin); err != nil {
		t.Fatalf("the officers' current cards do not open the second HSM: %v", err)
	}
	for _, label := range []string{"KSK1", "KSK-NEW"} {
		sensitive, extractable, _, err := tok.PrivateAttributes(label)
		if err != nil || !sensitive || extractable {
			t.Fatalf("%s in the second HSM: sensitive %v, extractable %v (%v)", label, sensitive, extractable, err)
		}
	}
	// What the recovery logged is what the backup file on record holds.
	var vout bytes.Buffer
	if err := run(ctx, []string{"verify", filepath.Join(dir, "5-recovery")}, nil, &vout, io.Discard); err != nil ||
		!strings.Contains(vout.String(), "[ OK ] ceremony.backup       the recovery quorum (5 cards, 5 needed), 2 keys restored") {
		t.Fatalf("verify the recovery: %v\n%s", err, vout.String())
	}
	// The same command on the same folder goes on where it stopped: here,
	// every ceremony is closed, and the closing check runs again.
	out.Reset()
	if err := run(ctx, []string{"demo", "--script", "year", "--auto", "--plain", "--log", dir}, strings.NewReader(""), &out, io.Discard); err != nil ||
		strings.Count(out.String(), "closed already in") != 5 || !strings.Contains(out.String(), "HISTORY VERIFIED: 5 ceremonies") {
		t.Fatalf("the year again: %v\n%s", err, tail(out.String(), 20))
	}
	// Leave the second signing out: the officers' ceremony does not follow
	// the first.
	var hist bytes.Buffer
	err = run(ctx, []string{"verify", "--history", filepath.Join(dir, "1-keygen"), filepath.Join(dir, "2-signing-q1"), filepath.Join(dir, "4-officers")}, nil, &hist, io.Discard)
	if exitCode(err) != exitBadInput || !strings.Contains(hist.String(), "[FAIL] history.link") {
		t.Fatalf("a ceremony left out of the chain: %v\n%s", err, hist.String())
	}
	// A recovery after a ceremony with no backup on record is refused in
	// one line, before anything is logged.
	var errOut bytes.Buffer
	err = run(ctx, []string{"demo", "--script", "recovery", "--auto", "--plain", "--log", filepath.Join(t.TempDir(), "r")}, nil, io.Discard, &errOut)
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "restores the KSK backup on record: give --previous-log DIR") {
		t.Fatalf("a recovery with nothing to restore: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
