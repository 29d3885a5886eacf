package quorum

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParseCard: the plaintext of a card file, whatever it holds, is a card
// of the given id or an error, never a panic.
func FuzzParseCard(f *testing.F) {
	f.Add([]byte(`{"id":"CO1","share":1,"value":"AAAA"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		parseCard("CO1", "fuzz.card", plain)
	})
}

// FuzzRoster: any roster YAML is validated, and a valid one starts a
// quorum, without a panic.
func FuzzRoster(f *testing.F) {
	f.Add([]byte("threshold: 1\ncards: [{id: CO1, holder: A}]\n"))
	f.Add([]byte("mode: witnessed\nthreshold: 2\ncards: [{id: CO1, holder: A, serial: S}, {id: CO2, holder: B}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Roster
		if len(data) > 1<<20 || yaml.Unmarshal(data, &r) != nil {
			return
		}
		if r.Validate() == nil {
			NewCollector(&r)
		}
	})
}
