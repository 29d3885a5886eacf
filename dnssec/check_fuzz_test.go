package dnssec

import (
	"os"
	"testing"
)

// FuzzLoadPolicy: any policy file loads or is refused, never a panic.
func FuzzLoadPolicy(f *testing.F) {
	if b, err := os.ReadFile("../scripts/demo-policy.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("relax: [KSR-CHAIN-OVERLAP]\nsignature_horizon_days: 200\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		LoadPolicy("fuzz.yaml", data)
	})
}
