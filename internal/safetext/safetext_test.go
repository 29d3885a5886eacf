package safetext

import (
	"fmt"
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

func TestMarkdown(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, 2.3 done", "plain text, 2.3 done"},
		{"<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"},
		{"a|b *c* _d_ `e` [f](g) &amp; # h ~i~ ![j]", "a\\|b \\*c\\* \\_d\\_ \\`e\\` \\[f\\](g) \\&amp; # h \\~i\\~ !\\[j\\]"},
		{"line\nbreak\x1b[31m", "line\\\\x0abreak\\\\x1b\\[31m"},
		{"back\\slash", "back\\\\slash"},
	} {
		if got := Markdown(c.in); got != c.want {
			t.Errorf("Markdown(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add("<script>*x*</script>\x1b[2J\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		m := Markdown(s)
		// Every special character is escaped: none follows an even run of
		// backslashes.
		for i := 0; i < len(m); i++ {
			if strings.IndexByte(markdownSpecial, m[i]) < 0 || m[i] == '\\' {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && m[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Fatalf("Markdown(%q) = %q: %q at %d is not escaped", s, m, m[i], i)
			}
		}
		if Printable(m) != m {
			t.Fatalf("Markdown(%q) = %q is not printable", s, m)
		}
	})
}

func TestLines(t *testing.T) {
	var b strings.Builder
	w := Lines(&b)
	fmt.Fprintf(w, "id %s · domain .\n", "ksr\u202e-1")
	fmt.Fprintln(w, "plain line")
	if got, want := b.String(), "id ksr\\u202e-1 · domain .\nplain line\n"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
