package transparency

import (
	"fmt"
	"sort"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// CheckWitnesses is the verifier's check of a witness policy.
const CheckWitnesses = "witnesses"

// WitnessPolicy is a C2SP tlog-policy file: witnesses, groups of them with
// thresholds, and the quorum a checkpoint's cosignatures must satisfy.
type WitnessPolicy struct {
	group tessera.WitnessGroup
}

// ParseWitnessPolicy reads a tlog-policy file.
func ParseWitnessPolicy(b []byte) (*WitnessPolicy, error) {
	g, err := tessera.NewWitnessGroupFromPolicy(b)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	return &WitnessPolicy{group: g}, nil
}

// Check reports whether a signed checkpoint carries the cosignatures the
// quorum needs, and the witnesses whose cosignature it carries.
func (p *WitnessPolicy) Check(cp []byte) (bool, []string) {
	var signed []string
	for _, v := range p.group.Endpoints() {
		if n, err := note.Open(cp, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			signed = append(signed, v.Name())
		}
	}
	sort.Strings(signed)
	return p.group.Satisfied(cp), signed
}

// checkWitnesses checks the latest checkpoint against the policy.
func (v *verifier) checkWitnesses(cp *Checkpoint) {
	p := v.opts.Witnesses
	if p == nil {
		return
	}
	ok, signed := p.Check(cp.Note)
	if !ok {
		v.r.fail(CheckWitnesses, "checkpoint %d: cosigned by %v, which does not satisfy the witness policy's quorum; nothing proves that no other log was shown to others", cp.Size, signed)
		return
	}
	v.r.pass(CheckWitnesses, "checkpoint %d: cosigned by %v, satisfying the witness policy", cp.Size, signed)
}
