// Command keyceremony runs DNSSEC key-signing ceremonies on an air-gapped
// laptop and keeps a signed, hash-chained transparency log of every step.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyceremony/keyceremony/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
