package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxEntrySize is the largest entry a log holds: tlog-tiles entry bundles
// prefix each entry with a uint16 length.
const MaxEntrySize = 65535

// TimeFormat is how entry times are written: UTC, RFC 3339, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// ErrEntry reports bytes that are not a well-formed entry.
var ErrEntry = errors.New("malformed entry")

// ErrUnknownKind reports an entry of a kind this package does not define:
// a log written by another tool, or by a newer version of this one.
var ErrUnknownKind = errors.New("unknown entry kind")

// headerFields are the fields every entry starts with, in this order.
var headerFields = [...]string{"seq", "time", "prev", "kind"}

// Entry is one record of a ceremony log: the header the log writes when it
// appends the entry, what the entry records, and the files it cites.
type Entry struct {
	Seq  uint64    // index in the log
	Time time.Time // UTC, millisecond precision
	// Prev is the previous entry's RFC 6962 leaf hash in hex, empty for
	// entry 0: the hash chain.
	Prev string
	// Event is what the entry records: a value of one of this package's
	// kind types.
	Event Event
	// Artefacts are the files the entry cites, each stored under
	// artefacts/sha256/<hex> beside the log.
	Artefacts []Artefact
}

// Kind is the entry's kind, e.g. step.done.
func (e *Entry) Kind() string { return e.Event.Kind() }

// Header is an entry without what its kind records: what the log layer
// checks (the hash chain, the times, the artefacts) without knowing kinds.
type Header struct {
	Seq       uint64
	Time      time.Time
	Prev      string
	Kind      string
	Artefacts []Artefact
}

// Artefact names a file that an entry cites, by content.
type Artefact struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Marshal encodes the entry: the header first, then the kind's fields and
// the artefacts sorted by name, compact, with no trailing newline.
func (e *Entry) Marshal() ([]byte, error) {
	if e.Event == nil {
		return nil, fmt.Errorf("%w: no event", ErrEntry)
	}
	h := Header{Seq: e.Seq, Time: e.Time, Prev: e.Prev, Kind: e.Event.Kind(), Artefacts: e.Artefacts}
	if err := h.validate(); err != nil {
		return nil, err
	}
	if _, ok := byKind[h.Kind]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, h.Kind)
	}
	obj, err := json.Marshal(e.Event)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEntry, h.Kind, err)
	}
	fields, err := topLevel(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEntry, h.Kind, err)
	}
	if len(e.Artefacts) > 0 {
		for _, a := range e.Artefacts {
			if err := a.Validate(); err != nil {
				return nil, err
			}
		}
		raw, err := json.Marshal(e.Artefacts)
		if err != nil {
			return nil, err
		}
		fields = append(fields, field{"artefacts", raw})
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].key < fields[j].key })
	for i := 1; i < len(fields); i++ {
		if fields[i].key == fields[i-1].key {
			return nil, fmt.Errorf("%w: %s: field %q twice", ErrEntry, h.Kind, fields[i].key)
		}
	}
	// The field names need no escape: they are the kinds' own.
	b := appendHeader(make([]byte, 0, len(obj)+160), h.Seq, h.Time, h.Prev, h.Kind)
	for _, f := range fields {
		b = append(b, ',', '"')
		b = append(b, f.key...)
		b = append(b, '"', ':')
		b = append(b, f.raw...)
	}
	b = append(b, '}')
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d (store large data as an artefact)", ErrEntry, len(b), MaxEntrySize)
	}
	return b, nil
}

// appendHeader writes the opening of an entry's encoding: its header, in
// order. The values need no escape: prev is hex, the kind dotted
// lower-case words (both checked before).
func appendHeader(b []byte, seq uint64, t time.Time, prev, kind string) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"time":"`...)
	b = appendTime(b, t)
	b = append(b, `","prev":"`...)
	b = append(b, prev...)
	b = append(b, `","kind":"`...)
	b = append(b, kind...)
	return append(b, '"')
}

// field is one member of a JSON object: its name and its value's bytes.
type field struct {
	key string
	raw []byte
}

