package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
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
	// Prev is the previous entry's leaf hash in hex (see PrevHash), empty for entry 0.
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

// isSHA256Hex: 64 lowercase hex digits.
func isSHA256Hex(s string) bool {
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

// ErrEntry reports an entry that is not a well-formed log entry.
var ErrEntry = errors.New("malformed entry")

// PrevHash is the value the following entry's prev field holds: the entry's
// RFC 6962 leaf hash, SHA-256(0x00 || entry), in hex. It is the same hash as
// the entry's place in the level-0 tile, so whoever holds an entry and the
// tile before it can check the chain link without the previous entry.
func PrevHash(entry []byte) string {
	h := LeafHash(entry)
	return hex.EncodeToString(h[:])
}

// SHA256Hex is the hex SHA-256 of data, as sha256sum prints it.
func SHA256Hex(data []byte) string {
	d := sha256.Sum256(data)
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
		if !isFieldName(k) {
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
	if !isKind(e.Kind) {
		return fmt.Errorf("%w: kind %q (want dotted lowercase words, e.g. step.done)", ErrEntry, e.Kind)
	}
	if e.Seq == 0 && e.Prev != "" {
		return fmt.Errorf("%w: entry 0 has a prev hash", ErrEntry)
	}
	if e.Seq > 0 && !isSHA256Hex(e.Prev) {
		return fmt.Errorf("%w: prev %q is not a lowercase hex SHA-256", ErrEntry, e.Prev)
	}
	if y := e.Time.Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrEntry, e.Time)
	}
	return nil
}

func (a ArtefactRef) validate() error {
	if !isSHA256Hex(a.SHA256) {
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
// single JSON object (RFC 8259) of at most MaxEntrySize bytes, in valid UTF-8,
// nested at most maxDepth deep, with no duplicate keys and the header fields
// first and of the right types. The entry keeps a copy of data.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrEntry, len(data), MaxEntrySize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrEntry)
	}
	return parseEntry(bytes.Clone(data), true)
}

// parseEntry parses an entry that the caller no longer changes. Without
// withFields it checks the whole entry but keeps only the header and the
// artefacts (what the verifier needs), which is much cheaper.
func parseEntry(data []byte, withFields bool) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrEntry, len(data), MaxEntrySize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrEntry)
	}
	sc := jsonScanner{b: data}
	e, err := sc.entry(withFields)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	return e, nil
}

// maxDepth bounds the nesting of JSON values inside an entry.
const maxDepth = 32

// entry reads the top-level object of an entry.
func (s *jsonScanner) entry(withFields bool) (*Entry, error) {
	s.ws()
	if !s.eat('{') {
		return nil, errors.New("not a JSON object")
	}
	e := &Entry{}
	if withFields {
		e.Fields = make(map[string]json.RawMessage, 8)
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0] // few fields: a linear search beats a map
	s.ws()
	for i := 0; !s.eat('}'); i++ {
		if i > 0 {
			if !s.eat(',') {
				return nil, s.errorf("want , or }")
			}
			s.ws()
		}
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		s.ws()
		if !s.eat(':') {
			return nil, s.errorf("want :")
		}
		s.ws()
		start := s.i
		if err := s.value(1); err != nil {
			return nil, err
		}
		raw := json.RawMessage(s.b[start:s.i])
		s.ws()
		for _, k := range seen {
			if bytes.Equal(k, key) {
				return nil, fmt.Errorf("duplicate field %q", key)
			}
		}
		seen = append(seen, key)
		if i < len(headerFields) {
			if string(key) != headerFields[i] {
				return nil, fmt.Errorf("field %d is %q, want %q", i, key, headerFields[i])
			}
			if err := e.setHeader(headerFields[i], raw); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case isHeader(string(key)):
			return nil, fmt.Errorf("duplicate field %q", key)
		case string(key) == "artefacts":
			if err := strictUnmarshal(raw, &e.Artefacts); err != nil {
				return nil, fmt.Errorf("artefacts: %v", err)
			}
			// Exactly as written: name, sha256, size, in that order and case.
			if canon, err := json.Marshal(e.Artefacts); err != nil || !bytes.Equal(canon, raw) {
				return nil, errors.New("artefacts are not written as [{\"name\":…,\"sha256\":…,\"size\":…}]")
			}
			if len(e.Artefacts) == 0 {
				return nil, errors.New("empty artefacts list")
			}
			for _, a := range e.Artefacts {
				if err := a.validate(); err != nil {
					return nil, err
				}
			}
		case !isFieldName(string(key)):
			return nil, fmt.Errorf("field name %q", key)
		case withFields:
			e.Fields[string(key)] = raw
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, s.errorf("data after the JSON object")
	}
	if len(seen) < len(headerFields) {
		return nil, errors.New("missing header fields (want seq, time, prev, kind)")
	}
	return e, nil
}

// jsonScanner validates and walks JSON text (RFC 8259) in one pass.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: "+format, append([]any{s.i}, args...)...)
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jsonScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key reads an object key. Keys of entries are plain lowercase words, so an
// escape sequence in a key is refused rather than decoded.
func (s *jsonScanner) key() ([]byte, error) {
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return nil, err
	}
	if escaped {
		return nil, fmt.Errorf("field name %s has an escape sequence", s.b[start:s.i])
	}
	return s.b[start+1 : s.i-1], nil
}

