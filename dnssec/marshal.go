package dnssec

import (
	"bytes"
	"encoding/xml"
)

// Marshal writes the document as XML, with the XML declaration, indented.
func (d *Document) Marshal() ([]byte, error) {
	if d.Format != "" {
		return d.marshalText()
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