// topLevel splits the compact JSON object that encoding/json wrote for a
// kind into its members, in order. Its names are the kinds' JSON tags,
// plain words.
func topLevel(obj []byte) ([]field, error) {
	bad := errors.New("not a compact JSON object")
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, bad
	}
	var out []field
	i := 1
	for i < len(obj)-1 {
		if obj[i] != '"' {
			return nil, bad
		}
		j := bytes.IndexByte(obj[i+1:], '"')
		if j < 0 || obj[i+1+j+1] != ':' {
			return nil, bad
		}
		key := string(obj[i+1 : i+1+j])
		if strings.ContainsRune(key, '\\') {
			return nil, bad
		}
		start := i + 1 + j + 2
		end, err := valueEnd(obj, start)
		if err != nil {
			return nil, err
		}
		out = append(out, field{key, obj[start:end]})
		i = end
		if obj[i] == ',' {
			i++
		}
	}
	return out, nil
}

// valueEnd is the index just after the JSON value that starts at i in
// compact, valid JSON.
func valueEnd(b []byte, i int) (int, error) {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
		case ',':
			if depth == 0 {
				return i, nil
			}
		}
		if depth == 0 && (b[i] == '"' || b[i] == '}' || b[i] == ']') {
			if i+1 < len(b) && (b[i+1] == ',' || b[i+1] == '}') {
				return i + 1, nil
			}
		}
	}
	return 0, errors.New("a JSON value runs past the object")
}

// Parse parses and checks one entry and decodes what its kind records. It
// is strict: the input must be a single JSON object (RFC 8259) of at most
// MaxEntrySize bytes, in valid UTF-8, nested at most maxDepth deep, with no
// duplicate keys, the header first and of the right types, and only the
// fields its kind defines, each of its type. An entry of a kind this
// package does not define is an error wrapping ErrUnknownKind.
func Parse(data []byte) (*Entry, error) {
	h, fields, err := scan(data, true)
	if err != nil {
		return nil, err
	}
	k, ok := byKind[h.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: entry %d: %q", ErrUnknownKind, h.Seq, h.Kind)
	}
	ev, err := k.decode(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d (%s): %v", ErrEntry, h.Seq, h.Kind, err)
	}
	return &Entry{Seq: h.Seq, Time: h.Time, Prev: h.Prev, Event: ev, Artefacts: h.Artefacts}, nil
}

// ErrNotCanonical reports an entry that Parse reads but that is not the
// one encoding Marshal writes for it.
var ErrNotCanonical = errors.New("entry not in its canonical encoding")

// ParseCanonical is Parse for bytes that must be the entry's canonical
// encoding: what Parse reads is encoded again, and any difference is an
// error wrapping ErrNotCanonical naming the first byte that differs.
func ParseCanonical(data []byte) (*Entry, error) {
	// Most entries of a log are canonical: decoded on the fast path and
	// encoded again, they are done. Any other goes the strict way, for
	// its error.
	if e, ft := parseDirect(data); e != nil {
		buf := encodeBuffers.Get().(*[]byte)
		enc, ok := appendFast((*buf)[:0], e, ft)
		same := ok && bytes.Equal(enc, data) && utf8.Valid(data)
		if ok {
			*buf = enc
		}
		encodeBuffers.Put(buf)
		if same {
			return e, nil
		}
	}
	e, err := Parse(data)
	if err != nil {
		return nil, err
	}
	want, err := e.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", ErrNotCanonical, e.Seq, err)
	}
	if !bytes.Equal(data, want) {
		i := 0
		for i < len(data) && i < len(want) && data[i] == want[i] {
			i++
		}
		return nil, fmt.Errorf("%w: entry %d: byte %d is %s, the canonical encoding has %s", ErrNotCanonical, e.Seq, i, near(data, i), near(want, i))
	}
	return e, nil
}

// encodeBuffers hold the bytes ParseCanonical encodes to compare, reused.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// near quotes the bytes of b from i, a few of them, for a message.
func near(b []byte, i int) string {
	if i >= len(b) {
		return "the end"
	}
	end := min(i+12, len(b))
	return strconv.Quote(string(b[i:end]))
}

// ParseHeader checks that data is a well-formed entry of any kind, as Parse
// does, and returns its header and artefacts only: what the log layer needs,
// at a fraction of Parse's cost.
func ParseHeader(data []byte) (*Header, error) {
	h, _, err := scan(data, false)
	return h, err
}

