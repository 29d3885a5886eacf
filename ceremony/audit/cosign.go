package audit

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// CheckCosignatures is the id of the verifier's check of the officers'
// cosignatures.
const CheckCosignatures = "cosignatures"

// Reasons an officer's cosignature is rejected, by name.
const (
	CosigForged    = "forged"           // does not verify with the officer's key
	CosigDuplicate = "duplicate"        // a second line by the same officer's key
	CosigUnknown   = "unknown-key"      // an officer-style line whose key is not on the roster
	CosigWrongCP   = "wrong-checkpoint" // a valid cosignature of another checkpoint
)

// CosignedCheckpoint is what one archived checkpoint's officer cosignatures
// show.
type CosignedCheckpoint struct {
	Size  uint64
	Valid []string // card ids whose cosignature verifies, in roster order
	Times map[string]time.Time
	// Rejected are the lines refused, each naming the officer or key and
	// the reason (one of the Cosig* reasons).
	Rejected []CosignRejection
}

// CosignRejection is one refused cosignature line.
type CosignRejection struct {
	Who    string // the card id, or the key name and hash when unknown
	Reason string
	Detail string
}

func (r CosignRejection) String() string {
	return fmt.Sprintf("%s cosignature by %s: %s", r.Reason, r.Who, r.Detail)
}

