//go:build !linux

package cli

// noCoreDumps does nothing where the process limits are not Linux's.
func noCoreDumps() {}
