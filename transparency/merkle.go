package transparency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a SHA-256 Merkle tree hash (RFC 6962).
type Hash = tlog.Hash

// EmptyRoot is the root hash of the empty tree: SHA-256 of no bytes.
var emptyRoot = Hash(sha256.Sum256(nil))

// EmptyRoot returns the RFC 6962 root of a tree with no leaves.
func EmptyRoot() Hash { return emptyRoot }

// LeafHash returns the RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry).
func LeafHash(entry []byte) Hash { return tlog.RecordHash(entry) }

// ErrProof reports a Merkle proof that does not verify. Callers should treat the
// log (or whoever supplied the proof) as misbehaving and keep the evidence.
var ErrProof = errors.New("merkle proof does not verify")

// VerifyInclusion checks that leafHash is the leaf at index in the tree of the
// given size and root, using an RFC 9162 inclusion proof.
func VerifyInclusion(index, size uint64, leafHash Hash, proof []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: index %d is outside a tree of size %d", ErrProof, index, size)
	}
	if size > 1<<62 {
		return fmt.Errorf("%w: tree size %d too large", ErrProof, size)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), int64(size), root, int64(index), leafHash); err != nil {
		return fmt.Errorf("%w: inclusion of index %d in tree of size %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size1 with root1 is a prefix of the
// tree of size2 with root2, using an RFC 9162 consistency proof.
//
// A proof from the empty tree proves nothing, so size1 == 0 is refused: callers
// that hold an empty tree compare its root with EmptyRoot instead. (This is the
// behaviour of transparency-dev/merkle after v0.0.2 and of its test vectors.)
func VerifyConsistency(size1, size2 uint64, proof []Hash, root1, root2 Hash) error {
	switch {
	case size1 == 0:
		return fmt.Errorf("%w: consistency from the empty tree proves nothing", ErrProof)
	case size1 > size2:
		return fmt.Errorf("%w: tree shrank from %d to %d", ErrProof, size1, size2)
	case size2 > 1<<62:
		return fmt.Errorf("%w: tree size %d too large", ErrProof, size2)
	case size1 == size2:
		if len(proof) != 0 {
			return fmt.Errorf("%w: equal sizes need an empty proof", ErrProof)
		}
		if root1 != root2 {
			return fmt.Errorf("%w: two roots for tree size %d", ErrProof, size1)
		}
		return nil
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), int64(size2), root2, int64(size1), root1); err != nil {
		return fmt.Errorf("%w: consistency %d -> %d: %v", ErrProof, size1, size2, err)
	}
	return nil
}

// tree holds every complete node hash of a Merkle tree, level by level, so that
// roots of any prefix, tiles and proofs can be read without hashing again.
// levels[0] are the leaf hashes; levels[k][i] covers leaves [i*2^k, (i+1)*2^k).
type tree struct {
	levels [][]Hash
}

func newTree(leaves []Hash) *tree {
	t := &tree{levels: [][]Hash{leaves}}
	for cur := leaves; len(cur) > 1; {
		next := make([]Hash, len(cur)/2)
		for i := range next {
			next[i] = tlog.NodeHash(cur[2*i], cur[2*i+1])
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

func (t *tree) size() uint64 { return uint64(len(t.levels[0])) }

// ReadHashes implements tlog.HashReader over the stored nodes.
func (t *tree) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, idx := range indexes {
		level, n := tlog.SplitStoredHashIndex(idx)
		if level >= len(t.levels) || n < 0 || n >= int64(len(t.levels[level])) {
			return nil, fmt.Errorf("hash at level %d index %d is not in the tree", level, n)
		}
		out[i] = t.levels[level][n]
	}
	return out, nil
}

// root returns the root hash of the first n leaves.
func (t *tree) root(n uint64) (Hash, error) {
	if n == 0 {
		return emptyRoot, nil
	}
	if n > t.size() {
		return Hash{}, fmt.Errorf("tree has %d leaves, not %d", t.size(), n)
	}
	return tlog.TreeHash(int64(n), t)
}

// consistencyProof returns the RFC 9162 proof that the first n leaves are a
// prefix of the first m leaves.
func (t *tree) consistencyProof(n, m uint64) ([]Hash, error) {
	p, err := tlog.ProveTree(int64(m), int64(n), t)
	return []Hash(p), err
}

// inclusionProof returns the RFC 9162 proof that leaf i is in the first m leaves.
func (t *tree) inclusionProof(i, m uint64) ([]Hash, error) {
	p, err := tlog.ProveRecord(int64(m), int64(i), t)
	return []Hash(p), err
}

// PrevHash is the value the following entry's prev field holds: the entry's
// RFC 6962 leaf hash, SHA-256(0x00 || entry), in hex. It is the same hash as
// the entry's place in the level-0 tile, so whoever holds an entry and the
// tile before it can check the chain link without the previous entry.
func PrevHash(entry []byte) string {
	h := LeafHash(entry)
	return hex.EncodeToString(h[:])
}

// SHA256Hex is the hex SHA-256 of data, as sha256sum prints it.
func SHA256Hex(data []byte) string {
	d := sha256.Sum256(data)
	return hex.EncodeToString(d[:])
}
