package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxEntrySize is the largest entry the log accepts: tlog-tiles entry bundles
// prefix each entry with a uint16 length.
const MaxEntrySize = 65535

// TimeFormat is how entry times are written: UTC, RFC 3339, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Entry kinds that the log itself relies on.
const (
	KindOpen  = "ceremony.open"
	KindClose = "ceremony.close"
)

// Header fields that every entry carries, in this order at the start of the object.
var headerFields = [...]string{"seq", "time", "prev", "kind"}

// Entry is one record of the ceremony log. Its JSON encoding is the exact byte
// string that becomes the Merkle leaf.
type Entry struct {
	Seq  uint64    // index in the log
	Time time.Time // UTC, millisecond precision
	// Prev is the hex SHA-256 of the previous entry's bytes, empty for entry 0.
	Prev string
	Kind string
	// Artefacts are the files this entry cites; each is stored under
	// artefacts/sha256/<hex> beside the log.
	Artefacts []ArtefactRef
	// Fields are the kind-specific fields, each a JSON value.
	Fields map[string]json.RawMessage
}

// ArtefactRef names a file that an entry cites, by content.
type ArtefactRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

var (
	kindRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	fieldRE  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ErrEntry reports an entry that is not a well-formed log entry.
var ErrEntry = errors.New("malformed entry")

// EntryDigest is the value a following entry's prev field holds: the hex
// SHA-256 of the entry's bytes (what `sha256sum` prints for the entry alone).
func EntryDigest(entry []byte) string {
	d := sha256.Sum256(entry)
	return hex.EncodeToString(d[:])
}

// Field returns the string value of a kind-specific field, or "" when it is
// absent or not a string.
func (e *Entry) Field(name string) string {
	var s string
	if raw, ok := e.Fields[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// Marshal encodes the entry: the header fields first, then the others sorted by
// name, compact, with no trailing newline.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"seq":%d,"time":%q,"prev":%q,"kind":%q`, e.Seq, e.Time.UTC().Format(TimeFormat), e.Prev, e.Kind)
	rest := make(map[string]json.RawMessage, len(e.Fields)+1)
	for k, v := range e.Fields {
		if isHeader(k) || k == "artefacts" {
			return nil, fmt.Errorf("%w: field %q is reserved", ErrEntry, k)
		}
		if !fieldRE.MatchString(k) {
			return nil, fmt.Errorf("%w: field name %q (want lowercase letters, digits and _)", ErrEntry, k)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrEntry, k, err)
		}
		rest[k] = c.Bytes()
	}
	if len(e.Artefacts) > 0 {
		for _, a := range e.Artefacts {
			if err := a.validate(); err != nil {
				return nil, err
			}
		}
		raw, err := json.Marshal(e.Artefacts)
		if err != nil {
			return nil, err
		}
		rest["artefacts"] = raw
	}
	keys := make([]string, 0, len(rest))
	for k := range rest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%q:%s", k, rest[k])
	}
	b.WriteByte('}')
	if b.Len() > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d (store large data as an artefact)", ErrEntry, b.Len(), MaxEntrySize)
	}
	return b.Bytes(), nil
}

func isHeader(k string) bool {
	for _, h := range headerFields {
		if h == k {
			return true
		}
	}
	return false
}

func (e *Entry) validateHeader() error {
	if !kindRE.MatchString(e.Kind) {
		return fmt.Errorf("%w: kind %q (want dotted lowercase words, e.g. step.done)", ErrEntry, e.Kind)
	}
	if e.Seq == 0 && e.Prev != "" {
		return fmt.Errorf("%w: entry 0 has a prev hash", ErrEntry)
	}
	if e.Seq > 0 && !sha256RE.MatchString(e.Prev) {
		return fmt.Errorf("%w: prev %q is not a lowercase hex SHA-256", ErrEntry, e.Prev)
	}
	if e.Time.IsZero() || e.Time.Year() < 2000 || e.Time.Year() > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrEntry, e.Time)
	}
	return nil
}

func (a ArtefactRef) validate() error {
	if !sha256RE.MatchString(a.SHA256) {
		return fmt.Errorf("%w: artefact %q: sha256 %q is not lowercase hex", ErrEntry, a.Name, a.SHA256)
	}
	if a.Name == "" || len(a.Name) > 255 || strings.ContainsAny(a.Name, "/\\\x00\n") {
		return fmt.Errorf("%w: artefact name %q (want a plain file name)", ErrEntry, a.Name)
	}
	if a.Size < 0 {
		return fmt.Errorf("%w: artefact %q: negative size", ErrEntry, a.Name)
	}
	return nil
}

// ParseEntry parses and checks one entry. It is strict: the input must be a
// single JSON object of at most MaxEntrySize bytes, in valid UTF-8, with no
// duplicate keys, the header fields first and of the right types.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrEntry, len(data), MaxEntrySize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrEntry)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: not a JSON object", ErrEntry)
	}
	e := &Entry{Fields: map[string]json.RawMessage{}}
	seen := map[string]bool{}
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrEntry, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("%w: duplicate field %q", ErrEntry, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrEntry, key, err)
		}
		if i < len(headerFields) {
			if key != headerFields[i] {
				return nil, fmt.Errorf("%w: field %d is %q, want %q", ErrEntry, i, key, headerFields[i])
			}
			if err := e.setHeader(key, raw); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case isHeader(key):
			return nil, fmt.Errorf("%w: duplicate field %q", ErrEntry, key)
		case key == "artefacts":
			if err := strictUnmarshal(raw, &e.Artefacts); err != nil {
				return nil, fmt.Errorf("%w: artefacts: %v", ErrEntry, err)
			}
			if len(e.Artefacts) == 0 {
				return nil, fmt.Errorf("%w: empty artefacts list", ErrEntry)
			}
			for _, a := range e.Artefacts {
				if err := a.validate(); err != nil {
					return nil, err
				}
			}
		case !fieldRE.MatchString(key):
			return nil, fmt.Errorf("%w: field name %q", ErrEntry, key)
		default:
			e.Fields[key] = raw
		}
	}
	if len(seen) < len(headerFields) {
		return nil, fmt.Errorf("%w: missing header fields (want seq, time, prev, kind)", ErrEntry)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if _, err := dec.Token(); err == nil || dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrEntry)
	}
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Entry) setHeader(key string, raw json.RawMessage) error {
	switch key {
	case "seq":
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("%w: seq is not a number", ErrEntry)
		}
		s := n.String()
		if s != "0" && (strings.HasPrefix(s, "0") || strings.ContainsAny(s, ".eE+-")) {
			return fmt.Errorf("%w: seq %s is not a plain non-negative integer", ErrEntry, s)
		}
		var v uint64
		if _, err := fmt.Sscan(s, &v); err != nil || fmt.Sprint(v) != s {
			return fmt.Errorf("%w: seq %s is not a plain non-negative integer", ErrEntry, s)
		}
		e.Seq = v
	case "time":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: time is not a string", ErrEntry)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			return fmt.Errorf("%w: time %q is not RFC 3339 UTC (…Z)", ErrEntry, s)
		}
		e.Time = t.UTC()
	case "prev", "kind":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: %s is not a string", ErrEntry, key)
		}
		if key == "prev" {
			e.Prev = s
		} else {
			e.Kind = s
		}
	}
	return nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
