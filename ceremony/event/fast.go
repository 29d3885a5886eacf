package event

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The fast path of ParseCanonical: a kind's fields decoded straight from
// JSON that the entry scanner has already validated, for the field types
// the kinds use (strings, booleans and pointers to them, integers, lists of
// strings, maps of strings, lists of structs of these). It decodes what
// encoding/json would for such JSON, and gives up (false) on anything else:
// a key the kind does not define, a type it does not know, a number that
// is not a plain integer. Whatever it decodes is then encoded again and
// compared byte for byte, so a difference from encoding/json's reading
// could only make ParseCanonical take the slow path, never accept other
// bytes.

// fastType is how one struct type is decoded (its fields by JSON name) and
// encoded (its fields in the order they are declared, and sorted by name
// for a kind's top level).
type fastType struct {
	typ      reflect.Type
	fields   map[string]fastField
	declared []fastField
	sorted   []fastField
}

type fastField struct {
	name      string
	omitempty bool
	index     []int
	typ       reflect.Type
	elem      *fastType // for a list of structs
}

// newFastType describes t, or returns nil when a field has a type the fast
// path does not decode.
func newFastType(t reflect.Type) *fastType {
	if t.Kind() != reflect.Struct {
		return nil
	}
	ft := &fastType{typ: t, fields: map[string]fastField{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" || (opts != "" && opts != "omitempty") {
			return nil
		}
		ff := fastField{name: name, omitempty: opts == "omitempty", index: f.Index, typ: f.Type}
		switch k := f.Type.Kind(); {
		case k == reflect.String, k == reflect.Bool, k == reflect.Int, k == reflect.Int64, k == reflect.Uint64:
		case k == reflect.Pointer && f.Type.Elem().Kind() == reflect.Bool:
		case k == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
		case k == reflect.Map && f.Type.Key().Kind() == reflect.String && f.Type.Elem().Kind() == reflect.String:
		case k == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if ff.elem = newFastType(f.Type.Elem()); ff.elem == nil {
				return nil
			}
		default:
			return nil
		}
		ft.fields[name] = ff
		ft.declared = append(ft.declared, ff)
	}
	ft.sorted = slices.Clone(ft.declared)
	slices.SortFunc(ft.sorted, func(a, b fastField) int { return strings.Compare(a.name, b.name) })
	return ft
}

// The fast encoder writes what Entry.Marshal writes, for the values whose
// encoding it knows for certain; for any other (a string that needs an
// escape, a number out of the ordinary) it says so (false), and Marshal
// must be asked.

// appendFast appends the canonical encoding of e, whose kind is encoded by
// ft, or returns false.
func appendFast(b []byte, e *Entry, ft *fastType) ([]byte, bool) {
	b = appendHeader(b, e.Seq, e.Time, e.Prev, e.Event.Kind())
	v := reflect.ValueOf(e.Event)
	arts := len(e.Artefacts) > 0
	ok := true
	for _, f := range ft.sorted {
		if arts && "artefacts" < f.name {
			if b, ok = appendArtefacts(b, e.Artefacts); !ok {
				return nil, false
			}
			arts = false
		}
		if b, ok = f.append(b, v.FieldByIndex(f.index), ','); !ok {
			return nil, false
		}
	}
	if arts {
		if b, ok = appendArtefacts(b, e.Artefacts); !ok {
			return nil, false
		}
	}
	return append(b, '}'), true
}

func appendArtefacts(b []byte, arts []Artefact) ([]byte, bool) {
	b = append(b, `,"artefacts":[`...)
	for i, a := range arts {
		if i > 0 {
			b = append(b, ',')
		}
		if !plainJSON(a.Name) || !plainJSON(a.SHA256) {
			return nil, false
		}
		b = append(b, `{"name":"`...)
		b = append(b, a.Name...)
		b = append(b, `","sha256":"`...)
		b = append(b, a.SHA256...)
		b = append(b, `","size":`...)
		b = strconv.AppendInt(b, a.Size, 10)
		b = append(b, '}')
	}
	return append(b, ']'), true
}

