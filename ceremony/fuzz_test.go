package ceremony

import (
	"testing"

	"github.com/keyceremony/keyceremony/scripts"
)

// FuzzLoadScript: any bytes given as a script (and as the roster it names)
// are loaded or refused with an error, never a panic.
func FuzzLoadScript(f *testing.F) {
	for _, name := range scripts.Names() {
		raw, _ := scripts.Get(name)
		f.Add(raw, scripts.DemoRoster())
	}
	f.Add([]byte("ceremony: x\nacts: [{title: a, steps: [{id: \"1.1\", role: CA, text: t}]}]\n"), []byte("quorum: {threshold: 1}"))
	f.Fuzz(func(t *testing.T, script, roster []byte) {
		if len(script) > 1<<20 || len(roster) > 1<<20 {
			return
		}
		s, err := LoadScriptWith("fuzz.yaml", script, func(string) ([]byte, error) { return roster, nil })
		if err == nil {
			s.Steps()
			s.validate()
		}
	})
}

// FuzzLoadProfile: any bytes given as a profile load or are refused.
func FuzzLoadProfile(f *testing.F) {
	f.Add([]byte("token:\n  module: /usr/lib/softhsm/libsofthsm2.so\n  label: ksk\nschema: root\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		LoadProfile("fuzz.yaml", data)
	})
}
