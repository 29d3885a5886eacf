// Package ui is what people see: the operator console (a Bubble Tea program
// for the projected screen), the line-by-line mode for screen readers and
// transcripts, and the words both use to describe what the log records.
package ui

import (
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/transparency"
)

// RootWords is the first words of a checkpoint's root in the PGP word list:
// enough to compare aloud with what viewers see.
func RootWords(cp *transparency.Checkpoint, n int) string {
	if cp == nil {
		return "—"
	}
	return dnssec.PGPWords(cp.Root[:n])
}
