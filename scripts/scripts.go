// Package scripts holds the ceremony scripts shipped with keyceremony,
// embedded in the binary, and the simulated crypto officer cards of the demo.
package scripts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed *.yaml demo-ksr-root-2010-q1-0.xml demo-ksr-root-2010-q2-0.xml
var files embed.FS

// DemoKSRName is the KSR the demo signs: IANA's pre-production KSR for
// 2010Q1, which test KSK1 signed (origin: iana-org/dnssec-keytools-legacy).
const DemoKSRName = "ksr-root-2010-q1-0.xml"

// DemoKSR returns the demo's KSR.
func DemoKSR() []byte {
	b, _ := fs.ReadFile(files, "demo-"+DemoKSRName)
	return b
}

// DemoKSR2Name is the second KSR of a rehearsal that signs two quarters:
// IANA's pre-production KSR for 2010Q2, which follows 2010Q1's response.
const DemoKSR2Name = "ksr-root-2010-q2-0.xml"

// DemoKSR2 returns the rehearsal's second KSR.
func DemoKSR2() []byte {
	b, _ := fs.ReadFile(files, "demo-"+DemoKSR2Name)
	return b
}

// ErrUnknown: no built-in script has the name.
var ErrUnknown = errors.New("no such built-in script")

// Get returns the embedded script with the given name (with or without .yaml).
func Get(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".yaml")
	b, err := fs.ReadFile(files, name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return b, nil
}

// Names are the built-in scripts, in the order of a KSK operator's year:
// the demo first.
func Names() []string {
	return []string{"demo", "signing", "signing-two", "keygen", "officers", "recovery", "decommission", "admin"}
}

// DemoPolicy returns the demo's signing policy file.
func DemoPolicy() []byte {
	b, _ := fs.ReadFile(files, "demo-policy.yaml")
	return b
}

// DemoCards returns the demo's simulated cards (public rehearsal material).
func DemoCards() []byte {
	b, _ := fs.ReadFile(files, "demo-cards.yaml")
	return b
}

// DemoRoster is the demo's quorum block as a roster file (quorum: …), for
// rehearsing the shipped scripts that name roster.yaml with the demo's
// simulated cards.
func DemoRoster() []byte {
	b, _ := fs.ReadFile(files, "demo.yaml")
	_, rest, _ := strings.Cut(string(b), "\nquorum:\n")
	block, _, _ := strings.Cut(rest, "\nacts:")
	return []byte("quorum:\n" + block + "\n")
}

// DemoProfileName is the demo's profile.
const DemoProfileName = "demo-profile.yaml"

// DemoProfile returns the demo's profile: its software token, KSK
// inventory, schema and policies. Its policy file is DemoPolicy.
func DemoProfile() []byte {
	b, _ := fs.ReadFile(files, DemoProfileName)
	return b
}
