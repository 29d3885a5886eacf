// Package safetext makes untrusted text safe to show: what a log, a
// folder, a server or a prompt gave reaches a terminal or a document only
// through it. It imports only the standard library, so that every package
// may use it.
package safetext

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s with every character that could act on a terminal or
// change how the text around it reads shown as an escape instead: control
// characters (C0 with newline and tab, DEL, C1), format characters (bidi
// overrides and isolates, zero-width characters), line and paragraph
// separators, surrogates, private-use and unassigned code points, and
// bytes that are not UTF-8. \x1b is written as the four characters
// `\x1b`, U+202E as `\u202e`. Printable text, spaces included, is kept as
// it is. The web page escapes the same way (printable() in its script).
func Printable(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case shown(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}

// shown reports whether a character is shown as it is: a graphic character
// (letter, mark, number, punctuation, symbol, space) that is not a format
// character.
func shown(r rune) bool {
	return unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r)
}

// clean reports whether s needs no escape: the common case, checked
// without building a new string.
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || !shown(r) {
			return false
		}
		i += n
	}
	return true
}

// Markdown returns s as Markdown text that reads as s and nothing more:
// Printable first, then every character that Markdown (CommonMark, with
// GitHub's tables) could read as markup or raw HTML escaped with a
// backslash: emphasis, code, links and images, headings, block quotes,
// table cells, HTML tags and entities. A newline never survives Printable,
// so no text can start a block of its own.
func Markdown(s string) string {
	s = Printable(s)
	if !strings.ContainsAny(s, markdownSpecial) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// markdownSpecial are the ASCII punctuation characters Markdown may read
// as markup anywhere in a line; a backslash before any of them is a
// literal character in CommonMark. The ones that are markup only at the
// start of a line (#, -, +, a digit's dot) are left alone: the documents
// never start a line with untrusted text.
const markdownSpecial = "\\`*_[]<>|&~"

// Lines is a writer that passes what it is given to w with every line made
// Printable: for a report whose lines quote what a file or a server said.
// Newlines separate lines and are kept; each Write is taken as whole
// characters (as fmt writes them).
func Lines(w io.Writer) io.Writer { return lines{w} }

type lines struct{ w io.Writer }

func (l lines) Write(p []byte) (int, error) {
	s := string(p)
	if clean(strings.ReplaceAll(s, "\n", "")) {
		return l.w.Write(p)
	}
	parts := strings.Split(s, "\n")
	for i, part := range parts {
		parts[i] = Printable(part)
	}
	if _, err := io.WriteString(l.w, strings.Join(parts, "\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}
