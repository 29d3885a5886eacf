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
	// A valid cosignature that does not count: its officer is not one the
	// log names for that checkpoint (absent at the close, not in the
	// quorum), or their card is revoked on the roster.
	CosigNotNamed = "not-named"
	CosigRevoked  = "revoked"
	// A valid cosignature dated after the verification time, or too long
	// after what it cosigns (see CosignSkew and CosignCloseWindow).
	CosigLate = "dated-later"
)

// Bounds on a cosignature's date. The officers cosign on the ceremony
// laptop, whose clock dates the entries too: a quorum's cosignatures come
// before the entry that records them, and the final checkpoint's just
// after the close, within the hour at most; a console stopped before every
// present officer cosigned is started again the same day. CosignSkew is
// the tolerance for clocks that differ by seconds or minutes.
const (
	CosignSkew        = 5 * time.Minute
	CosignCloseWindow = 24 * time.Hour
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

// CosignPolicy is what the officers' cosignatures are held to.
type CosignPolicy struct {
	// Require, when above 0, is how many officers' cosignatures the final
	// checkpoint must carry that count: valid, by an officer the close names
	// present, whose card is not revoked.
	Require int
	// Roster is the roster pinned from outside the log; nil means the
	// log's own (the script's), which whoever holds the log key chose.
	Roster *quorum.Roster
	// Published is the published checkpoint's note: its officer lines
	// count for the final checkpoint of its size, with the archived copy's.
	Published []byte
	// Now is the verification time; a cosignature dated after it (beyond
	// CosignSkew) fails. Zero means time.Now().
	Now time.Time
}

// CosignOutcome is what the cosignatures establish.
type CosignOutcome struct {
	// Final are the officers whose cosignature of the final checkpoint
	// counts, in roster order; nil when the ceremony is not closed.
	Final []string
}

// Counted splits a checkpoint's valid cosignatures into those that count
// for a cosigning the log records (named are the officers it names) and
// those refused by name: an officer not named, a revoked card.
func Counted(roster *quorum.Roster, cc CosignedCheckpoint, named []string) (counted []string, refused []CosignRejection) {
	for _, id := range cc.Valid {
		info, _ := roster.Card(id)
		switch {
		case info.Revoked:
			refused = append(refused, CosignRejection{id, CosigRevoked, fmt.Sprintf("%s's card is revoked on the roster; its cosignature counts for nothing", id)})
		case !slices.Contains(named, id):
			refused = append(refused, CosignRejection{id, CosigNotNamed, fmt.Sprintf("the log does not name %s among the officers cosigning checkpoint %d", id, cc.Size)})
		default:
			counted = append(counted, id)
		}
	}
	return counted, refused
}

// merge adds the valid lines of another copy of the same checkpoint.
func (cc *CosignedCheckpoint) merge(o CosignedCheckpoint, roster *quorum.Roster) {
	for _, id := range o.Valid {
		if !slices.Contains(cc.Valid, id) {
			cc.Valid = append(cc.Valid, id)
			cc.Times[id] = o.Times[id]
		}
	}
	order := map[string]int{}
	if roster != nil {
		for i, c := range roster.Cards {
			order[c.ID] = i
		}
	}
	sort.SliceStable(cc.Valid, func(a, b int) bool { return order[cc.Valid[a]] < order[cc.Valid[b]] })
}

// VerifyCosignatures checks the officers' cosignatures of a replayed
// ceremony: every officer line of every archived checkpoint (checkpoints
// maps size to the stored note), every cosignature an entry records, and
// the final checkpoint's, which must carry at least p.Require that count.
// A cosignature counts only for an officer the log names for its
// checkpoint (the quorum's officers, the close's present ones) whose card
// is not revoked; a valid line by anyone else fails by name, and so does
// one dated after the verification time or too long after what it
// cosigns. A cosignature dated before the last entry its checkpoint covers
// (entries are the log's, in order) is a warning: the laptop's clock was
// wrong, or the line was made elsewhere.
func VerifyCosignatures(st ceremony.State, entries []*event.Entry, checkpoints map[uint64][]byte, p CosignPolicy) ([]CosignFinding, CosignOutcome) {
	var out []CosignFinding
	var outcome CosignOutcome
	add := func(ok, warn bool, format string, args ...any) {
		out = append(out, CosignFinding{OK: ok, Warn: warn, Detail: fmt.Sprintf(format, args...)})
	}
	roster := st.Script.Quorum
	if p.Roster != nil {
		roster = p.Roster
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	require := p.Require
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
		if p.Published != nil && size == st.FinalSize && st.Closed {
			if _, psize, _, err := transparency.ParseCheckpointBody(string(NoteBody(p.Published))); err == nil && psize == size {
				cc.merge(ReadCosignatures(roster, p.Published, size, bodies), roster)
			}
		}
		for _, r := range cc.Rejected {
			add(false, false, "checkpoint %d: %s", size, r)
		}
		// A cosignature dated after the verification time fails, and
		// counts for nothing.
		valid := cc.Valid[:0:0]
		for _, id := range cc.Valid {
			if t := cc.Times[id]; t.After(now.Add(CosignSkew)) {
				add(false, false, "checkpoint %d: %s", size, CosignRejection{id, CosigLate, fmt.Sprintf("it is dated %s, after the verification time %s",
					t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))})
				continue
			}
			valid = append(valid, id)
		}
		cc.Valid = valid
		read[size] = cc
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
	// late fails each cosignature dated after the bound for its
	// checkpoint, and returns the others.
	late := func(cc CosignedCheckpoint, ids []string, bound time.Time, what string) []string {
		var keep []string
		for _, id := range ids {
			if t := cc.Times[id]; t.After(bound) {
				add(false, false, "checkpoint %d: %s", cc.Size, CosignRejection{id, CosigLate, fmt.Sprintf("it is dated %s, %s (%s)",
					t.UTC().Format(time.RFC3339), what, bound.UTC().Format(time.RFC3339))})
				continue
			}
			keep = append(keep, id)
		}
		return keep
	}
	recorded := map[uint64]bool{}
	for _, c := range st.Cosigned {
		recorded[c.Size] = true
		cc := read[c.Size]
		named := c.Cosigners
		if c.Point == "close" {
			named = st.Present
		}
		counted, refused := Counted(roster, cc, named)
		for _, r := range refused {
			add(false, false, "checkpoint %d: %s", c.Size, r)
		}
		if c.Point == "quorum" {
			counted = late(cc, counted, c.Time.Truncate(time.Second).Add(CosignSkew), "after the entry that records it")
		}
		var missing []string
		for _, id := range c.Cosigners {
			if !slices.Contains(counted, id) {
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
			add(true, false, "%s", CosignSummary(c, counted, nil))
		}
	}
	for _, size := range sizes {
		cc := read[size]
		if recorded[size] || size == st.FinalSize || len(cc.Valid) == 0 {
			continue
		}
		var ok []string
		for _, id := range cc.Valid {
			if info, _ := roster.Card(id); info.Revoked {
				add(false, false, "checkpoint %d: %s", size, CosignRejection{id, CosigRevoked, fmt.Sprintf("%s's card is revoked on the roster; its cosignature counts for nothing", id)})
				continue
			}
			ok = append(ok, id)
		}
		if len(ok) > 0 {
			add(true, true, "checkpoint %d: cosigned by %s, which no entry records (a cosigning interrupted before it was logged)", size, strings.Join(ok, ", "))
		}
	}
	if !st.Closed {
		if require > 0 {
			add(false, false, "the ceremony is not closed: no final checkpoint, so none carries the %d officers' cosignatures required", require)
		}
		return out, outcome
	}
	outcome.Final = []string{}
	if len(st.Present) == 0 && len(st.Absent) == 0 && !roster.HasCosignKeys() {
		if require > 0 {
			add(false, false, "final checkpoint %d: the roster gives the officers no cosigning keys, and %d cosignatures are required", st.FinalSize, require)
		}
		return out, outcome
	}
	cc := read[st.FinalSize]
	counted, refused := Counted(roster, cc, st.Present)
	if !recorded[st.FinalSize] {
		for _, r := range refused {
			add(false, false, "checkpoint %d: %s", st.FinalSize, r)
		}
	}
	var closeTime time.Time
	for _, e := range entries {
		if e.Kind() == event.KindClose {
			closeTime = e.Time.Truncate(time.Second)
		}
	}
	if !closeTime.IsZero() {
		counted = late(cc, counted, closeTime.Add(CosignCloseWindow), "more than 24h after the close")
	}
	outcome.Final = counted
	var missing []string
	for _, id := range st.Present {
		if !slices.Contains(counted, id) {
			missing = append(missing, id)
		}
	}
	msg := CosignSummary(ceremony.Cosigning{Size: st.FinalSize, Point: "close", Cosigners: st.Present}, counted, st.Absent)
	if len(missing) > 0 {
		msg += "; present but not cosigned: " + strings.Join(missing, ", ")
	}
	switch {
	case require > 0 && len(counted) < require:
		add(false, false, "%s; %d required", msg, require)
	case len(missing) > 0:
		add(true, true, "%s", msg)
	default:
		add(true, false, "%s", msg)
	}
	return out, outcome
}
