//go:build !linux

package main

// noCoreDumps does nothing where the process limits are not Linux's.
func noCoreDumps() {}
