package session

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
)

// SignRequest is everything needed to answer a KSR outside the console.
type SignRequest struct {
	Profile  *ceremony.Profile
	Token    hsm.Token // logged in
	KSR      *dnssec.Document
	Previous *dnssec.Document // the last SKR, for the chain and safety checks
	Schema   string           // "" for the profile's default
	Policy   dnssec.CheckPolicy
	Now      time.Time
	Progress func(done, total int)
}

// ErrRefused: the KSR or the new SKR failed a check; nothing was written.
// The results say which.
var ErrRefused = errors.New("signing refused")

// ErrConfig: the profile does not fit the request (an unknown schema, a
// schema with the wrong number of slots). Fix the profile or the options.
var ErrConfig = errors.New("profile does not fit")

// ErrInventory: a key in the token is not the KSK the profile's inventory
// describes. Check the token and the profile.
var ErrInventory = errors.New("key does not match the KSK inventory")

// InventoryKSKs finds the inventory's KSKs in the token and checks each
// against its record: the key tag and the SHA-256 DS digest must match.
func InventoryKSKs(ctx context.Context, p *ceremony.Profile, tok hsm.Token, labels []string) (map[string]dnssec.KSK, error) {
	out := map[string]dnssec.KSK{}
	for _, label := range labels {
		rec, ok := p.KSK(label)
		if !ok {
			return nil, fmt.Errorf("KSK %q is not in the profile's inventory", label)
		}
		k, err := tok.Key(ctx, label)
		if err != nil {
			return nil, err
		}
		dk, err := dnssec.NewDNSKEY(p.Zone, k.Public(), dnssec.FlagZone|dnssec.FlagSEP, p.TTL)
		if err != nil {
			return nil, fmt.Errorf("KSK %s: %w", label, err)
		}
		ds := dnssec.DS(dk)
		if dk.KeyTag() != rec.KeyTag || !equalFoldHex(ds.Digest, rec.DSSHA256) {
			return nil, fmt.Errorf("%w: the key labelled %s in token %q has tag %d and DS %s; the inventory says tag %d and DS %s: check the token and the profile",
				ErrInventory, label, tok.Label(), dk.KeyTag(), ds.Digest, rec.KeyTag, rec.DSSHA256)
		}
		out[label] = dnssec.KSK{Identifier: label, DNSKEY: dk, Signer: k}
	}
	return out, nil
}

