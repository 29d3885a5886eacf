package transparency

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEntryMarshalParse(t *testing.T) {
	e := &Entry{Seq: 3, Time: time.Date(2026, 11, 28, 1, 2, 3, 456789000, time.UTC), Prev: strings.Repeat("0a", 32),
		Kind: "ksr.loaded", Artefacts: []ArtefactRef{{Name: "ksr.xml", SHA256: strings.Repeat("1f", 32), Size: 9}},
		Fields: map[string]json.RawMessage{"step": json.RawMessage(`"4.1"`), "bundles": json.RawMessage(`9`)}}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2026-11-28T01:02:03.456Z","prev":"` + strings.Repeat("0a", 32) +
		`","kind":"ksr.loaded","artefacts":[{"name":"ksr.xml","sha256":"` + strings.Repeat("1f", 32) +
		`","size":9}],"bundles":9,"step":"4.1"}`
	if string(b) != want {
		t.Fatalf("marshal:\n got %s\nwant %s", b, want)
	}
	p, err := ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := p.Marshal()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("round trip: %s, %v", b2, err)
	}
	if p.Field("step") != "4.1" {
		t.Fatalf("field step = %q", p.Field("step"))
	}
}

func TestParseEntryRejects(t *testing.T) {
	prev := strings.Repeat("ab", 32)
	head := `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"step.done"`
	cases := map[string]string{
		"not json":          `hello`,
		"array":             `[1]`,
		"missing kind":      `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `"}`,
		"header order":      `{"time":"2026-11-28T01:02:03.000Z","seq":1,"prev":"` + prev + `","kind":"a"}`,
		"duplicate field":   head + `,"step":"1","step":"2"}`,
		"duplicate header":  head + `,"seq":2}`,
		"negative seq":      `{"seq":-1,"time":"2026-11-28T01:02:03.000Z","prev":"","kind":"a"}`,
		"fractional seq":    `{"seq":1.5,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"exponent seq":      `{"seq":1e2,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"leading zero seq":  `{"seq":01,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"local time":        `{"seq":1,"time":"2026-11-28T01:02:03+01:00","prev":"` + prev + `","kind":"a"}`,
		"impossible date":   `{"seq":1,"time":"2026-02-30T01:02:03Z","prev":"` + prev + `","kind":"a"}`,
		"short prev":        `{"seq":1,"time":"2026-11-28T01:02:03Z","prev":"abcd","kind":"a"}`,
		"prev on entry 0":   `{"seq":0,"time":"2026-11-28T01:02:03Z","prev":"` + prev + `","kind":"a"}`,
		"upper kind":        `{"seq":0,"time":"2026-11-28T01:02:03Z","prev":"","kind":"Step"}`,
		"trailing data":     head + `} {}`,
		"bad field name":    head + `,"Step":"1"}`,
		"bad artefact hash": head + `,"artefacts":[{"name":"a","sha256":"zz","size":1}]}`,
		"artefact path":     head + `,"artefacts":[{"name":"../a","sha256":"` + prev + `","size":1}]}`,
		"artefact extra":    head + `,"artefacts":[{"name":"a","sha256":"` + prev + `","size":1,"x":1}]}`,
		"invalid utf-8":     head + `,"text":"` + "\xff" + `"}`,
		"too large":         head + `,"text":"` + strings.Repeat("x", MaxEntrySize) + `"}`,
		"nested duplicate":  head + `,"roster":{"co1":"alice","co1":"mallory"}}`,
		"escaped duplicate": head + `,"roster":{"co1":"alice","co\u0031":"mallory"}}`,
		"artefact case":     head + `,"artefacts":[{"name":"a","SHA256":"` + prev + `","size":1}]}`,
		"artefact dup":      head + `,"artefacts":[{"name":"a","sha256":"` + prev + `","sha256":"` + prev + `","size":1}]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseEntry([]byte(in)); !errors.Is(err, ErrEntry) {
				t.Fatalf("err = %v, want ErrEntry", err)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	base := Entry{Seq: 1, Time: time.Now(), Prev: strings.Repeat("ab", 32), Kind: "step.done"}
	big := base
	big.Fields = map[string]json.RawMessage{"text": json.RawMessage(`"` + strings.Repeat("x", MaxEntrySize) + `"`)}
	reserved := base
	reserved.Fields = map[string]json.RawMessage{"seq": json.RawMessage(`1`)}
	for name, e := range map[string]Entry{"too large": big, "reserved field": reserved} {
		if _, err := e.Marshal(); !errors.Is(err, ErrEntry) {
			t.Errorf("%s: err = %v, want ErrEntry", name, err)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/entries/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSuffix(b, []byte("\n")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed entry does not marshal: %v", err)
		}
		e2, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("marshalled entry does not parse: %v\n%s", err, b)
		}
		b2, err := e2.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("marshal is not stable:\n%s\n%s", b, b2)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/tessera-log/checkpoint*")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v, err := noteVerifier(tesseraTestKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := OpenCheckpoint(data, v, "")
		if err != nil {
			return
		}
		body := FormatCheckpointBody(cp.Origin, cp.Size, cp.Root)
		if !bytes.HasPrefix(data, []byte(body+"\n")) {
			t.Fatalf("accepted checkpoint does not start with its own body %q", body)
		}
		o, s, r, err := ParseCheckpointBody(body)
		if err != nil || o != cp.Origin || s != cp.Size || r != cp.Root {
			t.Fatalf("body round trip: %v", err)
		}
	})
}

// TestJSONScannerAgreesWithEncodingJSON: the entry parser's JSON validation
// accepts exactly what encoding/json accepts, on values nested in an entry.
func TestJSONScannerAgreesWithEncodingJSON(t *testing.T) {
	values := []string{`1`, `-0`, `0.5e+3`, `01`, `1.`, `.5`, `-`, `1e`, `"a\u00e9\n"`, `"\x"`, `"\u12G4"`, "\"tab\there\"",
		`[]`, `[1,]`, `[1 2]`, `{}`, `{"a":1,}`, `{"a" 1}`, `{"a":[true,false,null]}`, `tru`, `nul`, `[[[[]]]]`, `"unterminated`,
		`{"a":{"b":{"c":"d"}}}`, `[1,[2,[3]]]`, `1 2`, ` 7 `}
	for _, v := range values {
		entry := `{"seq":0,"time":"2026-11-28T01:02:03.000Z","prev":"","kind":"a","x":` + v + `}`
		_, err := ParseEntry([]byte(entry))
		if want := json.Valid([]byte(entry)); (err == nil) != want {
			t.Errorf("value %s: ParseEntry err = %v, encoding/json valid = %v", v, err, want)
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := ParseEntry([]byte(`{"seq":0,"time":"2026-11-28T01:02:03.000Z","prev":"","kind":"a","x":` + deep + `}`)); err == nil {
		t.Error("nesting deeper than maxDepth accepted")
	}
}
