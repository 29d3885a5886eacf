//go:build linux

package cli

import "golang.org/x/sys/unix"

// noCoreDumps keeps secrets (PINs, shares, the recovered secret) out of core
// dumps: no core file may be written, and the process is not dumpable, so
// that other users cannot read its memory through /proc or attach to it.
func noCoreDumps() {
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
