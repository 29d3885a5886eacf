package ceremony

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// TestCosignRules: the log records the quorum's cosignatures only right
// after the quorum, for the checkpoint that records it, by officers whose
// cards were accepted; the close names every officer of the ceremony as
// present or absent.
func TestCosignRules(t *testing.T) {
	s := demoScript(t)
	st, err := Replay(s, happyPath(s, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cosigned) != 2 || st.Cosigned[0].Point != "quorum" || st.Cosigned[1].Point != "close" ||
		!slices.Equal(st.Present, []string{"CO1", "CO2", "CO3"}) || st.FinalSize != uint64(len(happyPath(s, nil))) {
		t.Fatalf("cosignings %+v, present %v, final size %d", st.Cosigned, st.Present, st.FinalSize)
	}
	// change rewrites the happy path's entries of one kind.
	change := func(kind string, f func(e *event.Entry, b *entries)) []*event.Entry {
		list := happyPath(s, nil)
		b := &entries{}
		for _, e := range list {
			if e.Kind() == kind {
				f(e, b)
				continue
			}
			e.Seq = uint64(len(b.list))
			b.list = append(b.list, e)
		}
		return b.list
	}
	set := func(e *event.Entry, fields map[string]any) *event.Entry {
		b := &entries{}
		b.add(e.Kind(), fields)
		n := b.list[0]
		n.Time = e.Time
		return n
	}
	for name, c := range map[string]struct {
		list []*event.Entry
		want string
	}{
		"cosigned before the quorum": {change(event.KindQuorumReached, func(e *event.Entry, b *entries) {
			b.add(event.KindCosigned, map[string]any{"step": "3.1", "size": len(b.list), "point": "quorum", "cosigners": []string{"CO1"}})
		}), "cosignatures logged with no quorum reached"},
		"another checkpoint": {change(event.KindCosigned, func(e *event.Entry, b *entries) {
			b.add(event.KindCosigned, map[string]any{"step": "3.1", "size": 3, "point": "quorum", "cosigners": []string{"CO1"}})
		}), "cosigned checkpoint 3, but the one that records the quorum is"},
		"an officer not in the quorum": {change(event.KindCosigned, func(e *event.Entry, b *entries) {
			b.add(event.KindCosigned, map[string]any{"step": "3.1", "size": len(b.list), "point": "quorum", "cosigners": []string{"CO1", "CO4"}})
		}), "CO4 cosigned, but the quorum's accepted cards are [CO1 CO2 CO3]"},
		"twice": {change(event.KindCosigned, func(e *event.Entry, b *entries) {
			size := len(b.list)
			b.add(event.KindCosigned, map[string]any{"step": "3.1", "size": size, "point": "quorum", "cosigners": []string{"CO1"}})
			b.add(event.KindCosigned, map[string]any{"step": "3.1", "size": size, "point": "quorum", "cosigners": []string{"CO2"}})
		}), "the quorum's checkpoint is already cosigned"},
		"an officer left out at the close": {change(event.KindClose, func(e *event.Entry, b *entries) {
			b.list = append(b.list, set(e, map[string]any{"cosigners": []string{"CO1", "CO2"}, "absent": []string{}}))
			b.list[len(b.list)-1].Seq = uint64(len(b.list) - 1)
		}), "every officer of the ceremony ([CO1 CO2 CO3]) is one or the other"},
		"a stranger at the close": {change(event.KindClose, func(e *event.Entry, b *entries) {
			b.list = append(b.list, set(e, map[string]any{"cosigners": []string{"CO1", "CO2", "CO3"}, "absent": []string{"CO5"}}))
			b.list[len(b.list)-1].Seq = uint64(len(b.list) - 1)
		}), "names CO5 to cosign, who is not an officer of this ceremony"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Replay(s, c.list); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want %q", err, c.want)
			}
		})
	}
	// An officer recorded absent is named so.
	list := change(event.KindClose, func(e *event.Entry, b *entries) {
		b.list = append(b.list, set(e, map[string]any{"cosigners": []string{"CO1", "CO3"}, "absent": []string{"CO2"}}))
		b.list[len(b.list)-1].Seq = uint64(len(b.list) - 1)
	})
	if st, err := Replay(s, list); err != nil || !slices.Equal(st.Absent, []string{"CO2"}) || !slices.Equal(st.Cosigned[1].Cosigners, []string{"CO1", "CO3"}) {
		t.Fatalf("an absent officer: %v %+v", err, st.Cosigned)
	}
}
