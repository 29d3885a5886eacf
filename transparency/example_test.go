package transparency_test

import (
	"fmt"
	"os"

	"github.com/keyceremony/keyceremony/transparency"
)

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
