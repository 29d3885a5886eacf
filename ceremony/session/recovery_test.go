package session

import (
	"context"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
)

// TestRecoveryCards: a recovery card is read with its holder's passphrase
// (a wrong one logs nothing), an officer's card number is not a recovery
// card, and cards whose storage master key is not the backup's (its check
// value differs) restore nothing: the quorum is not logged as reached.
func TestRecoveryCards(t *testing.T) {
	ctx := context.Background()
	testBackupMutate = func(b *hsm.Backup) { b.SMKCheck = "000000" }
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
}

// TestRestoreHoldsToInventory: a backup whose key bears an inventory label
// but is another key is not restored: its key tag and DS are not the
// inventory's, and nothing is logged for it.
func TestRestoreHoldsToInventory(t *testing.T) {
	ctx := context.Background()
	testBackupMutate = func(b *hsm.Backup) { b.Keys[0].Label = "KSK1" }
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
