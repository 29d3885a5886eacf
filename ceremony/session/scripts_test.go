package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
	"gopkg.in/yaml.v3"
)

// TestShippedScriptsAuto plays every shipped script unattended on the
// rehearsal's software token and simulated cards (the demo's roster stands
// in for roster.yaml): each passes the checks, runs to its close, and its
// log replays.
func TestShippedScriptsAuto(t *testing.T) {
	for _, name := range []string{"demo", "signing", "signing-two", "keygen", "officers", "decommission", "admin"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg, l, r := shippedConfig(t, name)
			script, second := cfg.Script, cfg.MoreSKRPaths[0]
			s, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := s.Snapshot()
			for i := 0; s.Next() != NextDone; i++ {
				if i > 500 {
					t.Fatal("the script does not end")
				}
				if _, err := s.AutoStep(ctx); err != nil {
					if k := s.State().KSR; k != nil {
						for _, r := range k.Results {
							if r.Status == "fail" {
								t.Logf("%s: %s", r.ID, r.Detail)
							}
						}
					}
					t.Fatalf("at step %d: %v", s.State().Next, err)
				}
			}
			l.Close(ctx)
			entries, err := readEntries(r.dir)
			if err != nil {
				t.Fatal(err)
			}
			st, err := ceremony.Replay(script, entries)
			if err != nil || !st.Closed || len(st.DoneAt) != len(script.Steps()) {
				t.Fatalf("replay: %v (closed %v, %d of %d steps)", err, st.Closed, len(st.DoneAt), len(script.Steps()))
			}
			if need := NeedsOf(script); need.KSRs > 0 {
				if _, err := os.Stat(r.skr); err != nil {
					t.Fatal("no SKR written")
				}
			}
			if name == "keygen" {
				// The new card set, and only it, opens the token now.
				newCardsOpen(t, cfg, oldPIN(t, cfg))
				// Every key backed up, the new one with them, for seven
				// recovery holders' cards, none of them an officer's.
				cardFiles, _ := filepath.Glob(filepath.Join(cfg.RecoveryDeal.CardsDir, "*.card"))
				if b := st.BackedUp; b == nil || len(b.Holders) != 7 || b.Threshold != 5 || len(b.Keys) < 2 || len(cardFiles) != 7 {
					t.Fatalf("the backup: %+v, %d card files", b, len(cardFiles))
				}
				// A snapshot handed out before the backup still shows the
				// ceremony as it was then.
				if before.Setup.RecoveryRoster != nil || s.Snapshot().Setup.RecoveryRoster == nil {
					t.Fatal("the backup changed a snapshot taken before it")
				}
			}
			if name == "recovery" {
				if len(st.Restored) != 1 || st.Restored[0].Label != "KSK-R" || !st.Recovery.Reached {
					t.Fatalf("restored %+v", st.Restored)
				}
				if _, err := cfg.Token.Key(ctx, "KSK-R"); err != nil {
					t.Fatalf("the restored key is not in the token: %v", err)
				}
			}
			if name == "signing-two" {
				if _, err := os.Stat(second); err != nil || len(st.Answered) != 1 {
					t.Fatalf("the second SKR: %v (%d answered before the last)", err, len(st.Answered))
				}
				// 2010Q2 was checked against the 2010Q1 response just written:
				// the chain's overlap is the old policy's one second short.
				chained := false
				for _, r := range st.KSR.Results {
					chained = chained || (r.ID == "KSR-CHAIN-OVERLAP" && r.Status == "warn" && strings.Contains(r.Detail, "expires 2010-04-05"))
				}
				if !chained {
					t.Fatalf("the second KSR was not checked against the first SKR: %+v", st.KSR.Results)
				}
			}
		})
	}
}

// oldPIN is the PIN the demo's cards derive for cfg's token.
func oldPIN(t *testing.T, cfg Config) []byte {
	t.Helper()
	return cardsPIN(t, cfg.Script.Quorum, cfg.Cards, []string{"CO1", "CO2", "CO3"}, cfg.Token.Label())
}

