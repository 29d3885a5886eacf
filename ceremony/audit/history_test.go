package audit

import (
	"strings"
	"testing"
)

// TestHistoryCustodyLink: a ceremony opens with the register its
// predecessor ended with; an item in another bag, out of the register, or
// claimed sealed after its predecessor left it out of any bag fails by
// name.
func TestHistoryCustodyLink(t *testing.T) {
	ended := map[string]string{"hsm1": "TEB-2", "laptop1": "TEB-4"}
	known := map[string]bool{"hsm1": true, "laptop1": true, "osmedia1": true}
	for name, c := range map[string]struct {
		open map[string]string
		ok   bool
		want string
	}{
		"the same register":               {map[string]string{"hsm1": "TEB-2", "laptop1": "TEB-4"}, true, "2 sealed items, each in the bag it was sealed in"},
		"a new item the script records":   {map[string]string{"hsm1": "TEB-2", "laptop1": "TEB-4", "safe1": "TEB-9"}, true, "2 sealed items"},
		"another bag":                     {map[string]string{"hsm1": "TEB-3", "laptop1": "TEB-4"}, false, "a sealed hsm1 in bag TEB-2, but b opens with it in bag TEB-3"},
		"an item dropped":                 {map[string]string{"hsm1": "TEB-2"}, false, "a sealed laptop1 in bag TEB-4, but b opens with it in no bag"},
		"an item left out, claimed again": {map[string]string{"hsm1": "TEB-2", "laptop1": "TEB-4", "osmedia1": "TEB-7"}, false, "a left osmedia1 out of any bag, but b opens with it sealed in bag TEB-7"},
	} {
		t.Run(name, func(t *testing.T) {
			h := &History{OK: true}
			h.custody("a", "b", ended, known, c.open)
			if len(h.Links) != 1 || h.Links[0].ID != CheckHistoryCustody || h.Links[0].OK != c.ok || h.OK != c.ok || !strings.Contains(h.Links[0].Detail, c.want) {
				t.Fatalf("got %+v, want ok=%v %q", h.Links, c.ok, c.want)
			}
		})
	}
}

// TestHistoryBackupLink: the backup on record goes on with the chain.
func TestHistoryBackupLink(t *testing.T) {
	for name, c := range map[string]struct {
		prev, open string
		ok         bool
		want       string
	}{
		"carried":          {"aa", "aa", true, "carries over the KSK backup a ended with"},
		"dropped":          {"aa", "", false, "a ended with the KSK backup aa…, but b opens with"},
		"another":          {"aa", "bb", false, "but b opens with bb"},
		"one from nowhere": {"", "bb", false, "but a ended with none"},
	} {
		t.Run(name, func(t *testing.T) {
			h := &History{OK: true}
			h.backup("a", "b", c.prev, c.open)
			if len(h.Links) != 1 || h.Links[0].OK != c.ok || !strings.Contains(h.Links[0].Detail, c.want) {
				t.Fatalf("%+v", h.Links)
			}
		})
	}
	h := &History{OK: true}
	if h.backup("a", "b", "", ""); len(h.Links) != 0 {
		t.Fatalf("no backup on either side: %+v", h.Links)
	}
}

// TestHistoryInventoryLink: a ceremony's inventory names only KSKs the
// chain held, generated or restored before it.
func TestHistoryInventoryLink(t *testing.T) {
	known := map[string]bool{keyID("KSK1", 20326, "E06D"): true, keyID("KSK-NEW", 38696, "683D"): true}
	h := &History{OK: true}
	h.inventory("b", known, []string{keyID("KSK1", 20326, "e06d"), keyID("KSK-NEW", 38696, "683d")})
	if !h.OK || len(h.Links) != 1 || !strings.Contains(h.Links[0].Detail, "names 2 KSKs, each held") {
		t.Fatalf("%+v", h.Links)
	}
	h = &History{OK: true}
	h.inventory("b", known, []string{keyID("KSK1", 20326, "e06d"), keyID("KSK-X", 1, "ab")})
	if h.OK || !strings.Contains(h.Links[0].Detail, "names KSK KSK-X (key tag 1") {
		t.Fatalf("a KSK from nowhere: %+v", h.Links)
	}
	h = &History{OK: true}
	h.inventory("b", known, []string{keyID("KSK1", 20327, "e06d")})
	if h.OK {
		t.Fatalf("the inventory's KSK1 with another key tag: %+v", h.Links)
	}
}
