package transparency

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/internal/durable"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

type memKey struct{ k ed25519.PrivateKey }

func (m memKey) Public() ed25519.PublicKey              { return m.k.Public().(ed25519.PublicKey) }
func (m memKey) SignEd25519(msg []byte) ([]byte, error) { return ed25519.Sign(m.k, msg), nil }

// officer makes a cosigner and its cosignature/v1 verifier key.
func officer(t testing.TB, name string) (note.Signer, string) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	std, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := fnote.VKeyToCosignatureV1(std)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCosigner(vkey, memKey{priv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// TestCosign: officers' cosignatures join the archived checkpoint, each one
// verifying with formats/note's cosignature/v1 verifier; asking again adds
// nothing; a card whose key is not its roster key fails by name and writes
// nothing; closing the log publishes the final checkpoint with them.
func TestCosign(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLog(t)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(ctx, sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.AwaitCheckpoint(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	size := cp.Size
	var signers []note.Signer
	var verifiers []note.Verifier
	for _, n := range []string{"officer/CO1", "officer/CO2", "officer/CO3"} {
		s, vkey := officer(t, n)
		v, err := fnote.NewVerifierForCosignatureV1(vkey)
		if err != nil {
			t.Fatal(err)
		}
		signers, verifiers = append(signers, s), append(verifiers, v)
	}
	names, err := l.Cosign(size, signers[:2])
	if err != nil || len(names) != 2 {
		t.Fatalf("cosign: %v %v", names, err)
	}
	path := filepath.Join(l.Dir(), checkpointsDir, strconv.FormatUint(size, 10))
	// A card whose key is not the one the roster lists for that name.
	_, otherKey := officer(t, "officer/CO3")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	wrong, _ := NewCosigner(otherKey, memKey{priv}, nil)
	before, _ := os.ReadFile(path)
	if _, err := l.Cosign(size, []note.Signer{signers[2], wrong}); !errors.Is(err, ErrCosignerFailed) || !strings.Contains(err.Error(), "officer/CO3") {
		t.Fatalf("a card with another key: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a failed cosigning wrote to the checkpoint")
	}
	if _, err := l.Cosign(size, signers); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if _, err := l.Cosign(size, signers); err != nil {
		t.Fatal(err)
	}
	if same, _ := os.ReadFile(path); !bytes.Equal(again, same) {
		t.Fatal("cosigning again added lines")
	}
	n, err := note.Open(again, note.VerifierList(verifiers...))
	if err != nil || len(n.Sigs) != 3 {
		t.Fatalf("the cosignatures do not verify with cosignature/v1 verifiers: %v", err)
	}
	for _, s := range n.Sigs {
		if ts, err := fnote.CoSigV1Timestamp(s); err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("cosignature time %v (%v)", ts, err)
		}
	}
	if _, err := l.Cosign(size+5, signers); !errors.Is(err, ErrNotArchived) {
		t.Fatalf("a checkpoint never signed: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	published, _ := os.ReadFile(filepath.Join(l.Dir(), checkpointFile))
	if n, err := note.Open(published, note.VerifierList(verifiers...)); err != nil || len(n.Sigs) != 3 {
		t.Fatalf("the published final checkpoint lacks the cosignatures: %v\n%s", err, published)
	}
	rep := mustVerify(t, l.Dir(), VerifyOptions{})
	if !rep.OK {
		t.Fatalf("the cosigned log: %+v", rep.FirstFailure())
	}
}

// BenchmarkCosign measures three officers cosigning a checkpoint (three
// Ed25519 signatures, each checked, and the archived checkpoint rewritten
// durably) against the baseline of writing the same checkpoint file durably
// once, measured in the same iterations.
func BenchmarkCosign(b *testing.B) {
	ctx := context.Background()
	l, _ := newTestLog(b)
	defer l.Close(ctx)
	var signers []note.Signer
	for _, n := range []string{"officer/CO1", "officer/CO2", "officer/CO3"} {
		s, _ := officer(b, n)
		signers = append(signers, s)
	}
	base := filepath.Join(filepath.Dir(l.Dir()), "baseline")
	var opNs, baseNs int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a, err := l.Append(ctx, sampleRecord(i))
		if err != nil {
			b.Fatal(err)
		}
		cp, err := l.AwaitCheckpoint(ctx, a.Index)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := l.Cosign(cp.Size, signers); err != nil {
			b.Fatal(err)
		}
		opNs += time.Since(t0).Nanoseconds()
		t1 := time.Now()
		if err := writeDurable(durable.Disk{}, base, cp.Note, false); err != nil {
			b.Fatal(err)
		}
		baseNs += time.Since(t1).Nanoseconds()
	}
	b.StopTimer()
	per, bl := float64(opNs)/float64(b.N), float64(baseNs)/float64(b.N)
	b.ReportMetric(per/1e3, "µs/cosign3")
	b.ReportMetric(bl/1e3, "baseline-µs/op")
	b.ReportMetric(per/bl, "x-baseline")
}