// newCardsOpen checks that a provisioned card set (the new roster and card
// files of cfg.Reshare) opens cfg's token and that the old PIN does not.
func newCardsOpen(t *testing.T, cfg Config, old []byte) {
	t.Helper()
	ctx := context.Background()
	rb, err := os.ReadFile(cfg.Reshare.RosterPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Quorum *quorum.Roster `yaml:"quorum"`
	}
	if err := yaml.Unmarshal(rb, &doc); err != nil || doc.Quorum == nil {
		t.Fatalf("the new roster: %v", err)
	}
	files := &quorum.CardFiles{Dir: cfg.Reshare.CardsDir, Passphrase: func(_ context.Context, id string) (string, error) {
		return "rehearsal passphrase of " + id, nil
	}}
	var ids []string
	for _, h := range cfg.Reshare.Holders {
		ids = append(ids, h.ID)
	}
	pin := cardsPIN(t, doc.Quorum, files, ids, cfg.Token.Label())
	if cfg.Token.LoggedIn() {
		t.Fatal("the token is still logged in after the ceremony")
	}
	if err := cfg.Token.Login(ctx, old); err == nil {
		t.Fatal("the old cards' PIN still opens the token")
	}
	if err := cfg.Token.Login(ctx, pin); err != nil {
		t.Fatalf("the new cards' PIN: %v", err)
	}
	cfg.Token.Logout(ctx)
}

