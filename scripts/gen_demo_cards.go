//go:build ignore

// gen_demo_cards deals new simulated crypto officer cards for the demo: it
// prints the quorum roster to paste into demo.yaml and writes demo-cards.yaml.
// The two must come from the same run. Run: go run gen_demo_cards.go
package main

import (
	"crypto/rand"
	"fmt"
	"os"

	"github.com/keyceremony/keyceremony/hsm/quorum"
)

func main() {
	names := []string{"Amara Okafor", "Bjorn Lindqvist", "Chen Wei", "Dolores Ruiz", "Emeka Obi", "Farah Haddad", "Grace Kim"}
	var holders []quorum.CardInfo
	for i, n := range names {
		holders = append(holders, quorum.CardInfo{ID: fmt.Sprintf("CO%d", i+1), Holder: n})
	}
	roster, cards, err := quorum.Deal(rand.Reader, 3, holders)
	if err != nil {
		panic(err)
	}
	out, err := quorum.MarshalRosterFile(roster)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	b, err := quorum.SimulatedCardsYAML(cards)
	if err != nil {
		panic(err)
	}
	header := "# Simulated crypto officer cards for the demo rehearsal: PUBLIC test material,\n" +
		"# dealt by gen_demo_cards.go with the roster in demo.yaml (each with its officer's cosigning key).\n" +
		"# Never use them for a real ceremony.\n"
	if err := os.WriteFile("demo-cards.yaml", append([]byte(header), b...), 0o644); err != nil {
		panic(err)
	}
}
