package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestConsoleCustody: a ceremony that follows another shows, at its first
// step, what it carried over; at a custody step the register, which does
// not name a bag's serial on record before it is read from the bag; after
// the bag is opened, where it came from.
func TestConsoleCustody(t *testing.T) {
	raw, _ := scripts.Get("signing")
	script, err := ceremony.LoadScriptWith("signing.yaml", raw, func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := []byte("previous.keyceremony.invalid/2026q4\n84\nroot\n")
	d := sha256.Sum256(checkpoint)
	root := strings.Repeat("5a", 32)
	c := consoleOpening(t, filepath.Join(t.TempDir(), "log"), 160, 45, script, nil, func(o *event.Open, arts *[]transparency.Artefact) {
		o.PreviousOrigin, o.PreviousVKey, o.PreviousSize, o.PreviousRoot = "previous.keyceremony.invalid/2026q4", "previous.keyceremony.invalid/2026q4+01234567+AAAA", 84, root
		o.PreviousCheckpoint = hex.EncodeToString(d[:])
		o.Custody = map[string]string{"hsm1": "TEB-100", "laptop1": "TEB-200", "osmedia1": "TEB-300"}
		*arts = append(*arts, transparency.Artefact{Name: "previous-checkpoint", Data: checkpoint})
	})
	got := screen(c)
	for _, want := range []string{"Carried over from the previous ceremony", "Follows previous.keyceremony.invalid/2026q4", "its final checkpoint, size 84", "custody register: 3 sealed items"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the first step does not show %q:\n%s", want, got)
		}
	}
	for c.state.CurrentStep().ID != "1.5" {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	got = screen(c)
	if !strings.Contains(got, "Custody register") || !strings.Contains(got, "sealed; its serial on record is compared when read") {
		t.Fatalf("the custody step does not show the register:\n%s", got)
	}
	if strings.Contains(got, "TEB-100") {
		t.Fatalf("the serial on record is on the screen before it is read from the bag:\n%s", got)
	}
	if err := autoStep(c); err != nil { // the rehearsal reads the bag on record
		t.Fatal(err)
	}
	if got := screen(c); !strings.Contains(got, "opened at step 1.5, from bag TEB-100") {
		t.Fatalf("after the opening:\n%s", got)
	}
	if c.state.Awaiting() != session.NextWitness {
		t.Fatalf("after the opening the console awaits %d", c.state.Awaiting())
	}
}