// append writes the field, preceded by sep when it is the first thing
// written after something else, unless omitempty leaves it out.
func (f fastField) append(b []byte, fv reflect.Value, sep byte) ([]byte, bool) {
	if f.omitempty && isEmpty(fv) {
		return b, true
	}
	if sep != 0 {
		b = append(b, sep)
	}
	b = append(b, '"')
	b = append(b, f.name...)
	b = append(b, '"', ':')
	return f.appendValue(b, fv)
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint64:
		return v.Uint() == 0
	case reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func (f fastField) appendValue(b []byte, v reflect.Value) ([]byte, bool) {
	switch v.Kind() {
	case reflect.String:
		return appendPlain(b, v.String())
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), true
	case reflect.Int, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), true
	case reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10), true
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, "null"...), true
		}
		return strconv.AppendBool(b, v.Elem().Bool()), true
	case reflect.Map:
		if v.IsNil() {
			return append(b, "null"...), true
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		b = append(b, '{')
		ok := true
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPlain(b, k); !ok {
				return nil, false
			}
			b = append(b, ':')
			if b, ok = appendPlain(b, v.MapIndex(reflect.ValueOf(k)).String()); !ok {
				return nil, false
			}
		}
		return append(b, '}'), true
	case reflect.Slice:
		if v.IsNil() {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		ok := true
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			e := v.Index(i)
			if f.elem == nil {
				if b, ok = appendPlain(b, e.String()); !ok {
					return nil, false
				}
				continue
			}
			b = append(b, '{')
			var sep byte
			for _, ef := range f.elem.declared {
				before := len(b)
				if b, ok = ef.append(b, e.FieldByIndex(ef.index), sep); !ok {
					return nil, false
				}
				if len(b) > before {
					sep = ','
				}
			}
			b = append(b, '}')
		}
		return append(b, ']'), true
	}
	return nil, false
}

// appendPlain writes s as a JSON string when encoding/json would write it
// as it is, between quotes; false when it would escape something.
func appendPlain(b []byte, s string) ([]byte, bool) {
	if !plainJSON(s) {
		return nil, false
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// plainJSON reports whether encoding/json writes s as it is: printable
// ASCII but for the quote, the backslash and the HTML characters it
// escapes, or valid UTF-8 beyond ASCII other than U+2028 and U+2029.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c == 0x7f {
				return false
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n - 1
	}
	return true
}

// decode reads the object at r's cursor into v, a settable struct value.
func (ft *fastType) decode(r *fastReader, v reflect.Value) bool {
	if !r.eat('{') {
		return false
	}
	if r.eat('}') {
		return true
	}
	for {
		key, ok := r.plainBytes()
		if !ok || !r.eat(':') {
			return false
		}
		f, known := ft.fields[string(key)]
		if !known || !f.set(r, v.FieldByIndex(f.index)) {
			return false
		}
		if r.eat('}') {
			return true
		}
		if !r.eat(',') {
			return false
		}
	}
}

// set reads one value into the field fv.
func (f fastField) set(r *fastReader, fv reflect.Value) bool {
	if r.null() {
		fv.SetZero()
		return true
	}
	switch f.typ.Kind() {
	case reflect.String:
		s, ok := r.string()
		fv.SetString(s)
		return ok
	case reflect.Bool:
		b, ok := r.bool()
		fv.SetBool(b)
		return ok
	case reflect.Pointer:
		b, ok := r.bool()
		fv.Set(reflect.ValueOf(&b))
		return ok
	case reflect.Int, reflect.Int64:
		n, ok := r.number()
		i, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || fv.OverflowInt(i) {
			return false
		}
		fv.SetInt(i)
		return true
	case reflect.Uint64:
		n, ok := r.number()
		u, err := strconv.ParseUint(n, 10, 64)
		if !ok || err != nil {
			return false
		}
		fv.SetUint(u)
		return true
	case reflect.Map:
		if !r.eat('{') {
			return false
		}
		m := reflect.MakeMap(f.typ)
		fv.Set(m)
		if r.eat('}') {
			return true
		}
		for {
			k, ok := r.string()
			if !ok || !r.eat(':') {
				return false
			}
			val, ok := r.string()
			if !ok {
				return false
			}
			m.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(val))
			if r.eat('}') {
				return true
			}
			if !r.eat(',') {
				return false
			}
		}
	case reflect.Slice:
		if !r.eat('[') {
			return false
		}
		s := reflect.MakeSlice(f.typ, 0, 4)
		if r.eat(']') {
			fv.Set(s)
			return true
		}
		for {
			e := reflect.New(f.typ.Elem()).Elem()
			if f.elem != nil {
				if !f.elem.decode(r, e) {
					return false
				}
			} else {
				str, ok := r.string()
				if !ok {
					return false
				}
				e.SetString(str)
			}
			s = reflect.Append(s, e)
			if r.eat(']') {
				fv.Set(s)
				return true
			}
			if !r.eat(',') {
				return false
			}
		}
	}
	return false
}

// fastReader reads compact JSON that has been validated; whitespace makes
// it give up (the canonical encoding has none).
type fastReader struct {
	b []byte
	i int
}