func equalFoldHex(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// SignKSR answers a KSR as IANA's signer does: every KSR check first, the
// inventory's KSKs found in the token and matched, each KSK valid over every
// bundle it appears in, the ZSK and KSK algorithms the same per bundle, every
// bundle signed and checked on two paths, then publish and retire safety against
// the previous SKR and the new SKR verified whole. It returns the SKR only if
// everything passed, and every result either way.
func SignKSR(ctx context.Context, r SignRequest) (*dnssec.Document, []dnssec.Result, error) {
	results := dnssec.CheckKSR(r.KSR, r.Policy, r.Now, r.Previous)
	if !dnssec.Passed(results) {
		return nil, results, fmt.Errorf("%w: the KSR fails its checks", ErrRefused)
	}
	plan, res, err := PlanSigning(ctx, r)
	results = append(results, res...)
	if err != nil {
		return nil, results, err
	}
	bundles, err := dnssec.SignSlots(r.KSR, plan.Slots, plan.KSKs, r.Profile.TTL, r.Progress)
	if err != nil {
		return nil, results, fmt.Errorf("schema %s: %w", plan.Schema.Name, err)
	}
	skr, res := FinishSKR(r, plan, bundles, r.Now)
	results = append(results, res...)
	if !dnssec.Passed(results) {
		return nil, results, fmt.Errorf("%w: the new SKR fails a check", ErrRefused)
	}
	return skr, results, nil
}

// textOverlap holds a text KSR's bundles, as the profile's timing cut
// them, to the profile's min_validity_overlap: consecutive bundles'
// signatures overlap at least that long (IANA's XML KSRs carry their own
// overlap policy, which CheckKSR applies).
func textOverlap(r SignRequest) dnssec.Result {
	const id = "SIGNER-OVERLAP"
	pol, err := r.Profile.ResponsePolicy()
	if err != nil || pol.MinValidityOverlap.D == 0 {
		return dnssec.Result{ID: id, Status: dnssec.Pass, Detail: "the profile sets no minimum overlap"}
	}
	bs := r.KSR.Request.Bundles
	for i := 1; i < len(bs); i++ {
		if ov := bs[i-1].Expiration.Sub(bs[i].Inception.Time); ov < pol.MinValidityOverlap.D {
			return dnssec.Result{ID: id, Status: dnssec.Fail, Detail: fmt.Sprintf("bundle #%d and bundle #%d overlap for %s (from %s), less than the profile's min_validity_overlap %s: sign with a shorter refresh or a longer signature lifetime",
				i, i+1, dnssec.FormatDuration(ov), bs[i].Inception.UTC().Format(time.DateTime), pol.MinValidityOverlap.Text)}
		}
	}
	return dnssec.Result{ID: id, Status: dnssec.Pass, Detail: fmt.Sprintf("consecutive bundles overlap for at least the profile's min_validity_overlap %s", pol.MinValidityOverlap.Text)}
}

// Plan is how a KSR is signed: the schema's slot for every bundle, and the
// KSKs the slots name, found in the token and matched with the inventory.
type Plan struct {
	Schema dnssec.Schema
	Slots  []dnssec.Slot
	KSKs   map[string]dnssec.KSK
}

// PlanSigning runs the signer-side checks of a KSR against the profile: the
// schema fits the KSR, each KSK is valid over every bundle it appears in, the
// ZSKs use the KSKs' algorithms, and the token's keys are the inventory's.
// Its error wraps ErrConfig or ErrRefused; the results say which check.
func PlanSigning(ctx context.Context, r SignRequest) (*Plan, []dnssec.Result, error) {
	var results []dnssec.Result
	schema, err := r.Profile.Schema(r.Schema)
	if err != nil {
		return nil, results, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	plan := &Plan{Schema: schema}
	var labels []string
	n := len(r.KSR.Request.Bundles)
	for i := 0; i < n; i++ {
		slot, err := schema.Slot(i, n)
		if err != nil {
			return nil, results, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		plan.Slots = append(plan.Slots, slot)
		for _, l := range append(append(append([]string{}, slot.Publish...), slot.Sign...), slot.Revoke...) {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		if res, ok := signerSide(r, i, slot); !ok {
			return nil, append(results, res), fmt.Errorf("%w: %s", ErrRefused, res.Detail)
		}
	}
	results = append(results, dnssec.Result{ID: "SIGNER-KSK-VALIDITY", Status: dnssec.Pass, Detail: "every KSK of the schema is valid over every bundle it appears in"},
		dnssec.Result{ID: "SIGNER-ALGORITHMS", Status: dnssec.Pass, Detail: "in every bundle the ZSKs use the algorithms of the signing KSKs"})
	if r.KSR.Format != "" {
		// A text KSR's bundles are cut by the profile's own timing: the
		// profile's minimum overlap of consecutive signatures holds them.
		res := textOverlap(r)
		results = append(results, res)
		if res.Status == dnssec.Fail {
			return nil, results, fmt.Errorf("%w: %s", ErrRefused, res.Detail)
		}
	}
	if plan.KSKs, err = InventoryKSKs(ctx, r.Profile, r.Token, labels); err != nil {
		return nil, append(results, dnssec.Result{ID: "SIGNER-INVENTORY", Status: dnssec.Fail, Detail: err.Error()}), fmt.Errorf("%w: %w", ErrRefused, err)
	}
	results = append(results, dnssec.Result{ID: "SIGNER-INVENTORY", Status: dnssec.Pass, Detail: fmt.Sprintf("the token's KSKs %v match the inventory's tags and DS digests", labels)})
	return plan, results, nil
}

// FinishSKR assembles the SKR from the signed bundles (timestamped at the
// given time) and checks it as IANA's signer does before it is written:
// publish and retire safety against the previous SKR, and the whole SKR
// verified against the inventory's trust anchors and the KSR.
func FinishSKR(r SignRequest, plan *Plan, bundles []dnssec.Bundle, at time.Time) (*dnssec.Document, []dnssec.Result) {
	pol, _ := r.Profile.ResponsePolicy()
	skr := dnssec.NewResponse(r.KSR, bundles, dnssec.SignOptions{TTL: r.Profile.TTL, KSKPolicy: pol, Now: at})
	results := dnssec.CheckSafety(r.Previous, skr, pol)
	var anchors []dnssec.Anchor
	for _, k := range r.Profile.KSKs {
		key, ok := plan.KSKs[k.Label]
		if !ok {
			continue // not in this schema, so not in this SKR
		}
		anchors = append(anchors, dnssec.Anchor{ID: k.Label, KeyTag: k.KeyTag, Algorithm: key.DNSKEY.Algorithm, Digest: lower(k.DSSHA256), ValidFrom: k.ValidFrom, ValidUntil: k.ValidUntil})
	}
	results = append(results, dnssec.VerifySKR(skr, anchors, r.KSR, r.Policy, time.Time{})...)
	return skr, results
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// signerSide checks bundle i against its slot: each KSK valid over the
// bundle, and the ZSKs' algorithms those of the signing KSKs.
func signerSide(r SignRequest, i int, slot dnssec.Slot) (dnssec.Result, bool) {
	b := r.KSR.Request.Bundles[i]
	for _, l := range append(append(append([]string{}, slot.Publish...), slot.Sign...), slot.Revoke...) {
		rec, _ := r.Profile.KSK(l)
		if rec.ValidFrom.After(b.Inception.Time) || (!rec.ValidUntil.IsZero() && rec.ValidUntil.Before(b.Expiration.Time)) {
			return dnssec.Result{ID: "SIGNER-KSK-VALIDITY", Status: dnssec.Fail, Detail: fmt.Sprintf(
				"bundle #%d (%s) runs %s to %s, but KSK %s is valid from %s to %s",
				i+1, b.ID, b.Inception.Format(time.DateTime), b.Expiration.Format(time.DateTime), l, rec.ValidFrom.Format(time.DateTime), untilString(rec.ValidUntil))}, false
		}
	}
	var zskAlgs, kskAlgs []uint8
	for _, k := range b.Keys {
		if !slices.Contains(zskAlgs, k.Algorithm) {
			zskAlgs = append(zskAlgs, k.Algorithm)
		}
	}
	pol, _ := r.Profile.ResponsePolicy()
	for _, a := range pol.Algorithms {
		kskAlgs = append(kskAlgs, a.Algorithm)
	}
	slices.Sort(zskAlgs)
	slices.Sort(kskAlgs)
	if !slices.Equal(zskAlgs, kskAlgs) {
		return dnssec.Result{ID: "SIGNER-ALGORITHMS", Status: dnssec.Fail, Detail: fmt.Sprintf(
			"bundle #%d (%s): the ZSKs use algorithms %v, the KSKs %v; a zone is signed with the same algorithms", i+1, b.ID, zskAlgs, kskAlgs)}, false
	}
	return dnssec.Result{}, true
}

func untilString(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.Format(time.DateTime)
}

// TrustAnchors exports the profile's KSK inventory, every key checked
// against the token (InventoryKSKs), as a trust anchor file (IANA's
// root-anchors.xml format) and the DS records, one a line. id is the
// TrustAnchor's id; "" derives one from the DS records, as a UUID-shaped
// hex string.
func TrustAnchors(ctx context.Context, p *ceremony.Profile, tok hsm.Token, id string) (xmlData []byte, ds string, err error) {
	var labels []string
	for _, k := range p.KSKs {
		labels = append(labels, k.Label)
	}
	ksks, err := InventoryKSKs(ctx, p, tok, labels)
	if err != nil {
		return nil, "", err
	}
	var keys []dnssec.AnchorKey
	var b strings.Builder
	for _, rec := range p.KSKs {
		k := ksks[rec.Label]
		keys = append(keys, dnssec.AnchorKey{ID: rec.Label, DNSKEY: k.DNSKEY, ValidFrom: rec.ValidFrom, ValidUntil: rec.ValidUntil})
		b.WriteString(dnssec.DS(k.DNSKEY).String() + "\n")
	}
	if id == "" {
		sum := dnssec.DigestOf([]byte(b.String()))
		h := strings.ToUpper(hex.EncodeToString(sum[:16]))
		id = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	xmlData, err = dnssec.ExportAnchors(id, p.Zone, keys)
	return xmlData, b.String(), err
}