// scan reads an entry's JSON; with fields it also returns the kind's fields
// as one JSON object, for the kind's decoder.
func scan(data []byte, fields bool) (*Header, []byte, error) {
	if len(data) > MaxEntrySize {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrEntry, len(data), MaxEntrySize)
	}
	if !utf8.Valid(data) {
		return nil, nil, fmt.Errorf("%w: not valid UTF-8", ErrEntry)
	}
	sc := jsonScanner{b: data}
	h, obj, err := sc.entry(fields)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if err := h.validate(); err != nil {
		return nil, nil, err
	}
	return h, obj, nil
}

func (h *Header) validate() error {
	if !isKind(h.Kind) {
		return fmt.Errorf("%w: kind %q (want dotted lowercase words, e.g. step.done)", ErrEntry, h.Kind)
	}
	if h.Seq == 0 && h.Prev != "" {
		return fmt.Errorf("%w: entry 0 has a prev hash", ErrEntry)
	}
	if h.Seq > 0 && !IsSHA256Hex(h.Prev) {
		return fmt.Errorf("%w: prev %q is not a lowercase hex SHA-256", ErrEntry, h.Prev)
	}
	if y := h.Time.Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrEntry, h.Time)
	}
	return nil
}

// Validate checks that an artefact reference can be written in an entry: a
// plain file name, a lowercase hex SHA-256, a size.
func (a Artefact) Validate() error {
	if !IsSHA256Hex(a.SHA256) {
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

// isFieldName: a lowercase letter, then lowercase letters, digits and _.
func isFieldName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isKind: field names joined by dots, e.g. step.done.
func isKind(s string) bool {
	for {
		part, rest, more := strings.Cut(s, ".")
		if !isFieldName(part) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// IsSHA256Hex reports whether s is 64 lowercase hex digits, as entries write
// every digest.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isHeader(k string) bool {
	for _, h := range headerFields {
		if h == k {
			return true
		}
	}
	return false
}

func (h *Header) setHeader(key string, raw []byte) error {
	switch key {
	case "seq":
		s := string(raw)
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || (s != "0" && s[0] == '0') {
			return fmt.Errorf("seq %s is not a plain non-negative integer", s)
		}
		h.Seq = v
	case "time":
		s, err := jsonString(raw)
		if err != nil {
			return errors.New("time is not a string")
		}
		if t, ok := parseTime(s); ok {
			h.Time = t
			break
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			return fmt.Errorf("time %q is not RFC 3339 UTC (…Z)", s)
		}
		h.Time = t.UTC()
	case "prev", "kind":
		s, err := jsonString(raw)
		if err != nil {
			return fmt.Errorf("%s is not a string", key)
		}
		if key == "prev" {
			h.Prev = s
		} else {
			h.Kind = s
		}
	}
	return nil
}

// jsonString decodes a JSON string value, quickly when it has no escapes.
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// strictUnmarshal decodes raw into v, refusing fields v does not define.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	return nil
}

// parseTime reads a time in TimeFormat exactly (what every entry holds),
// without time.Parse's generality; ok is false for anything else, which
// time.Parse then reads or refuses.
func parseTime(s string) (time.Time, bool) {
	if len(s) != len(TimeFormat) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, hh, mm, ss, ms := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 || ms < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, ms*1e6, time.UTC)
	if t.Day() != d || int(t.Month()) != mo || t.Year() != y {
		return time.Time{}, false // a day the month does not have
	}
	return t, true
}

// appendTime writes t in TimeFormat: UTC, milliseconds, as
// t.UTC().AppendFormat(b, TimeFormat) does, faster.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hh, mm, ss := t.Clock()
	ms := t.Nanosecond() / 1e6
	digits := func(b []byte, v, n int) []byte {
		for i := n - 1; i >= 0; i-- {
			b = append(b, 0)
		}
		for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
			b[i] = byte('0' + v%10)
			v /= 10
		}
		return b
	}
	b = digits(b, y, 4)
	b = append(b, '-')
	b = digits(b, int(mo), 2)
	b = append(b, '-')
	b = digits(b, d, 2)
	b = append(b, 'T')
	b = digits(b, hh, 2)
	b = append(b, ':')
	b = digits(b, mm, 2)
	b = append(b, ':')
	b = digits(b, ss, 2)
	b = append(b, '.')
	b = digits(b, ms, 3)
	return append(b, 'Z')
}
