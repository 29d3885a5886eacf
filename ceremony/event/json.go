package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// maxDepth bounds the nesting of JSON values inside an entry.
const maxDepth = 32

// entry reads the top-level object of an entry: its header and artefacts,
// and, withFields, the kind's fields gathered into one JSON object.
func (s *jsonScanner) entry(withFields bool) (*Header, []byte, error) {
	s.ws()
	if !s.eat('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	e := &Header{}
	var obj []byte
	if withFields {
		obj = append(make([]byte, 0, len(s.b)), '{')
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0] // few fields: a linear search beats a map
	s.ws()
	for i := 0; !s.eat('}'); i++ {
		if i > 0 {
			if !s.eat(',') {
				return nil, nil, s.errorf("want , or }")
			}
			s.ws()
		}
		key, err := s.key()
		if err != nil {
			return nil, nil, err
		}
		s.ws()
		if !s.eat(':') {
			return nil, nil, s.errorf("want :")
		}
		s.ws()
		start := s.i
		if err := s.value(1); err != nil {
			return nil, nil, err
		}
		raw := s.b[start:s.i]
		s.ws()
		for _, k := range seen {
			if bytes.Equal(k, key) {
				return nil, nil, fmt.Errorf("duplicate field %q", key)
			}
		}
		seen = append(seen, key)
		if i < len(headerFields) {
			if string(key) != headerFields[i] {
				return nil, nil, fmt.Errorf("field %d is %q, want %q", i, key, headerFields[i])
			}
			if err := e.setHeader(headerFields[i], raw); err != nil {
				return nil, nil, fmt.Errorf("%v", err)
			}
			continue
		}
		switch {
		case isHeader(string(key)):
			return nil, nil, fmt.Errorf("duplicate field %q", key)
		case string(key) == "artefacts":
			if err := strictUnmarshal(raw, &e.Artefacts); err != nil {
				return nil, nil, fmt.Errorf("artefacts: %v", err)
			}
			// Exactly as written: name, sha256, size, in that order and case.
			if canon, err := json.Marshal(e.Artefacts); err != nil || !bytes.Equal(canon, raw) {
				return nil, nil, errors.New("artefacts are not written as [{\"name\":…,\"sha256\":…,\"size\":…}]")
			}
			if len(e.Artefacts) == 0 {
				return nil, nil, errors.New("empty artefacts list")
			}
			for _, a := range e.Artefacts {
				if err := a.Validate(); err != nil {
					return nil, nil, err
				}
			}
		case !isFieldName(string(key)):
			return nil, nil, fmt.Errorf("field name %q", key)
		case withFields:
			if len(obj) > 1 {
				obj = append(obj, ',')
			}
			obj = append(append(append(append(obj, '"'), key...), '"', ':'), raw...)
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, nil, s.errorf("data after the JSON object")
	}
	if len(seen) < len(headerFields) {
		return nil, nil, errors.New("missing header fields (want seq, time, prev, kind)")
	}
	if withFields {
		obj = append(obj, '}')
	}
	return e, obj, nil
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
