package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"card CO2 (Bjorn Lindqvist)", "card CO2 (Bjorn Lindqvist)"},
		{"Zoë, Łukasz and 陈伟", "Zoë, Łukasz and 陈伟"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"line one\nline two\ttab\r", `line one\x0aline two\x09tab\x0d`},
		{"abc\u202edcba\u2066x\u2069", `abc\u202edcba\u2066x\u2069`},
		{"zero\u200bwidth\ufeff", `zero\u200bwidth\ufeff`},
		{"c1 \u009b31m del \x7f", `c1 \u009b31m del \x7f`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`},
		{"private \U000F0000", `private \U000f0000`},
	} {
		if got := Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzPrintable: whatever the input, the output is valid UTF-8 holding only
// characters shown as they are, and printable input comes out unchanged.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred", "\u202e", "\xff", "a\nb", "日本", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Printable(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if !shown(r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, out, r)
			}
		}
		if clean(s) && out != s {
			t.Fatalf("printable %q changed to %q", s, out)
		}
		if strings.ContainsRune(out, 0x1b) {
			t.Fatalf("an escape character survived: %q", out)
		}
	})
}
