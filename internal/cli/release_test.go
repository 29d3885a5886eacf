package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/keyceremony/keyceremony/internal/logtest"
)

// TestReleaseBinaryCarriesNoTestHooks builds the command as a user does (go
// build, no tags) and looks through its bytes for the test machinery: the
// crash hook's variable, its message, and the fault layer's calls. Tests
// inject these through options; the product has none of them.
func TestReleaseBinaryCarriesNoTestHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command: skipped with -short")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(t.TempDir(), "keyceremony")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/keyceremony/keyceremony")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{logtest.CrashAfterEnv, "crashed after entry", "logtest.CrashAfter", "KEYCEREMONY_TEST"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the release binary holds %q", s)
		}
	}
	// The check itself can fail: the test binary, which does carry the
	// hook, is found out.
	self, _ := os.ReadFile(os.Args[0])
	if !bytes.Contains(self, []byte(logtest.CrashAfterEnv)) {
		t.Fatal("the test binary does not hold the crash hook's variable: the check finds nothing")
	}
}