func (r *fastReader) eat(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *fastReader) null() bool {
	if strings.HasPrefix(string(r.b[r.i:min(r.i+4, len(r.b))]), "null") {
		r.i += 4
		return true
	}
	return false
}

func (r *fastReader) bool() (bool, bool) {
	switch {
	case strings.HasPrefix(string(r.b[r.i:min(r.i+4, len(r.b))]), "true"):
		r.i += 4
		return true, true
	case strings.HasPrefix(string(r.b[r.i:min(r.i+5, len(r.b))]), "false"):
		r.i += 5
		return false, true
	}
	return false, false
}

// number is a plain integer's digits, with its sign.
func (r *fastReader) number() (string, bool) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == start || r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return "", false
	}
	return string(r.b[start:r.i]), true
}

// plainBytes is a string without escapes (an object key), not copied.
func (r *fastReader) plainBytes() ([]byte, bool) {
	if !r.eat('"') {
		return nil, false
	}
	start := r.i
	for r.i < len(r.b) && r.b[r.i] != '"' {
		if r.b[r.i] == '\\' {
			return nil, false
		}
		r.i++
	}
	if r.i >= len(r.b) {
		return nil, false
	}
	r.i++
	return r.b[start : r.i-1], true
}

// plainString is plainBytes, copied.
func (r *fastReader) plainString() (string, bool) {
	b, ok := r.plainBytes()
	return string(b), ok
}

// string decodes a string value, escapes and all.
func (r *fastReader) string() (string, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	start := r.i
	r.i++
	for r.i < len(r.b) && r.b[r.i] != '"' {
		if r.b[r.i] == '\\' {
			r.i++
		}
		r.i++
	}
	if r.i >= len(r.b) {
		return "", false
	}
	r.i++
	s, err := jsonString(r.b[start:r.i])
	return s, err == nil
}

// artefactsType decodes an entry's artefacts on the direct path.
var artefactsType = fastField{name: "artefacts", typ: reflect.TypeFor[[]Artefact](), elem: newFastType(reflect.TypeFor[Artefact]())}

// parseDirect reads an entry that is in its canonical encoding, header
// and all, without the strict scanner: the caller encodes what it read
// again and compares, which is what proves the bytes well-formed. nil when
// the bytes are not laid out as the canonical encoding lays them out.
func parseDirect(data []byte) (*Entry, *fastType) {
	if len(data) > MaxEntrySize {
		return nil, nil
	}
	r := fastReader{b: data}
	lit := func(s string) bool {
		if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
			return false
		}
		r.i += len(s)
		return true
	}
	if !lit(`{"seq":`) {
		return nil, nil
	}
	n, ok := r.number()
	seq, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || !lit(`,"time":"`) || r.i+len(TimeFormat) > len(data) {
		return nil, nil
	}
	tm, ok := parseTime(string(data[r.i : r.i+len(TimeFormat)]))
	r.i += len(TimeFormat)
	if !ok || !lit(`","prev":"`) {
		return nil, nil
	}
	prev, ok := r.plainString0()
	if !ok || !lit(`,"kind":"`) {
		return nil, nil
	}
	kind, ok := r.plainString0()
	if !ok {
		return nil, nil
	}
	k, known := byKind[kind]
	if !known || k.fast == nil {
		return nil, nil
	}
	v := reflect.New(k.fast.typ).Elem()
	var arts []Artefact
	for !r.eat('}') {
		if !r.eat(',') {
			return nil, nil
		}
		key, ok := r.plainBytes()
		if !ok || !r.eat(':') {
			return nil, nil
		}
		if string(key) == "artefacts" {
			if !artefactsType.set(&r, reflect.ValueOf(&arts).Elem()) {
				return nil, nil
			}
			continue
		}
		f, known := k.fast.fields[string(key)]
		if !known || !f.set(&r, v.FieldByIndex(f.index)) {
			return nil, nil
		}
	}
	if r.i != len(data) {
		return nil, nil
	}
	h := Header{Seq: seq, Time: tm, Prev: prev, Kind: kind, Artefacts: arts}
	if h.validate() != nil {
		return nil, nil
	}
	for _, a := range arts {
		if a.Validate() != nil {
			return nil, nil
		}
	}
	ev, ok := v.Interface().(Event)
	if !ok {
		return nil, nil
	}
	return &Entry{Seq: seq, Time: tm, Prev: prev, Event: ev, Artefacts: arts}, k.fast
}

// plainString0 is the rest of a string whose opening quote has been read.
func (r *fastReader) plainString0() (string, bool) {
	r.i--
	if r.i < 0 || r.b[r.i] != '"' {
		return "", false
	}
	return r.plainString()
}
