package audit_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/transparency"
)

// An auditor's program verifies a published ceremony log against the log
// key announced at the ceremony: the log, then the ceremony it records.
func ExampleVerify() {
	rep, err := audit.Verify(os.DirFS("testdata/admin-log"), audit.Options{VerifyOptions: transparency.VerifyOptions{
		VKey: "demo.keyceremony.invalid/20261204T183509Z/rehearsal+e2de9671+AcpKtHneOs5khCc6rdi2KkfADxW/bfapGOU8e/Y4iirx",
	}})
	if err != nil {
		panic(err) // the folder cannot be read at all
	}
	for _, c := range rep.Checks {
		if c.ID == audit.CheckScript {
			fmt.Println(c.Detail)
		}
	}
	fmt.Println(rep.OK, rep.Size, rep.Closed)
	// Output:
	// the log follows admin.yaml (SHA-256 6f0ac7b19eb0613168b593533b7c11bde7fbb4e6bcaf5400772d56148b2f8c96): 11 of 11 steps done, 0 exceptions, 0 stops, 0 resumes, ceremony closed
	// true 29 true
}

// A verified log's transcript: the script annotated with what the log
// recorded at each step.
func ExampleNewTranscript() {
	fsys := os.DirFS("testdata/admin-log")
	rep, err := audit.Verify(fsys, audit.Options{})
	if err != nil || !rep.OK {
		panic("the log does not verify")
	}
	c, err := audit.ReadCeremony(fsys, rep)
	if err != nil {
		panic(err)
	}
	var md bytes.Buffer
	if err := audit.NewTranscript(c, rep).Markdown(&md); err != nil {
		panic(err)
	}
	lines := strings.Split(md.String(), "\n")
	fmt.Println(strings.Join(lines[:6], "\n"))
	// Output:
	// # Transcript: Administrative ceremony (safe maintenance and staff induction)
	//
	// - Log origin `demo.keyceremony.invalid/20261204T183509Z/rehearsal` — a REHEARSAL log
	// - Log key fingerprint `5a98 1d4b 66f0 f3ac d5aa 87d9 7003 8106 2bad 59f3 1753 131a f6fc 6283 a655 a1e3`
	// - Script `admin.yaml`, SHA-256 `6f0a c7b1 9eb0 6131 68b5 9353 3b7c 11bd e7fb b4e6 bcaf 5400 772d 5614 8b2f 8c96`
	// - 29 entries; final checkpoint size 29, root `8f0d ce3d 2608 7094 a7c6 9b20 15ea 585d 7222 725a 0f3c 4ef6 9a6e 2fe6 60d3 ccfc`
}
