package transparency_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/keyceremony/keyceremony/transparency"
)

// An entry's JSON is the exact Merkle leaf: the header fields first, then the
// kind's fields sorted by name.
func ExampleEntry_Marshal() {
	e := &transparency.Entry{
		Seq:    1,
		Time:   time.Date(2026, 11, 28, 14, 0, 5, 0, time.UTC),
		Prev:   "2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90",
		Kind:   "step.done",
		Fields: map[string]json.RawMessage{"step": json.RawMessage(`"1.1"`), "role": json.RawMessage(`"CA"`)},
	}
	b, err := e.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	fmt.Println(transparency.PrevHash(b))
	// Output:
	// {"seq":1,"time":"2026-11-28T14:00:05.000Z","prev":"2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90","kind":"step.done","role":"CA","step":"1.1"}
	// b590aae8553dcc38fb799fe3af841c0ee73c14ab1f7680266832a4d2a753cfdc
}

// Verify checks a tlog-tiles folder against a pinned key and origin. Raw mode
// checks only the Merkle and checkpoint layer, so it accepts any Tessera log.
func ExampleVerify() {
	rep, err := transparency.Verify(os.DirFS("testdata/tessera-log"), transparency.VerifyOptions{
		VKey:   "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
		Origin: "example.com/log/testdata",
		Raw:    true,
	})
	if err != nil {
		panic(err)
	}
	for _, c := range rep.Checks {
		fmt.Println(c.OK, c.ID)
	}
	fmt.Println(rep.OK, rep.Size)
	// Output:
	// true files
	// true key
	// true checkpoint.signature
	// true checkpoint.origin
	// true bundles
	// true tiles
	// true leaf-hashes
	// true root
	// true consistency
	// true 15
}
