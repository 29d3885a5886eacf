package transparency

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

const tesseraTestKey = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"

func tesseraCheckpoints(t *testing.T) []NamedCheckpoint {
	t.Helper()
	names, _ := filepath.Glob("testdata/tessera-log/checkpoint.*")
	sort.Strings(names)
	var out []NamedCheckpoint
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, NamedCheckpoint{Name: n, Data: b})
	}
	if len(out) != 16 {
		t.Fatalf("found %d checkpoints, want 16", len(out))
	}
	return out
}

func TestVerifyRawTesseraLog(t *testing.T) {
	rep, err := Verify(os.DirFS("testdata/tessera-log"), VerifyOptions{
		VKey: tesseraTestKey, Origin: "example.com/log/testdata", Raw: true,
		Checkpoints: tesseraCheckpoints(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		t.Logf("%-22s ok=%v %s", c.ID, c.OK, c.Detail)
	}
	if !rep.OK || rep.Size != 15 {
		t.Fatalf("ok=%v size=%d", rep.OK, rep.Size)
	}
}
