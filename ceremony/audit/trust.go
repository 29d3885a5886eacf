package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
)

// Parts of what a verdict rests on (transparency.Basis.Part).
const (
	BasisKey         = "log key"
	BasisRoster      = "roster"
	BasisCheckpoints = "seen elsewhere"
	BasisOfficers    = "officers"
	BasisWitnesses   = "witnesses"
	BasisAnchors     = "anchors"
)

// RosterDiff lists, by card, how the roster a log holds differs from the
// pinned one: the threshold, the mode, the commitments, a card missing or
// added, a card's holder, share, serial, cosigning key or revocation. Nil
// when they are the same.
func RosterDiff(pinned, logged *quorum.Roster) []string {
	if logged == nil {
		return []string{"the log's script has no roster"}
	}
	var out []string
	if pinned.Threshold != logged.Threshold {
		out = append(out, fmt.Sprintf("threshold %d, pinned %d", logged.Threshold, pinned.Threshold))
	}
	if pinned.Mode != logged.Mode {
		out = append(out, fmt.Sprintf("mode %q, pinned %q", logged.Mode, pinned.Mode))
	}
	if pinned.Group != logged.Group || !slices.Equal(pinned.Commitments, logged.Commitments) {
		out = append(out, "its share commitments differ (another secret)")
	}
	if pinned.Timeout != logged.Timeout {
		out = append(out, fmt.Sprintf("timeout %q, pinned %q", logged.Timeout, pinned.Timeout))
	}
	for _, p := range pinned.Cards {
		l, ok := logged.Card(p.ID)
		if !ok {
			out = append(out, p.ID+" is missing")
			continue
		}
		var what []string
		if l.Key != p.Key {
			what = append(what, "cosigning key")
		}
		if l.Holder != p.Holder {
			what = append(what, "holder")
		}
		if l.Share != p.Share {
			what = append(what, "share")
		}
		if l.Serial != p.Serial {
			what = append(what, "serial")
		}
		if l.Revoked != p.Revoked {
			what = append(what, "revocation")
		}
		if len(what) > 0 {
			out = append(out, fmt.Sprintf("%s's %s differs", p.ID, strings.Join(what, " and ")))
		}
	}
	for _, l := range logged.Cards {
		if _, ok := pinned.Card(l.ID); !ok {
			out = append(out, l.ID+" is not on the pinned roster")
		}
	}
	if len(out) == 0 && len(pinned.Cards) != len(logged.Cards) {
		out = append(out, "a card is listed twice")
	}
	return out
}

// restsOn says what the verdict rests on, part by part. A part is outside
// evidence only when its checks passed and the log key alone could not
// have produced it.
func restsOn(rep *transparency.Report, opts Options, outcome *CosignOutcome) {
	ok := rep.OK
	key := transparency.Basis{Part: BasisKey, Detail: "read from the log's own log.vkey, not pinned: compare its fingerprint with the one announced at the ceremony, or give --key"}
	if opts.VKey != "" {
		key.Detail = "pinned (--key): the checkpoints are signed by the key given"
	}
	rep.SetBasis(key)
	if !opts.Raw {
		b := transparency.Basis{Part: BasisRoster, Detail: "read from the log: whoever holds the log key chose it (pin it with --roster)"}
		if opts.Roster != nil {
			b.Detail = fmt.Sprintf("pinned (%s)", opts.RosterName)
		}
		rep.SetBasis(b)
	}
	seen := transparency.Basis{Part: BasisCheckpoints, Detail: "no checkpoint seen elsewhere was given (--checkpoint, --checkpoints-from)"}
	if n := len(opts.Checkpoints) + len(opts.Filmed); n > 0 {
		filmed := ""
		if len(opts.Filmed) > 0 {
			filmed = fmt.Sprintf(" (%d read from a recording of the stream)", len(opts.Filmed))
		}
		seen.Detail = fmt.Sprintf("%s given%s, the log consistent with each", words.Count(n, "checkpoint", "checkpoints"), filmed)
		seen.Outside = ok
	}
	rep.SetBasis(seen)
	if !opts.Raw {
		b := transparency.Basis{Part: BasisOfficers, Detail: "no final checkpoint (the ceremony is not closed)"}
		if outcome == nil {
			b.Detail = "not checked: the log failed a check before its ceremony was replayed"
		}
		if outcome != nil && outcome.Final != nil {
			switch n := len(outcome.Final); {
			case n == 0:
				b.Detail = "no officer's cosignature counts on the final checkpoint"
			case opts.Roster != nil:
				b.Detail = fmt.Sprintf("the final checkpoint cosigned by %s present, unrevoked, with keys from the pinned roster (%s)", words.Count(n, "officer", "officers"), strings.Join(outcome.Final, ", "))
				b.Outside = ok
			default:
				b.Detail = fmt.Sprintf("the final checkpoint cosigned by %s (%s), with keys from the log's own roster, which the log key could have replaced", words.Count(n, "officer", "officers"), strings.Join(outcome.Final, ", "))
			}
		}
		rep.SetBasis(b)
	}
	w := transparency.Basis{Part: BasisWitnesses, Detail: "no witness policy given (--witness-policy)"}
	if opts.Witnesses != nil {
		w.Detail = "the policy's quorum of witnesses cosigned the latest checkpoint"
		w.Outside = ok
	}
	rep.SetBasis(w)
	a := transparency.Basis{Part: BasisAnchors, Detail: "none in anchors/"}
	if n := len(rep.Anchors); n > 0 {
		a.Detail = fmt.Sprintf("%s in anchors/, not checked (--rekor-key)", words.Count(n, "anchor", "anchors"))
	}
	rep.SetBasis(a)
}
