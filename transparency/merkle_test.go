package transparency

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type proofVector struct {
	LeafIdx  uint64   `json:"leafIdx"`
	TreeSize uint64   `json:"treeSize"`
	Size1    uint64   `json:"size1"`
	Size2    uint64   `json:"size2"`
	Root     string   `json:"root"`
	Root1    string   `json:"root1"`
	Root2    string   `json:"root2"`
	LeafHash string   `json:"leafHash"`
	Proof    []string `json:"proof"`
	Desc     string   `json:"desc"`
	WantErr  bool     `json:"wantErr"`
}

// hashOf decodes a vector's base64 hash. The vectors also use values that are
// not 32 bytes long: malformed leaves and roots, which the typed API cannot
// even be given (so they count as rejected), and "don't care" roots in the
// consistency vectors, which stand in (standIn) as the SHA-256 of their bytes:
// equal values stay equal and none can be a hash that a proof computes.
func hashOf(s string, standIn bool) (Hash, bool) {
	var h Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || (len(b) != len(h) && !standIn) {
		return h, false
	}
	if len(b) != len(h) {
		return Hash(sha256.Sum256(append([]byte("not a hash:"), b...))), true
	}
	copy(h[:], b)
	return h, true
}

func loadVectors(t *testing.T, dir string) map[string]proofVector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata/merkle", dir, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s: %v", dir, err)
	}
	out := map[string]proofVector{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v proofVector
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = v
	}
	return out
}

func proofOf(v proofVector, standIn bool) ([]Hash, bool) {
	var p []Hash
	for _, s := range v.Proof {
		h, ok := hashOf(s, standIn)
		if !ok {
			return nil, false
		}
		p = append(p, h)
	}
	return p, true
}

func TestInclusionVectors(t *testing.T) {
	vs := loadVectors(t, "inclusion")
	accepted, rejected := 0, 0
	for name, v := range vs {
		t.Run(name, func(t *testing.T) {
			root, okR := hashOf(v.Root, false)
			leaf, okL := hashOf(v.LeafHash, false)
			proof, okP := proofOf(v, false)
			err := errNotHash
			if okR && okL && okP {
				err = VerifyInclusion(v.LeafIdx, v.TreeSize, leaf, proof, root)
			}
			if (err != nil) != v.WantErr {
				t.Fatalf("%s: err = %v, wantErr %v", v.Desc, err, v.WantErr)
			}
		})
		if v.WantErr {
			rejected++
		} else {
			accepted++
		}
	}
	if accepted == 0 || rejected == 0 {
		t.Fatalf("vectors: %d valid, %d invalid; want both", accepted, rejected)
	}
}

func TestConsistencyVectors(t *testing.T) {
	vs := loadVectors(t, "consistency")
	for name, v := range vs {
		t.Run(name, func(t *testing.T) {
			r1, ok1 := hashOf(v.Root1, true)
			r2, ok2 := hashOf(v.Root2, true)
			proof, okP := proofOf(v, false)
			err := errNotHash
			if ok1 && ok2 && okP {
				err = VerifyConsistency(v.Size1, v.Size2, proof, r1, r2)
			}
			if (err != nil) != v.WantErr {
				t.Fatalf("%s: err = %v, wantErr %v", v.Desc, err, v.WantErr)
			}
		})
	}
}

var errNotHash = ErrProof

// TestTreeProofsRoundTrip checks the verifier's in-memory tree against the
// proof checkers for every pair of sizes of a small tree.
func TestTreeProofsRoundTrip(t *testing.T) {
	var leaves []Hash
	for i := 0; i < 70; i++ {
		leaves = append(leaves, LeafHash([]byte{byte(i)}))
	}
	tr := newTree(leaves)
	for m := uint64(1); m <= tr.size(); m++ {
		rm, err := tr.root(m)
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := tr.root(m) // the prefix tree of m leaves, built alone
		if alone, _ := newTree(leaves[:m]).root(m); alone != sub {
			t.Fatalf("root of %d leaves differs from the same leaves alone", m)
		}
		for n := uint64(1); n <= m; n++ {
			rn, _ := tr.root(n)
			p, err := tr.consistencyProof(n, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(n, m, p, rn, rm); err != nil {
				t.Fatalf("consistency %d->%d: %v", n, m, err)
			}
			if n < m {
				if err := VerifyConsistency(n, m, p, rn, LeafHash(nil)); err == nil {
					t.Fatalf("consistency %d->%d accepted a wrong root", n, m)
				}
			}
			ip, err := tr.inclusionProof(n-1, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(n-1, m, leaves[n-1], ip, rm); err != nil {
				t.Fatalf("inclusion %d in %d: %v", n-1, m, err)
			}
		}
	}
}
