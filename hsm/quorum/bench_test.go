package quorum

import (
	"crypto/rand"
	"testing"
)

// BenchmarkPresentCard measures checking one crypto officer's card against
// a 3-of-7 roster's Feldman commitments (what each card insertion costs),
// and as the baseline in the same run one fixed-base scalar multiplication
// in the group, the unit that verification is made of.
func BenchmarkPresentCard(b *testing.B) {
	r, cards, err := Deal(rand.Reader, 3, holders(7))
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewCollector(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("present", func(b *testing.B) {
		for b.Loop() {
			if err := c.Present(cards[4]); err != nil {
				b.Fatal(err)
			}
			c.Drop(cards[4].ID)
		}
	})
	b.Run("baseline-MulGen", func(b *testing.B) {
		s := grp.RandomScalar(rand.Reader)
		for b.Loop() {
			grp.NewElement().MulGen(s)
		}
	})
}
