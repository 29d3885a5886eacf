// Command keyceremony runs DNSSEC key-signing ceremonies on an air-gapped
// laptop and keeps a signed, hash-chained transparency log of every step.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyceremony:", err)
	}
	os.Exit(exitCode(err))
}
