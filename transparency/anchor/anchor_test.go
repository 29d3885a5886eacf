package anchor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/rekortest"
)

// TestRekorAnchor anchors a signed checkpoint in a real Rekor v1 on loopback
// and checks the anchor offline against Rekor's public key: it verifies, and
// it is refused for another checkpoint and under another Rekor key.
func TestRekorAnchor(t *testing.T) {
	url := rekortest.Start(t)
	ctx := context.Background()
	resp, err := http.Get(url + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rekorKey, err := ParsePublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := []byte("keyceremony.invalid/anchor-test/rehearsal\n7\nq0bCeXwJ3d5JYqfq5bWz9SYoXkTtQqC5rVhl8CSdF1I=\n\n\u2014 keyceremony.invalid/anchor-test/rehearsal AbCd\n")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Submit(ctx, url, 7, checkpoint, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Check(ctx, a, checkpoint, rekorKey)
	if err != nil || c.LogIndex < 0 || !strings.Contains(string(c.KeyPEM), "PUBLIC KEY") {
		t.Fatalf("the anchor: %v (%+v)", err, c)
	}
	// Rekor's integrated time is read from what it signed, and the
	// anchoring key is named by its SHA-256.
	if want, _ := KeySHA256(&key.PublicKey); c.KeySHA256 != want || c.Integrated.IsZero() || c.Integrated.After(time.Now().Add(time.Hour)) {
		t.Fatalf("key %s (want %s), integrated %s", c.KeySHA256, want, c.Integrated)
	}
	if _, err := Check(ctx, a, append([]byte("x"), checkpoint...), rekorKey); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("another checkpoint: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := Check(ctx, a, checkpoint, &other.PublicKey); err == nil {
		t.Fatal("an anchor checked under another Rekor key")
	}
}
