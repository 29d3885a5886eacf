package dnssec

import (
	"fmt"
	"runtime"
	"slices"
)

// Slot says which KSKs a response bundle publishes, which sign it, and which
// are published revoked (and sign it too, announcing their revocation).
type Slot struct {
	Publish []string `yaml:"publish"`
	Sign    []string `yaml:"sign"`
	Revoke  []string `yaml:"revoke"`
}

// Schema is a signing schema, as IANA's signer names them (normal,
// pre-publish, rollover, revoke, …): one slot for every bundle, or a single
// slot that applies to every bundle.
type Schema struct {
	Name  string
	Slots []Slot
}

// Slot returns the slot of bundle i of n.
func (s Schema) Slot(i, n int) (Slot, error) {
	switch len(s.Slots) {
	case 1:
		return s.Slots[0], nil
	case n:
		return s.Slots[i], nil
	}
	return Slot{}, fmt.Errorf("schema %s has %d slots for %d bundles (want 1 or %d)", s.Name, len(s.Slots), n, n)
}

// SignSlot signs request bundle i of a KSR as a slot says: its KSKs
// published (revoked ones with the flag), signed by each signing and revoked
// KSK.
func SignSlot(ksr *Document, i int, slot Slot, ksks map[string]KSK, ttl uint32) (Bundle, error) {
	publish, signers, err := slot.keys(ksks)
	if err != nil {
		return Bundle{}, fmt.Errorf("bundle #%d: %w", i+1, err)
	}
	return signBundleWith(ksr, i, publish, signers, ttl)
}

// SignSlots signs every request bundle of a KSR as its slot says. One
// goroutine talks to the HSM, bundle after bundle, while the signatures
// already made are checked, as signBundleWith checks them, on every core:
// the HSM never waits for the software. progress (if set) is told in
// bundle order as bundles are checked. The bundles are returned only when
// every one was signed and checked; otherwise the first failing bundle's
// error.
func SignSlots(ksr *Document, slots []Slot, ksks map[string]KSK, ttl uint32, progress func(done, total int)) ([]Bundle, error) {
	n := len(slots)
	type job struct {
		i    int
		b    Bundle
		made []madeSignature
	}
	type result struct {
		b   Bundle
		err error
	}
	done := make([]chan result, n)
	for i := range done {
		done[i] = make(chan result, 1)
	}
	work := make(chan job, n)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(work)
		for i, slot := range slots {
			select {
			case <-stop:
				return
			default:
			}
			publish, signers, err := slot.keys(ksks)
			if err != nil {
				done[i] <- result{err: fmt.Errorf("bundle #%d: %w", i+1, err)}
				return
			}
			b, made, err := signBundle(ksr, i, publish, signers, ttl)
			if err != nil {
				done[i] <- result{err: err}
				return
			}
			work <- job{i, b, made}
		}
	}()
	// The checkers leave a core to the goroutine that talks to the HSM.
	for w := min(max(runtime.GOMAXPROCS(0)-1, 1), n); w > 0; w-- {
		go func() {
			for j := range work {
				err := checkSigned(ksr.Domain, j.i, &j.b, j.made)
				done[j.i] <- result{j.b, err}
			}
		}()
	}
	out := make([]Bundle, 0, n)
	for i := range done {
		r := <-done[i]
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.b)
		if progress != nil {
			progress(i+1, n)
		}
	}
	return out, nil
}

// keys resolves a slot's labels: the KSKs to publish (revoked ones with the
// flag) and those that sign.
func (s Slot) keys(ksks map[string]KSK) (publish, signers []KSK, err error) {
	get := func(label string) (KSK, error) {
		k, ok := ksks[label]
		if !ok {
			return KSK{}, fmt.Errorf("KSK %q is not in the inventory", label)
		}
		return k, nil
	}
	for _, label := range s.Revoke {
		if slices.Contains(s.Publish, label) || slices.Contains(s.Sign, label) {
			return nil, nil, fmt.Errorf("KSK %q is both revoked and published", label)
		}
		k, err := get(label)
		if err != nil {
			return nil, nil, err
		}
		r := *k.DNSKEY
		r.Flags |= FlagRevoke
		k.DNSKEY = &r
		publish = append(publish, k)
		signers = append(signers, k)
	}
	for _, label := range s.Publish {
		k, err := get(label)
		if err != nil {
			return nil, nil, err
		}
		publish = append(publish, k)
	}
	for _, label := range s.Sign {
		k, err := get(label)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(s.Publish, label) {
			publish = append(publish, k) // a signing key is always published
		}
		signers = append([]KSK{k}, signers...)
	}
	return publish, signers, nil
}
