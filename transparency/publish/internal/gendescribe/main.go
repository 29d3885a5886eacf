// Command gendescribe writes the web page's description table
// (transparency/publish/web/describe.js) from the log format's own table in
// ceremony/event. go generate ./transparency/publish runs it.
package main

import (
	"fmt"
	"os"

	"github.com/keyceremony/keyceremony/transparency/publish"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendescribe FILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], publish.DescribeJS(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendescribe:", err)
		os.Exit(1)
	}
}
