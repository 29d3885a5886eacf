package event

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/keyceremony/keyceremony/internal/safetext"
)

// Variant is one way of describing an entry of a kind: Text, when every
// condition in If holds.
//
// Text is literal but for {expr}, replaced by the value of expr. A condition
// is expr (the value is not empty: a non-empty string or list, a number
// other than 0, true), !expr (it is empty) or expr==word. An expr is a field
// name (as the entry writes it; artefacts for the cited files) followed by
// filters, each after a |:
//
//	join            a list as "a, b, c"
//	none            a list as join does, or "none" when it is empty
//	count           the number of items of a list or map
//	names           the name of each item of a list (of artefacts)
//	where:key:word  the items of a list whose field key is word
//	quote           a string as a JSON string, quoted
//
// The web page renders the same table with the same rules (describe() in
// its script), so that every viewer reads the words the console shows.
type Variant struct {
	If   []string `json:"if,omitempty"`
	Text string   `json:"text"`
}

// Describe says in one line what an entry records, for people.
func Describe(e *Entry) string {
	if e == nil || e.Event == nil {
		return ""
	}
	k, ok := byKind[e.Kind()]
	if !ok {
		return e.Kind()
	}
	data, err := fieldsOf(e)
	if err != nil {
		return e.Kind()
	}
	for _, v := range k.Describe {
		if v.holds(data) {
			// The fields are what the log says: untrusted, shown escaped.
			return safetext.Printable(render(v.Text, data))
		}
	}
	return e.Kind()
}

// fieldsOf is the entry's fields as JSON values, numbers kept as written.
func fieldsOf(e *Entry) (map[string]any, error) {
	b, err := json.Marshal(e.Event)
	if err != nil {
		return nil, err
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return nil, err
	}
	if len(e.Artefacts) > 0 {
		var arts []any
		for _, a := range e.Artefacts {
			arts = append(arts, map[string]any{"name": a.Name, "sha256": a.SHA256, "size": json.Number(itoa(a.Size))})
		}
		data["artefacts"] = arts
	}
	return data, nil
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func (v Variant) holds(data map[string]any) bool {
	for _, c := range v.If {
		not := strings.HasPrefix(c, "!")
		c = strings.TrimPrefix(c, "!")
		var ok bool
		if expr, word, eq := strings.Cut(c, "=="); eq {
			ok = text(eval(expr, data)) == word
		} else {
			ok = truthy(eval(c, data))
		}
		if ok == not {
			return false
		}
	}
	return true
}

func render(tmpl string, data map[string]any) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			break
		}
		b.WriteString(tmpl[:open])
		b.WriteString(text(eval(tmpl[open+1:open+end], data)))
		tmpl = tmpl[open+end+1:]
	}
	b.WriteString(tmpl)
	return b.String()
}

// eval is a field's value passed through the filters.
func eval(expr string, data map[string]any) any {
	parts := strings.Split(expr, "|")
	val := data[parts[0]]
	for _, f := range parts[1:] {
		name, arg, _ := strings.Cut(f, ":")
		list, _ := val.([]any)
		switch name {
		case "join":
			val = join(list)
		case "none":
			if val = join(list); val == "" {
				val = "none"
			}
		case "count":
			n := len(list)
			if m, ok := val.(map[string]any); ok {
				n = len(m)
			}
			val = json.Number(itoa(int64(n)))
		case "names":
			var out []any
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					out = append(out, m["name"])
				}
			}
			val = out
		case "where":
			key, word, _ := strings.Cut(arg, ":")
			var out []any
			for _, item := range list {
				if m, ok := item.(map[string]any); ok && text(m[key]) == word {
					out = append(out, item)
				}
			}
			val = out
		case "quote":
			var q bytes.Buffer
			enc := json.NewEncoder(&q)
			enc.SetEscapeHTML(false)
			enc.Encode(text(val))
			val = strings.TrimSuffix(q.String(), "\n")
		default:
			val = nil
		}
	}
	return val
}

func join(list []any) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = text(v)
	}
	return strings.Join(s, ", ")
}

// text is a value as it is shown.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []any:
		return join(v)
	}
	return ""
}

func truthy(v any) bool {
	switch v := v.(type) {
	case string:
		return v != ""
	case json.Number:
		return v != "0"
	case bool:
		return v
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return false
}