// ReadCosignatures checks every officer's cosignature line of a signed
// checkpoint note against the roster's keys. Lines by other keys (the log's,
// witnesses') are left alone, unless their name is an officer's key name
// (officer/…) that the roster does not list. others are the bodies of the
// log's other checkpoints by size, to name a cosignature copied from one of
// them.
func ReadCosignatures(roster *quorum.Roster, cp []byte, size uint64, others map[uint64][]byte) CosignedCheckpoint {
	out := CosignedCheckpoint{Size: size, Times: map[string]time.Time{}}
	body, lines := transparency.SplitNote(cp)
	if body == nil {
		return out
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	if roster != nil {
		for _, c := range roster.Cards {
			if v, err := c.CosignVerifier(); err == nil {
				names[v.Name()] = true
			}
		}
	}
	for _, l := range lines {
		name := l.Name
		if !strings.HasPrefix(name, quorum.CosignKeyPrefix) && !names[name] {
			continue
		}
		if l.Malformed {
			out.Rejected = append(out.Rejected, CosignRejection{name, CosigForged, "the line is not base64 of a key hash and a signature"})
			continue
		}
		hash, sig, b64 := l.Hash, l.Sig, l.Base64
		card, v, known := roster.CardByCosignKey(name, hash)
		if !known {
			out.Rejected = append(out.Rejected, CosignRejection{fmt.Sprintf("%s+%08x", name, hash), CosigUnknown, "no card on the roster has this key"})
			continue
		}
		if seen[card.ID] {
			out.Rejected = append(out.Rejected, CosignRejection{card.ID, CosigDuplicate, "a second line by the same key"})
			continue
		}
		seen[card.ID] = true
		if v.Verify(body, sig) {
			out.Valid = append(out.Valid, card.ID)
			if t, err := fnote.CoSigV1Timestamp(note.Signature{Base64: b64}); err == nil {
				out.Times[card.ID] = t
			}
			continue
		}
		sizes := make([]uint64, 0, len(others))
		for s := range others {
			sizes = append(sizes, s)
		}
		slices.Sort(sizes)
		other := uint64(0)
		for _, s := range sizes {
			if s != size && v.Verify(others[s], sig) {
				other = s
				break
			}
		}
		if other != 0 {
			out.Rejected = append(out.Rejected, CosignRejection{card.ID, CosigWrongCP, fmt.Sprintf("it cosigns checkpoint %d, not %d", other, size)})
			continue
		}
		out.Rejected = append(out.Rejected, CosignRejection{card.ID, CosigForged, fmt.Sprintf("it does not verify with %s's key over checkpoint %d", card.ID, size)})
	}
	order := map[string]int{}
	if roster != nil {
		for i, c := range roster.Cards {
			order[c.ID] = i
		}
	}
	sort.SliceStable(out.Valid, func(a, b int) bool { return order[out.Valid[a]] < order[out.Valid[b]] })
	return out
}

// NoteBody is a signed note's text: everything before its signatures.
func NoteBody(cp []byte) []byte {
	body, _ := transparency.SplitNote(cp)
	return body
}

// CosignSummary words a cosigned checkpoint the same way in verify, watch
// and on the web page: "checkpoint 21 (quorum): cosigned by 3 of 3 present
// officers (CO1, CO2, CO3)"; at the close, the absent are named.
func CosignSummary(c ceremony.Cosigning, valid, absent []string) string {
	what := fmt.Sprintf("checkpoint %d (quorum)", c.Size)
	if c.Point == "close" {
		what = fmt.Sprintf("final checkpoint %d", c.Size)
	}
	s := fmt.Sprintf("%s: cosigned by %d of %d present officers (%s)", what, len(valid), len(c.Cosigners), strings.Join(valid, ", "))
	if len(absent) > 0 {
		s += "; absent: " + strings.Join(absent, ", ")
	}
	return s
}

// CosignFinding is the verifier's word on one cosigned checkpoint.
type CosignFinding struct {
	OK     bool
	Warn   bool
	Detail string
}

// VerifyCosignatures checks the officers' cosignatures of a replayed
// ceremony: every officer line of every archived checkpoint (checkpoints
// maps size to the stored note), every cosignature an entry records, and
// the final checkpoint's, which must carry at least require of them. A
// cosignature dated before the last entry its checkpoint covers (entries
// are the log's, in order) is a warning: the laptop's clock was wrong, or
// the line was made elsewhere.
func VerifyCosignatures(st ceremony.State, entries []*event.Entry, checkpoints map[uint64][]byte, require int) []CosignFinding {
	var out []CosignFinding
	add := func(ok, warn bool, format string, args ...any) {
		out = append(out, CosignFinding{OK: ok, Warn: warn, Detail: fmt.Sprintf(format, args...)})
	}
	roster := st.Script.Quorum
	bodies := map[uint64][]byte{}
	for size, cp := range checkpoints {
		bodies[size] = NoteBody(cp)
	}
	read := map[uint64]CosignedCheckpoint{}
	sizes := make([]uint64, 0, len(checkpoints))
	for size := range checkpoints {
		sizes = append(sizes, size)
	}
	slices.Sort(sizes)
	for _, size := range sizes {
		cc := ReadCosignatures(roster, checkpoints[size], size, bodies)
		read[size] = cc
		for _, r := range cc.Rejected {
			add(false, false, "checkpoint %d: %s", size, r)
		}
		if size == 0 || size > uint64(len(entries)) {
			continue
		}
		// Cosignature times are whole seconds.
		covered := entries[size-1].Time.Truncate(time.Second)
		for _, id := range cc.Valid {
			if t := cc.Times[id]; t.Before(covered) {
				add(true, true, "checkpoint %d: %s's cosignature is dated %s, before entry %d it covers (%s)", size, id,
					t.UTC().Format(time.RFC3339), size-1, covered.UTC().Format(time.RFC3339))
			}
		}
	}
	recorded := map[uint64]bool{}
	for _, c := range st.Cosigned {
		recorded[c.Size] = true
		cc := read[c.Size]
		var missing []string
		for _, id := range c.Cosigners {
			if !slices.Contains(cc.Valid, id) {
				missing = append(missing, id)
			}
		}
		what := fmt.Sprintf("checkpoint %d (quorum)", c.Size)
		if c.Point == "close" {
			what = fmt.Sprintf("final checkpoint %d", c.Size)
		}
		switch {
		case c.Point == "quorum" && len(missing) > 0:
			add(false, false, "%s: the log records cosignatures by %s, but checkpoints/%d holds none that verifies for %s", what, strings.Join(c.Cosigners, ", "), c.Size, strings.Join(missing, ", "))
		case c.Point == "close":
			// Reported with the final checkpoint below.
		default:
			add(true, false, "%s", CosignSummary(c, cc.Valid, nil))
		}
	}
	for _, size := range sizes {
		if cc := read[size]; !recorded[size] && len(cc.Valid) > 0 && size != st.FinalSize {
			add(true, true, "checkpoint %d: cosigned by %s, which no entry records (a cosigning interrupted before it was logged)", size, strings.Join(cc.Valid, ", "))
		}
	}
	if !st.Closed {
		if require > 0 {
			add(false, false, "the ceremony is not closed: no final checkpoint, so none carries the %d officers' cosignatures required", require)
		}
		return out
	}
	if len(st.Present) == 0 && len(st.Absent) == 0 && !roster.HasCosignKeys() {
		if require > 0 {
			add(false, false, "final checkpoint %d: the roster gives the officers no cosigning keys, and %d cosignatures are required", st.FinalSize, require)
		}
		return out
	}
	cc := read[st.FinalSize]
	var missing []string
	for _, id := range st.Present {
		if !slices.Contains(cc.Valid, id) {
			missing = append(missing, id)
		}
	}
	msg := CosignSummary(ceremony.Cosigning{Size: st.FinalSize, Point: "close", Cosigners: st.Present}, cc.Valid, st.Absent)
	if len(missing) > 0 {
		msg += "; present but not cosigned: " + strings.Join(missing, ", ")
	}
	switch {
	case require > 0 && len(cc.Valid) < require:
		add(false, false, "%s; %d required", msg, require)
	case len(missing) > 0:
		add(true, true, "%s", msg)
	default:
		add(true, false, "%s", msg)
	}
	return out
}
