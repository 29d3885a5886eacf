package dnssec

import (
	"errors"
	"fmt"
)

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

// SignSchema signs every bundle of a KSR following a schema, with the KSKs
// named by their labels, bundle after bundle through SignSlot. A key that a slot revokes is published with the
// REVOKE flag and signs with its revoked key tag.
func SignSchema(ksr *Document, schema Schema, ksks map[string]KSK, ttl uint32, progress func(done, total int)) ([]Bundle, error) {
	if ksr.Request == nil {
		return nil, fmt.Errorf("sign: the document is not a KSR")
	}
	n := len(ksr.Request.Bundles)
	var out []Bundle
	for i := 0; i < n; i++ {
		slot, err := schema.Slot(i, n)
		if err != nil {
			return nil, err
		}
		b, err := SignSlot(ksr, i, slot, ksks, ttl)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", schema.Name, err)
		}
		out = append(out, b)
		if progress != nil {
			progress(i+1, n)
		}
	}
	return out, nil
}