// str checks a string at the cursor and moves past it; escaped reports
// whether it holds escape sequences.
func (s *jsonScanner) str() (escaped bool, err error) {
	if !s.eat('"') {
		return false, s.errorf("want a string")
	}
	for s.i < len(s.b) {
		// Skip the plain bytes in one go; stop at a quote, backslash or control.
		for s.i < len(s.b) && plainStringByte[s.b[s.i]] {
			s.i++
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c < 0x20:
			return false, s.errorf("control character in a string")
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return false, s.errorf("unfinished escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return false, s.errorf("bad \\u escape")
				}
				s.i += 6
			default:
				return false, s.errorf("bad escape")
			}
		default:
			s.i++
		}
	}
	return false, s.errorf("unfinished string")
}

// plainStringByte marks the bytes that stand for themselves inside a JSON string.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// value checks any JSON value at the cursor and moves past it.
func (s *jsonScanner) value(depth int) error {
	if s.i >= len(s.b) {
		return s.errorf("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return s.errorf("nested deeper than %d", maxDepth)
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.ws()
		var keys keySet
		for n := 0; !s.eat(end); n++ {
			if n > 0 {
				if !s.eat(',') {
					return s.errorf("want , or %c", end)
				}
				s.ws()
			}
			if c == '{' {
				start := s.i
				escaped, err := s.str()
				if err != nil {
					return err
				}
				if err := keys.add(s.b[start:s.i], escaped); err != nil {
					return s.errorf("%v", err)
				}
				s.ws()
				if !s.eat(':') {
					return s.errorf("want :")
				}
				s.ws()
			}
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
		}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			s.i += len(lit)
			return nil
		}
	}
	return s.errorf("want a value")
}

// keySet finds duplicate keys in one JSON object: a short list, a map once
// the object is large.
type keySet struct {
	list []string
	set  map[string]bool
}

func (k *keySet) add(raw []byte, escaped bool) error {
	key := string(raw[1 : len(raw)-1])
	if escaped {
		if err := json.Unmarshal(raw, &key); err != nil {
			return err
		}
	}
	if k.set == nil && len(k.list) >= 16 {
		k.set = make(map[string]bool, 32)
		for _, v := range k.list {
			k.set[v] = true
		}
	}
	if k.set != nil {
		if k.set[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		k.set[key] = true
		return nil
	}
	if slices.Contains(k.list, key) {
		return fmt.Errorf("duplicate key %q", key)
	}
	k.list = append(k.list, key)
	return nil
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	s.eat('-')
	if s.eat('0') {
		if s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			return s.errorf("number with a leading zero")
		}
	} else if digits() == 0 {
		return s.errorf("bad number")
	}
	if s.eat('.') && digits() == 0 {
		return s.errorf("bad number")
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

func (e *Entry) setHeader(key string, raw json.RawMessage) error {
	switch key {
	case "seq":
		s := string(raw)
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || (s != "0" && s[0] == '0') {
			return fmt.Errorf("%w: seq %s is not a plain non-negative integer", ErrEntry, s)
		}
		e.Seq = v
	case "time":
		s, err := jsonString(raw)
		if err != nil {
			return fmt.Errorf("%w: time is not a string", ErrEntry)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			return fmt.Errorf("%w: time %q is not RFC 3339 UTC (…Z)", ErrEntry, s)
		}
		e.Time = t.UTC()
	case "prev", "kind":
		s, err := jsonString(raw)
		if err != nil {
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

// jsonString decodes a JSON string value, quickly when it has no escapes.
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
