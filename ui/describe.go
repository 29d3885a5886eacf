// Package ui is what people see: the operator console (a Bubble Tea program
// for the projected screen), the line-by-line mode for screen readers and
// transcripts, and the words both use to describe what the log records.
package ui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/transparency"
)

// Describe says in a line what an entry records, for people.
func Describe(e *transparency.Entry, script *ceremony.Script) string {
	step := e.Field("step")
	switch e.Kind {
	case ceremony.KindOpen:
		return "log opened: " + e.Field("ceremony")
	case ceremony.KindResumed:
		return "ceremony resumed at step " + e.Field("at_step")
	case ceremony.KindStepDone:
		return "step " + step + " done"
	case ceremony.KindStepConfirmed:
		return fmt.Sprintf("step %s confirmed: %q typed", step, e.Field("typed"))
	case ceremony.KindZeroized:
		var keys []string
		json.Unmarshal(e.Fields["destroyed"], &keys)
		return fmt.Sprintf("HSM %s ZEROIZED: %d keys destroyed (%s), none left", e.Field("token"), len(keys), strings.Join(keys, ", "))
	case ceremony.KindStepWitnessed:
		return fmt.Sprintf("%s confirms step %s", e.Field("witness"), step)
	case ceremony.KindSignedIn:
		var names map[string]string
		json.Unmarshal(e.Fields["participants"], &names)
		var absent []string
		json.Unmarshal(e.Fields["absent"], &absent)
		d := fmt.Sprintf("%d participants signed in", len(names))
		if len(absent) > 0 {
			d += "; absent: " + strings.Join(absent, ", ")
		}
		return d
	case ceremony.KindStepSkipped:
		return fmt.Sprintf("step %s SKIPPED, confirmed by %s: %s", step, e.Field("witness"), e.Field("reason"))
	case ceremony.KindChosen:
		var ids []string
		json.Unmarshal(e.Fields["chosen"], &ids)
		if len(ids) == 0 {
			return "contingencies chosen: none applies"
		}
		return "contingencies chosen: " + strings.Join(ids, ", ")
	case ceremony.KindNotApplicable:
		return "step " + step + " does not apply with the contingencies chosen"
	case ceremony.KindStepRepeated:
		return fmt.Sprintf("step %s REPEATED, confirmed by %s: %s", e.Field("repeat"), e.Field("witness"), e.Field("reason"))
	case ceremony.KindAborted:
		return fmt.Sprintf("ceremony ABORTED at step %s: %s", step, e.Field("reason"))
	case ceremony.KindException:
		return "EXCEPTION at step " + step + ": " + e.Field("text")
	case ceremony.KindCardPresented:
		return fmt.Sprintf("card %s (%s) accepted", e.Field("card"), e.Field("holder"))
	case ceremony.KindCardWitnessed:
		return fmt.Sprintf("card %s (%s) accepted by the HSM, serial %s, confirmed by %s", e.Field("card"), e.Field("holder"), e.Field("serial"), e.Field("witness"))
	case ceremony.KindCardRejected:
		return fmt.Sprintf("card %s REJECTED: %s", e.Field("card"), e.Field("reason"))
	case ceremony.KindQuorumReached:
		var cards []string
		json.Unmarshal(e.Fields["cards"], &cards)
		return "quorum reached: " + strings.Join(cards, ", ")
	case ceremony.KindQuorumExpired:
		var cards []string
		json.Unmarshal(e.Fields["cards"], &cards)
		return "partial quorum EXPIRED after " + e.Field("timeout") + ": " + strings.Join(cards, ", ") + " present again"
	case ceremony.KindHSMLogin:
		return "HSM logged in (token " + e.Field("token") + ")"
	case ceremony.KindHSMLogout:
		return "HSM logged out (token " + e.Field("token") + ")"
	case ceremony.KindKSRLoaded:
		return fmt.Sprintf("KSR loaded: %s, %s bundles", names(e), raw(e, "bundles"))
	case ceremony.KindKSRChecked:
		var rs []ceremony.CheckResult
		json.Unmarshal(e.Fields["results"], &rs)
		fails, warns := 0, 0
		for _, r := range rs {
			switch r.Status {
			case dnssec.Fail:
				fails++
			case dnssec.Warn:
				warns++
			}
		}
		if fails > 0 {
			return fmt.Sprintf("KSR checked: %d of %d checks FAILED", fails, len(rs))
		}
		if warns > 0 {
			return fmt.Sprintf("KSR checked: %d checks passed, %d of them with a warning", len(rs), warns)
		}
		return fmt.Sprintf("KSR checked: %d checks passed", len(rs))
	case ceremony.KindBundleSigned:
		return fmt.Sprintf("bundle %s signed (key %s, %s to %s)", raw(e, "bundle"), raw(e, "key_tag"), e.Field("inception"), e.Field("expiration"))
	case ceremony.KindKeyGenerated:
		return fmt.Sprintf("KSK %s generated: algorithm %s, key tag %s (%s with REVOKE), DS %s", e.Field("label"), raw(e, "algorithm"), raw(e, "key_tag"), raw(e, "key_tag_revoked"), e.Field("ds_sha256"))
	case ceremony.KindCardsReshared:
		var cards, revoked []string
		json.Unmarshal(e.Fields["cards"], &cards)
		json.Unmarshal(e.Fields["revoked"], &revoked)
		if e.Field("secret") == ceremony.SecretNew {
			return fmt.Sprintf("new card set %s (%s of %d) with a new secret; the HSM's PIN changed; revoked %s", strings.Join(cards, ", "), raw(e, "threshold"), len(cards), strings.Join(revoked, ", "))
		}
		return fmt.Sprintf("new cards %s (%s of %d) dealt from the same secret; revoked %s", strings.Join(cards, ", "), raw(e, "threshold"), len(cards), strings.Join(revoked, ", "))
	case ceremony.KindSKRWritten:
		return "SKR written: " + names(e)
	case ceremony.KindCosigned:
		var who []string
		json.Unmarshal(e.Fields["cosigners"], &who)
		return fmt.Sprintf("checkpoint %s cosigned by the officers %s", raw(e, "size"), strings.Join(who, ", "))
	case ceremony.KindClose:
		var present, absent []string
		json.Unmarshal(e.Fields["cosigners"], &present)
		json.Unmarshal(e.Fields["absent"], &absent)
		if len(present)+len(absent) == 0 {
			return "ceremony closed"
		}
		s := "ceremony closed; the final checkpoint is cosigned by " + listOrNone(present)
		if len(absent) > 0 {
			s += "; absent: " + strings.Join(absent, ", ")
		}
		return s
	}
	return e.Kind
}

func names(e *transparency.Entry) string {
	var n []string
	for _, a := range e.Artefacts {
		n = append(n, a.Name)
	}
	return strings.Join(n, ", ")
}

func raw(e *transparency.Entry, field string) string { return string(e.Fields[field]) }

// GroupHex writes hex in groups of four, the way people read it aloud.
func GroupHex(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i:min(i+4, len(h))])
	}
	return b.String()
}

// RootWords is the first words of a checkpoint's root in the PGP word list:
// enough to compare aloud with what viewers see.
func RootWords(cp *transparency.Checkpoint, n int) string {
	if cp == nil {
		return "—"
	}
	return dnssec.PGPWords(cp.Root[:n])
}
