package logtest

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// CrashAfterEnv names the variable a crash test sets for the child process
// it starts (its own test binary, run as the command): the child crashes the
// moment entry N is durable. Only test binaries read it; the command does
// not.
const CrashAfterEnv = "KEYCEREMONY_TEST_CRASH_AFTER_ENTRY"

// CrashAfterFromEnv is the hook CrashAfterEnv asks for, or nil.
func CrashAfterFromEnv() func(index uint64, leaf [32]byte) {
	n, err := strconv.ParseUint(os.Getenv(CrashAfterEnv), 10, 64)
	if err != nil {
		return nil
	}
	return CrashAfter(n)
}

// CrashAfter is a hook for the log's AfterDurable option: the moment entry n
// is durable, before anyone is told, it writes "crashed after entry N, leaf
// <hex>" to stderr and kills the process with SIGKILL, so that the test can
// check that the entry survives, unchanged.
func CrashAfter(n uint64) func(index uint64, leaf [32]byte) {
	return func(index uint64, leaf [32]byte) {
		if index != n {
			return
		}
		fmt.Fprintf(os.Stderr, "crashed after entry %d, leaf %x\n", index, leaf[:])
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Second) // the signal is on its way
		}
	}
}
