package cli

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	os.Setenv("SOFTHSM2_CONF", "/tmp/kb/softhsm2.conf")
	os.Setenv(pinEnv, "1234")
	for i := 0; i < 10; i++ {
		os.Remove("/tmp/kb/skr-prof.txt")
		t0 := time.Now()
		if err := run(context.Background(), []string{"ksr", "sign", "/tmp/kb/ksr1000.txt", "--profile", "/tmp/kb/profile.yaml", "--out", "/tmp/kb/skr-prof.txt", "--yes"}, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		t.Log(time.Since(t0))
	}
}
