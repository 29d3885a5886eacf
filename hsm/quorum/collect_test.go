package quorum_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// TestCollectSecret: the roster's cards are read in its order until the
// threshold; a card not in the folder is passed over unsaid, a revoked one
// refused unread, a wrong passphrase refused and passed over, and the
// secret recovered is the one dealt. With too few cards it is ErrShort.
func TestCollectSecret(t *testing.T) {
	var holders []quorum.CardInfo
	for _, id := range []string{"CO1", "CO2", "CO3", "CO4", "CO5"} {
		holders = append(holders, quorum.CardInfo{ID: id, Holder: "Holder of " + id})
	}
	roster, cards, secret, err := quorum.DealSecret(rand.Reader, 2, holders)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	passes := map[string]string{}
	for _, c := range cards {
		passes[c.ID] = "passphrase of " + c.ID
	}
	if _, err := quorum.WriteCardFiles(dir, cards, passes, 10); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "CO1"+quorum.CardFileExt)) // not here
	roster.Cards[1].Revoked = true                          // CO2
	typed := map[string]string{"CO3": "not it", "CO4": passes["CO4"], "CO5": passes["CO5"]}
	files := &quorum.CardFiles{Dir: dir, Passphrase: func(_ context.Context, id string) (string, error) { return typed[id], nil }}
	var said []string
	got, err := quorum.CollectSecret(context.Background(), roster, files, nil, func(c quorum.Collected) {
		switch {
		case c.Revoked:
			said = append(said, c.ID+" revoked")
		case c.Err != nil:
			said = append(said, c.ID+" refused")
		default:
			said = append(said, c.ID+" accepted")
		}
	})
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("recovered %x, %v; dealt %x", got, err, secret)
	}
	if strings.Join(said, ", ") != "CO2 revoked, CO3 refused, CO4 accepted, CO5 accepted" {
		t.Fatalf("reported: %v", said)
	}
	typed["CO5"] = "not it either"
	if _, err := quorum.CollectSecret(context.Background(), roster, files, nil, func(quorum.Collected) {}); !errors.Is(err, quorum.ErrShort) || !strings.Contains(err.Error(), "1 of 2 cards accepted") {
		t.Fatalf("too few cards: %v", err)
	}
}
