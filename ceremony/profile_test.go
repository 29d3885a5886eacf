package ceremony

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
)

// TestProfileTextSigning: text_signing speaks each tool's own names
// (knot.conf's and named.conf's, with _ for -) and reads durations as ISO
// 8601 or as those files write them; what it leaves out is the tool's
// default. The flat keys of earlier profiles, whose rrsig_refresh meant
// the interval between bundles, are refused by name; a refresh not
// shorter than its lifetime, an unknown key, and a malformed duration are
// refused.
func TestProfileTextSigning(t *testing.T) {
	base, err := os.ReadFile("../scripts/demo-profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(section string) (*Profile, error) {
		return LoadProfile("p.yaml", append(append([]byte(nil), base...), []byte("text_signing:\n"+section)...))
	}
	p, err := load("  knot: {rrsig_lifetime: 21d, rrsig_refresh: PT36H, zone_max_ttl: 3600}\n  bind:\n    signatures_validity_dnskey: 2w\n    signatures_refresh: 90h\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &dnssec.TextOptions{
		Knot: dnssec.KnotTiming{RRSIGLifetime: 21 * 24 * time.Hour, RRSIGRefresh: 36 * time.Hour, ZoneMaxTTL: time.Hour},
		BIND: dnssec.BINDTiming{SignaturesValidityDNSKEY: 14 * 24 * time.Hour, SignaturesRefresh: 90 * time.Hour},
	}
	if got := p.TextOptions(); *got != *want {
		t.Fatalf("text options %+v, want %+v", *got, *want)
	}
	for section, msg := range map[string]string{
		"  rrsig_lifetime: P14D\n  rrsig_refresh: P7D\n":            "text_signing.rrsig_lifetime: the timing goes by each tool's own names now",
		"  backdate: PT90M\n":                                       "text_signing.backdate",
		"  knot: {rrsig_lifetime: 7d, rrsig_refresh: 7d}\n":         "text_signing.knot: rrsig_refresh P7D is not shorter than rrsig_lifetime P7D",
		"  bind: {signatures_refresh: 15d}\n":                       "text_signing.bind: signatures_refresh P15D is not shorter than signatures_validity_dnskey P14D",
		"  knot: {rrsig_lifetime: 14d, rrsig_refresh_before: 2h}\n": "rrsig_refresh_before not found",
		"  bind: {signatures_validity_dnskey: fortnight}\n":         `duration "fortnight" is neither ISO 8601`,
		"  knot: {rrsig_lifetime: P1M}\n":                           `duration "P1M" is not PnDTnHnMnS`,
	} {
		if _, err := load(section); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("text_signing:\n%s→ %v, want %q", section, err, msg)
		}
	}
}
