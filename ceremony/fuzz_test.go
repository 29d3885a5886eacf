package ceremony

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/scripts"
)

// FuzzLoadScript: any bytes given as a script (which may name the demo's
// roster) are loaded or refused with an error, never a panic, and fast.
func FuzzLoadScript(f *testing.F) {
	for _, name := range scripts.Names() {
		raw, _ := scripts.Get(name)
		f.Add(raw)
	}
	f.Add([]byte("ceremony: x\nacts: [{title: a, steps: [{id: \"1.1\", role: CA, text: t}]}]\n"))
	roster := scripts.DemoRoster()
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 1<<20 {
			return
		}
		t0 := time.Now()
		// A load that never ends crashes the worker, so that the fuzzer
		// keeps the input.
		watchdog := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("loading a script of %d bytes never ends", len(script))) })
		defer watchdog.Stop()
		s, err := LoadScriptWith("fuzz.yaml", script, func(string) ([]byte, error) { return roster, nil })
		if err == nil {
			s.Steps()
			s.validate()
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("a script of %d bytes took %v to load", len(script), d)
		}
	})
}

// FuzzLoadProfile: any bytes given as a profile load or are refused.
func FuzzLoadProfile(f *testing.F) {
	f.Add([]byte("token:\n  module: /usr/lib/softhsm/libsofthsm2.so\n  label: ksk\nschema: root\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("text_signing:\n  knot: {rrsig_lifetime: 14d, rrsig_refresh: PT2H}\n  bind: {signatures_refresh: P5D}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		LoadProfile("fuzz.yaml", data)
	})
}