// TestProvisionLogRefused: when the log does not take the new card set's
// entry (here: it is closed), the token's PIN is set back, so that the old
// cards open it again and the log and the token agree.
func TestProvisionLogRefused(t *testing.T) {
	ctx := context.Background()
	cfg, l, _ := shippedConfig(t, "keygen")
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; s.Next() != NextReshare; i++ {
		if i > 200 {
			t.Fatal("no cards.reshare step")
		}
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	old := oldPIN(t, cfg)
	l.Close(ctx)
	passes := map[string]string{"CO8": "passphrase 8", "CO9": "passphrase 9", "CO10": "passphrase 10"}
	if err := s.Reshare(ctx, passes); err == nil || !strings.Contains(err.Error(), "PIN was set back to the old cards'") {
		t.Fatalf("a refused log entry: %v", err)
	}
	cfg.Token.Logout(ctx)
	if err := cfg.Token.Login(ctx, old); err != nil {
		t.Fatalf("the old cards no longer open the token: %v", err)
	}
}

// shippedConfig is a rehearsal of a shipped script on the demo's software
// token and simulated cards (the demo's roster stands in for roster.yaml),
// with three new officers for a cards.reshare step and 2010Q2 as a second
// KSR; its log is new.
func shippedConfig(t *testing.T, name string) (Config, *transparency.Log, *rig) {
	t.Helper()
	return shippedConfigWith(t, name, nil)
}

// shippedConfigWith is shippedConfig for a log that opens with a custody
// register.
func shippedConfigWith(t *testing.T, name string, custody map[string]string) (Config, *transparency.Log, *rig) {
	t.Helper()
	ctx := context.Background()
	roster := string(scripts.DemoRoster())
	raw, err := scripts.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	script, err := ceremony.LoadScriptWith(name+".yaml", raw, func(string) ([]byte, error) { return []byte(roster), nil })
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	open := event.Open{ScriptSHA256: script.Digest, Custody: custody}
	arts := []transparency.Artefact{{Name: script.Name, Data: script.Raw}, {Name: "roster.yaml", Data: []byte(roster)}}
	var recoveryCards string
	if NeedsOf(script).Recovery {
		// A recovery restores the backup on record: one of a key of its
		// own, dealt to seven recovery holders' card files.
		var backup []byte
		backup, recoveryCards = testBackupWith(t, testBackupMutate)
		d := sha256.Sum256(backup)
		open.Backup = hex.EncodeToString(d[:])
		arts = append(arts, transparency.Artefact{Name: BackupName, Data: backup})
	}
	l, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key, New: true, Open: open, OpenArtefacts: arts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	demoScript, _ := DemoScript()
	cfg, err := DemoConfig(demoScript, l, false, r.skr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Script = script
	cfg.Reshare = ReshareConfig{Holders: []quorum.CardInfo{{ID: "CO8", Holder: "H"}, {ID: "CO9", Holder: "I"}, {ID: "CO10", Holder: "J"}},
		RosterPath: filepath.Join(t.TempDir(), "roster-2.yaml"), CardsDir: filepath.Join(t.TempDir(), "cards"), WorkFactor: 10}
	cfg.More, cfg.MoreSKRPaths = []Input{{Name: scripts.DemoKSR2Name, Data: scripts.DemoKSR2()}}, []string{filepath.Join(t.TempDir(), "skr-2.xml")}
	cfg.RecoveryDeal = ReshareConfig{Holders: testRecoveryHolders(), RosterPath: filepath.Join(t.TempDir(), "recovery-roster.yaml"),
		CardsDir: filepath.Join(t.TempDir(), "recovery-cards"), WorkFactor: 10}
	if recoveryCards != "" {
		cfg.RecoveryCards = &quorum.CardFiles{Dir: recoveryCards}
	}
	return cfg, l, r
}

// testBackupMutate, when set, changes the backup shippedConfig puts on
// record (tests that set it do not run in parallel).
var testBackupMutate func(*backup.File)

func testRecoveryHolders() []quorum.CardInfo {
	var out []quorum.CardInfo
	for i := 1; i <= 7; i++ {
		out = append(out, quorum.CardInfo{ID: fmt.Sprintf("RK%d", i), Holder: fmt.Sprintf("Holder %d", i)})
	}
	return out
}

// testBackup is a KSK backup of a key of its own (KSK-R, not in the demo's
// inventory), under a storage master key dealt 5 of 7 to recovery card
// files sealed with the rehearsal's passphrases, and their folder.
func testBackup(t *testing.T) ([]byte, string) {
	t.Helper()
	return testBackupWith(t, nil)
}

// testBackupWith is testBackup with the backup changed by mutate.
func testBackupWith(t *testing.T, mutate func(*backup.File)) ([]byte, string) {
	t.Helper()
	roster, cards, secret, err := quorum.DealSecret(rand.Reader, 5, testRecoveryHolders())
	if err != nil {
		t.Fatal(err)
	}
	smk, _ := quorum.DeriveSMK(secret)
	check, _ := backup.CheckValue(smk)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrapped, err := backup.WrapPKCS8(smk, key)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	rb, _ := quorum.MarshalRosterFile(roster)
	b := backup.File{Format: backup.Format, Mechanism: backup.Mechanism, SMKCheck: check, Token: "facility-a", Roster: string(rb),
		Keys: []backup.Key{{Label: "KSK-R", Public: der, Wrapped: wrapped}}}
	if mutate != nil {
		mutate(&b)
	}
	data, _ := b.Marshal()
	dir := t.TempDir()
	passes := map[string]string{}
	for _, c := range cards {
		passes[c.ID] = "rehearsal passphrase of " + c.ID
	}
	if _, err := quorum.WriteCardFiles(dir, cards, passes, 10); err != nil {
		t.Fatal(err)
	}
	return data, dir
}

// cardsPIN is the token PIN the given cards of a roster derive.
func cardsPIN(t *testing.T, roster *quorum.Roster, cards quorum.Reader, ids []string, label string) []byte {
	t.Helper()
	c, err := quorum.NewCollector(roster)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		card, err := cards.Read(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	pin, err := quorum.DerivePIN(secret, label)
	if err != nil {
		t.Fatal(err)
	}
	return pin
}
