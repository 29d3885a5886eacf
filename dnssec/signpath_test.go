package dnssec

import "errors"

// Sign answers a KSR with one KSK through the ceremony's signing path: a
// slot for every bundle, the KSK publishing and signing each (SignSlots),
// then NewResponse.
func Sign(ksr *Document, ksk KSK, opts SignOptions) (*Document, error) {
	if ksr.Request == nil {
		return nil, errors.New("sign: the document is not a KSR (no <Request>)")
	}
	slots := make([]Slot, len(ksr.Request.Bundles))
	for i := range slots {
		slots[i] = Slot{Publish: []string{ksk.Identifier}, Sign: []string{ksk.Identifier}}
	}
	bundles, err := SignSlots(ksr, slots, map[string]KSK{ksk.Identifier: ksk}, opts.TTL, opts.Progress)
	if err != nil {
		return nil, err
	}
	return NewResponse(ksr, bundles, opts), nil
}

// SignBundle signs request bundle i with one KSK, as the ceremony's step
// does (SignSlot).
func SignBundle(ksr *Document, i int, ksk KSK, ttl uint32) (Bundle, error) {
	return SignSlot(ksr, i, Slot{Publish: []string{ksk.Identifier}, Sign: []string{ksk.Identifier}}, map[string]KSK{ksk.Identifier: ksk}, ttl)
}
