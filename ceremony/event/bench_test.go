package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkParse parses every golden vector, one of each kind, as the
// engine's replay does (Parse: the strict scan, then the kind's typed
// decode), against two baselines in the same iterations: ParseHeader (the
// strict scan alone, what the log verifier does) and encoding/json into a
// map (what reading an entry as untyped JSON costs).
func BenchmarkParse(b *testing.B) {
	entries := vectorEntries(b)
	var typed, header, generic time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, e := range entries {
			if _, err := Parse(e); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, e := range entries {
			if _, err := ParseHeader(e); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		for _, e := range entries {
			var m map[string]any
			if err := json.Unmarshal(e, &m); err != nil {
				b.Fatal(err)
			}
		}
		typed, header, generic = typed+t1.Sub(t0), header+t2.Sub(t1), generic+time.Since(t2)
	}
	n := float64(b.N * len(entries))
	b.ReportMetric(float64(typed.Nanoseconds())/n/1e3, "µs/entry")
	b.ReportMetric(float64(header.Nanoseconds())/n/1e3, "header-µs/entry")
	b.ReportMetric(float64(generic.Nanoseconds())/n/1e3, "json-map-µs/entry")
	b.ReportMetric(float64(typed)/float64(generic), "×json-map")
}

// BenchmarkParseCanonical parses every golden vector and checks that its
// bytes are its one encoding (what the log verifier does for each entry),
// against ParseHeader (the strict scan alone) in the same iterations.
func BenchmarkParseCanonical(b *testing.B) {
	entries := vectorEntries(b)
	var canonical, header time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, e := range entries {
			if _, err := ParseCanonical(e); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, e := range entries {
			if _, err := ParseHeader(e); err != nil {
				b.Fatal(err)
			}
		}
		canonical, header = canonical+t1.Sub(t0), header+time.Since(t1)
	}
	n := float64(b.N * len(entries))
	b.ReportMetric(float64(canonical.Nanoseconds())/n/1e3, "µs/entry")
	b.ReportMetric(float64(header.Nanoseconds())/n/1e3, "header-µs/entry")
	b.ReportMetric(float64(canonical)/float64(header), "×header")
}

// vectorEntries are the golden vectors' entries, without their newline.
func vectorEntries(b *testing.B) [][]byte {
	b.Helper()
	paths, _ := filepath.Glob("testdata/vectors/*.json")
	var entries [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, bytes.TrimSuffix(raw, []byte("\n")))
	}
	return entries
}
