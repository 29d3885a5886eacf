package quorum

import (
	"context"
	"errors"
	"fmt"
)

// Collected is one card a collection dealt with: accepted (Err nil, Count
// the cards accepted so far), or refused and why.
type Collected struct {
	ID, Holder string
	Count      int
	Err        error
	// Revoked: the roster revokes the card; it was not read.
	Revoked bool
}

// ErrShort: fewer cards than the roster's threshold were accepted.
var ErrShort = errors.New("fewer cards than the threshold")

// CollectSecret reads the roster's cards with r, in the roster's order,
// until the threshold is reached, and recovers the secret they share. A
// card that is not there is passed over (r's Presence, or ErrNoCard); a
// revoked card is refused unread; a card that cannot be read, or whose
// share the roster refuses, is refused and passed over; a read error
// wrapping stop ends the collection. report is told of every card read or
// refused. Each share is wiped once presented.
func CollectSecret(ctx context.Context, roster *Roster, r Reader, stop error, report func(Collected)) ([]byte, error) {
	col, err := NewCollector(roster)
	if err != nil {
		return nil, err
	}
	var here map[string]bool
	if p, ok := r.(Presence); ok {
		here, _ = p.Inserted(ctx)
	}
	for _, info := range roster.Cards {
		if col.Reached() {
			break
		}
		if here != nil && !here[info.ID] {
			continue
		}
		if info.Revoked {
			report(Collected{ID: info.ID, Holder: info.Holder, Revoked: true, Err: errors.New("revoked on this roster")})
			continue
		}
		card, err := r.Read(ctx, info.ID)
		if stop != nil && errors.Is(err, stop) {
			break
		}
		if errors.Is(err, ErrNoCard) {
			continue // not here: another officer's card may be
		}
		if err != nil {
			report(Collected{ID: info.ID, Holder: info.Holder, Err: err})
			continue
		}
		err = col.Present(card)
		Wipe(card.Value)
		if err != nil {
			report(Collected{ID: info.ID, Holder: info.Holder, Err: err})
			continue
		}
		report(Collected{ID: info.ID, Holder: info.Holder, Count: len(col.Accepted())})
	}
	if !col.Reached() {
		n := len(col.Accepted())
		col.Wipe()
		return nil, fmt.Errorf("%w: %d of %d cards accepted", ErrShort, n, roster.Threshold)
	}
	return col.Recover()
}
