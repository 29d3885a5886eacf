package session

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestRecoveryCards: a recovery card is read with its holder's passphrase
// (a wrong one logs nothing), an officer's card number is not a recovery
// card, and cards whose storage master key is not the backup's (its check
// value differs) restore nothing: the quorum is not logged as reached, the
// cards are logged as dropped and the holders start again.
func TestRecoveryCards(t *testing.T) {
	ctx := context.Background()
	testBackupMutate = func(b *backup.File) { b.SMKCheck = "000000" }
	cfg, _, _ := shippedConfig(t, "recovery")
	testBackupMutate = nil
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s, "3.1", NextRecoveryCards)
	before := s.Snapshot().LogSize
	main, _ := s.Snapshot().Main()
	if r := main.Next([]string{"9"}); !strings.Contains(r.Problem, `"9" is not a recovery card's number`) {
		t.Fatalf("card 9 of 7: %+v", r)
	}
	if _, err := (PresentRecoveryCard{ID: "RK1", Secret: "not the passphrase"}).run(ctx, s); err == nil || s.Snapshot().LogSize != before {
		t.Fatalf("a wrong passphrase: %v, %d entries after %d", err, s.Snapshot().LogSize, before)
	}
	var last error
	for _, id := range []string{"RK1", "RK2", "RK3", "RK4", "RK5"} {
		_, last = (PresentRecoveryCard{ID: id, Secret: "rehearsal passphrase of " + id}).run(ctx, s)
	}
	if last == nil || !strings.Contains(last.Error(), "these cards do not open this backup") || s.Snapshot().Recovery.Reached {
		t.Fatalf("a storage master key that is not the backup's: %v (reached %v)", last, s.Snapshot().Recovery.Reached)
	}
	// Logged and dropped: the holders start again, and the same cards are
	// taken again.
	if st := s.Snapshot(); len(st.Recovery.Cards) != 0 || st.Awaiting() != NextRecoveryCards {
		t.Fatalf("after the cards were dropped: %+v", st.Recovery)
	}
	if _, err := (PresentRecoveryCard{ID: "RK1", Secret: "rehearsal passphrase of RK1"}).run(ctx, s); err != nil {
		t.Fatalf("a card after the drop: %v", err)
	}
}

// TestRestoreHoldsToInventory: a backup whose key bears an inventory label
// but is another key is not restored: its key tag and DS are not the
// inventory's, and nothing is logged for it.
func TestRestoreHoldsToInventory(t *testing.T) {
	ctx := context.Background()
	testBackupMutate = func(b *backup.File) { b.Keys[0].Label = "KSK1" }
	cfg, _, _ := shippedConfig(t, "recovery")
	testBackupMutate = nil
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s, "3.2", NextAction)
	before := s.Snapshot().LogSize
	err = s.Confirm(ctx)
	if err == nil || !strings.Contains(err.Error(), "but the inventory says") || s.Snapshot().LogSize != before || len(s.Snapshot().Restored) != 0 {
		t.Fatalf("another key under an inventory label: %v", err)
	}
}

// TestVerifyHoldsRecoveryToBackup: a log whose recovery entries say what the
// backup file on record does not (here a check value of another key, as a
// writer holding the log key could log) fails ceremony.backup; the honest
// log passes it.
func TestVerifyHoldsRecoveryToBackup(t *testing.T) {
	ctx := context.Background()
	cfg, l, r := shippedConfig(t, "recovery")
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	autoTo(t, ctx, s, "3.1", NextRecoveryCards)
	if _, err := l.AwaitCheckpoint(ctx, l.Size()-1); err != nil {
		t.Fatal(err)
	}
	verify := func() *transparency.Report {
		t.Helper()
		rep, err := audit.Verify(os.DirFS(r.dir), audit.Options{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(); !rep.OK {
		t.Fatalf("the honest log up to the recovery: %+v", rep.FirstFailure())
	}
	cards := []string{"RK1", "RK2", "RK3", "RK4", "RK5"}
	for _, id := range cards {
		if err := s.append(ctx, event.RecoveryCard{Step: "3.1", Card: id, Holder: "Holder"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.append(ctx, event.RecoveryReached{Step: "3.1", Cards: cards, Threshold: 5, SMKCheck: "ABCDEF"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AwaitCheckpoint(ctx, l.Size()-1); err != nil {
		t.Fatal(err)
	}
	rep := verify()
	f := rep.FirstFailure()
	if rep.OK || f.ID != audit.CheckBackup || !strings.Contains(f.Detail, "recovery.reached says check value ABCDEF, the backup file") {
		t.Fatalf("a recovery quorum the backup does not hold: %+v", f)
	}
}
