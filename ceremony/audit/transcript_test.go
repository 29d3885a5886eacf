package audit

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
)

// TestTranscriptEscapesLogText: text the log carries (an exception typed at
// the prompt, a participant's name, a reason) reaches neither format raw:
// no terminal escape, bidi override or HTML tag in the Markdown, and none
// in the HTML but as escaped text.
func TestTranscriptEscapesLogText(t *testing.T) {
	fsys := os.DirFS("testdata/admin-log")
	rep, err := Verify(fsys, Options{})
	if err != nil || !rep.OK {
		t.Fatalf("%v %+v", err, rep.FirstFailure())
	}
	c, err := ReadCeremony(fsys, rep)
	if err != nil {
		t.Fatal(err)
	}
	hostile := "<script>alert(1)</script> *bold* \x1b[2J\u202eevil | cell"
	c.State.Exceptions = append(c.State.Exceptions, ceremony.Exception{Step: "1.1", Text: hostile, Time: time.Now()})
	for role := range c.State.Participants {
		c.State.Participants[role] = hostile
		break
	}
	var md, html bytes.Buffer
	tr := NewTranscript(c, rep)
	if err := tr.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := tr.HTML(&html); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"markdown": md.String(), "html": html.String()} {
		for _, bad := range []string{"\x1b", "\u202e", "<script>"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s holds %q raw", name, bad)
			}
		}
	}
	if !strings.Contains(md.String(), `\<script\>alert(1)\</script\> \*bold\* \\x1b\[2J\\u202eevil \| cell`) {
		t.Errorf("markdown: the exception is not escaped:\n%s", md.String())
	}
	if !strings.Contains(html.String(), `&lt;script&gt;alert(1)&lt;/script&gt; *bold* \x1b[2J\u202eevil | cell`) {
		t.Errorf("html: the exception is not escaped:\n%s", html.String())
	}
}
