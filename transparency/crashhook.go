package transparency

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// CrashAfterEnv names a test-only hook for the crash campaign: when the
// environment sets it to N, the process kills itself with SIGKILL the
// moment entry N is durable, before anyone is told, after writing
// "crashed after entry N, leaf <hex>" to stderr, so that the test can check
// that the entry survives, unchanged. Nothing else reads it.
const CrashAfterEnv = "KEYCEREMONY_TEST_CRASH_AFTER_ENTRY"

var crashAfter = func() int64 {
	n, err := strconv.ParseInt(os.Getenv(CrashAfterEnv), 10, 64)
	if err != nil {
		return -1
	}
	return n
}()

func crashHook(a Appended) {
	if crashAfter < 0 || a.Index != uint64(crashAfter) {
		return
	}
	fmt.Fprintf(os.Stderr, "crashed after entry %d, leaf %x\n", a.Index, a.Leaf[:])
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Second) // the signal is on its way
	}
}
