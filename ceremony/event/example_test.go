package event_test

import (
	"fmt"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// An entry's JSON is the exact Merkle leaf: the header first, then the
// kind's fields sorted by name.
func ExampleEntry_Marshal() {
	e := &event.Entry{
		Seq:   1,
		Time:  time.Date(2026, 11, 28, 14, 0, 5, 0, time.UTC),
		Prev:  "2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90",
		Event: event.StepDone{Step: "1.1", Role: "CA", Witnesses: []string{"IW"}},
	}
	b, err := e.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"seq":1,"time":"2026-11-28T14:00:05.000Z","prev":"2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90","kind":"step.done","role":"CA","step":"1.1","witnesses":["IW"]}
}

// Parse gives the entry's typed event; a switch on its type reads its
// fields, and Describe says in a line what it records.
func ExampleParse() {
	e, err := event.Parse([]byte(`{"seq":9,"time":"2026-11-28T14:03:11.250Z","prev":"2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90","kind":"card.rejected","card":"CO2","reason":"forged","step":"3.1"}`))
	if err != nil {
		panic(err)
	}
	switch ev := e.Event.(type) {
	case event.CardRejected:
		fmt.Printf("entry %d at %s: card %s refused (%s)\n", e.Seq, e.Time.Format(time.TimeOnly), ev.Card, ev.Reason)
	}
	fmt.Println(event.Describe(e))
	_, err = event.Parse([]byte(`{"seq":9,"time":"2026-11-28T14:03:11.250Z","prev":"2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90","kind":"card.rejected","card":"CO2","colour":"red","step":"3.1"}`))
	fmt.Println(err)
	// Output:
	// entry 9 at 14:03:11: card CO2 refused (forged)
	// card CO2 REJECTED: forged
	// malformed entry: entry 9 (card.rejected): json: unknown field "colour"
}
