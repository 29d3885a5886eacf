package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
)

// Transcript is the annotated script of a verified ceremony log: every step
// with when it was done and by which entry, what else the log records at
// it (cards, hashes of the artefacts, exceptions), the participants, the
// deviations and the final checkpoint.
type Transcript struct {
	c   *Ceremony
	rep *transparency.Report
	// done is each step's step.done entry; events what else the log
	// records at each step, in words.
	done   map[string]*event.Entry
	events map[string][]string
	// stops are the console's stops and resumes, in words, in order.
	stops []string
}

// NewTranscript builds the transcript of a ceremony read from a log that
// verified (rep is its report).
func NewTranscript(c *Ceremony, rep *transparency.Report) *Transcript {
	t := &Transcript{c: c, rep: rep, done: map[string]*event.Entry{}, events: map[string][]string{}}
	for _, e := range c.Entries {
		step := event.StepOf(e.Event)
		switch ev := e.Event.(type) {
		case event.Stopped:
			step = ev.AtStep
		case event.Resumed:
			step = ev.AtStep
		}
		if k := e.Kind(); k == event.KindStopped || k == event.KindResumed {
			t.stops = append(t.stops, fmt.Sprintf("%s UTC, entry #%d: %s", e.Time.Format("2006-01-02 15:04:05"), e.Seq, event.Describe(e)))
		}
		switch {
		case e.Kind() == event.KindStepDone:
			t.done[step] = e
		case step != "":
			line := fmt.Sprintf("%s #%d %s", e.Time.Format("15:04:05"), e.Seq, event.Describe(e))
			for _, a := range e.Artefacts {
				d, _ := hex.DecodeString(a.SHA256)
				line += fmt.Sprintf(" — %s SHA-256 %s (%s)", a.Name, dnssec.GroupHex(a.SHA256), dnssec.PGPWords(d[:8]))
			}
			t.events[step] = append(t.events[step], line)
		}
	}
	return t
}

// row is a step as the transcript lists it.
type row struct {
	ID, Role, Text string
	Witnesses      string
	When           string // UTC, or —
	Entry          string // #n, or —
	Events         []string
}

type act struct {
	N     int
	Title string
	Rows  []row
}

// view is what both formats show, worded once.
type view struct {
	Ceremony, Origin, Rehearsal, Fingerprint, Script, ScriptDigest string
	Entries                                                        int
	Size                                                           uint64
	Root, RootWords, State                                         string
	Participants                                                   [][3]string // role, title, name
	Acts                                                           []act
	Exceptions, Deviations                                         []string
	// Custody is each item's bags in this ceremony, one line an item.
	Custody []string
}

func (t *Transcript) view() view {
	s, st, rep := t.c.Script, t.c.State, t.rep
	v := view{Ceremony: s.Ceremony, Origin: rep.Origin, Fingerprint: dnssec.GroupHex(rep.KeyFingerprint), Script: s.Name,
		ScriptDigest: dnssec.GroupHex(s.Digest), Entries: len(rep.RawEntries), Size: rep.Size,
		Root: dnssec.GroupHex(fmt.Sprintf("%x", rep.Root)), RootWords: dnssec.PGPWords(rep.Root), State: t.stateLine()}
	if rep.Rehearsal {
		v.Rehearsal = " — a REHEARSAL log"
	}
	if st.Participants != nil {
		for _, r := range s.Roles {
			name := st.Participants[r.ID]
			if name == "" {
				name = "absent"
			}
			v.Participants = append(v.Participants, [3]string{r.ID, r.Title, name})
		}
	}
	for i, a := range s.Acts {
		ac := act{N: i + 1, Title: a.Title}
		for _, step := range a.Steps {
			r := row{ID: step.ID, Role: step.Role, Text: step.Text, Witnesses: strings.Join(step.Witnesses, ", "), When: "—", Entry: "—",
				Events: slices.Clone(t.events[step.ID])}
			if e, ok := t.done[step.ID]; ok {
				r.When, r.Entry = e.Time.Format("2006-01-02 15:04:05"), fmt.Sprintf("#%d", e.Seq)
			}
			ac.Rows = append(ac.Rows, r)
		}
		v.Acts = append(v.Acts, ac)
	}
	for _, e := range st.Exceptions {
		v.Exceptions = append(v.Exceptions, fmt.Sprintf("step %s, %s UTC: %s", e.Step, e.Time.Format("2006-01-02 15:04:05"), e.Text))
	}
	v.Deviations = append(v.Deviations, t.stops...)
	for _, d := range st.Repeated {
		v.Deviations = append(v.Deviations, fmt.Sprintf("step %s repeated, %s UTC, confirmed by %s: %s", d.Step, d.Time.Format("2006-01-02 15:04:05"), d.Witness, d.Reason))
	}
	for _, d := range st.Skipped {
		switch d.Kind {
		case "skipped":
			v.Deviations = append(v.Deviations, fmt.Sprintf("step %s skipped, %s UTC, confirmed by %s: %s", d.Step, d.Time.Format("2006-01-02 15:04:05"), d.Witness, d.Reason))
		case "not applicable":
			v.Deviations = append(v.Deviations, fmt.Sprintf("step %s does not apply (%s)", d.Step, d.Reason))
		default:
			v.Deviations = append(v.Deviations, fmt.Sprintf("step %s left out by the abort at step %s, %s UTC: %s", d.Step, st.Aborted.Step, d.Time.Format("2006-01-02 15:04:05"), d.Reason))
		}
	}
	for _, b := range st.Bags {
		if b.What != "opened" && b.What != "sealed" {
			v.Deviations = append(v.Deviations, fmt.Sprintf("custody incident at step %s, %s UTC, confirmed by %s: %s", b.Step, b.Time.Format("2006-01-02 15:04:05"), b.Witness, ceremony.IncidentWords(b)))
		}
	}
	for _, c := range st.Invoked {
		v.Deviations = append(v.Deviations, fmt.Sprintf("contingency %s taken at step %s for %s, %s UTC, confirmed by %s (then %s): %s", c.Contingency, c.Step, c.Trigger, c.Time.Format("2006-01-02 15:04:05"), c.Witness, c.Then, c.Reason))
	}
	v.Custody = custodyLines(t.c)
	// Everything the log and its script say (titles, names, step texts,
	// texts typed at the prompts, reasons, artefact names) is shown
	// escaped; each format then escapes it by its own rules.
	v.each(safetext.Printable)
	return v
}

// each replaces every text of the view that came from the log or its
// script with f of it.
func (v *view) each(f func(string) string) {
	for _, p := range []*string{&v.Ceremony, &v.Origin, &v.Script, &v.State} {
		*p = f(*p)
	}
	for i := range v.Participants {
		for j := range v.Participants[i] {
			v.Participants[i][j] = f(v.Participants[i][j])
		}
	}
	for i := range v.Acts {
		a := &v.Acts[i]
		a.Title = f(a.Title)
		for j := range a.Rows {
			r := &a.Rows[j]
			r.ID, r.Role, r.Text, r.Witnesses = f(r.ID), f(r.Role), f(r.Text), f(r.Witnesses)
			for k := range r.Events {
				r.Events[k] = f(r.Events[k])
			}
		}
	}
	for _, list := range [][]string{v.Exceptions, v.Deviations, v.Custody} {
		for i := range list {
			list[i] = f(list[i])
		}
	}
}

// custodyLines say, for each item of the register at the opening or of the
// script, where it stood at the opening and what this ceremony did with its
// bags, in order.
func custodyLines(c *Ceremony) []string {
	var opening map[string]string
	if len(c.Entries) > 0 {
		if o, ok := c.Entries[0].Event.(event.Open); ok {
			opening = o.Custody
		}
	}
	st := c.State
	ids := slices.Sorted(maps.Keys(opening))
	for _, it := range c.Script.Custody {
		if !slices.Contains(ids, it.ID) {
			ids = append(ids, it.ID)
		}
	}
	var out []string
	for _, id := range ids {
		line := id
		if it, ok := c.Script.Item(id); ok {
			line += " (" + it.What + ")"
		}
		if bag, ok := opening[id]; ok {
			line += ": in bag " + bag + " at the opening"
		} else {
			line += ": no bag on record at the opening"
		}
		for _, b := range st.Bags {
			if b.Item != id {
				continue
			}
			switch b.What {
			case "opened":
				line += fmt.Sprintf(" → opened from bag %s at step %s", b.Bag, b.Step)
			case "sealed":
				line += fmt.Sprintf(" → sealed in bag %s at step %s", b.Bag, b.Step)
			default:
				line += fmt.Sprintf(" → INCIDENT at step %s: %s", b.Step, b.What)
			}
		}
		if bag, ok := st.Custody[id]; ok {
			line += "; at the end in bag " + bag
		} else {
			line += "; at the end in no bag"
		}
		out = append(out, line)
	}
	return out
}

// stateLine says how far the ceremony went.
func (t *Transcript) stateLine() string {
	st := t.c.State
	state := "in progress (not closed)"
	if st.Closed {
		state = "closed"
	}
	if a := st.Aborted; a != nil {
		state = fmt.Sprintf("ABORTED at step %s (%s), %s", a.Step, a.Reason, state)
	}
	return fmt.Sprintf("%s: %d of %d steps done, %d passed over, %s, %s, %s", state,
		len(st.DoneAt)-len(st.Skipped), len(t.c.Script.Steps()), len(st.Skipped), words.Count(len(st.Exceptions), "exception", "exceptions"),
		words.Count(st.Stops, "stop", "stops"), words.Count(st.Resumes, "resume", "resumes"))
}

// Markdown writes the transcript as Markdown.
func (t *Transcript) Markdown(w io.Writer) error {
	v := t.view()
	origin, script := code(v.Origin), code(v.Script)
	v.each(safetext.Markdown)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Transcript: %s\n\n", v.Ceremony)
	fmt.Fprintf(&b, "- Log origin %s%s\n- Log key fingerprint `%s`\n- Script %s, SHA-256 `%s`\n- %d entries; final checkpoint size %d, root `%s`\n  (%s)\n- Ceremony %s\n\n",
		origin, v.Rehearsal, v.Fingerprint, script, v.ScriptDigest, v.Entries, v.Size, v.Root, v.RootWords, v.State)
	if v.Participants != nil {
		fmt.Fprintf(&b, "## Participants\n\n| role | title | name |\n|---|---|---|\n")
		for _, p := range v.Participants {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", p[0], p[1], p[2])
		}
		fmt.Fprintln(&b)
	}
	for _, a := range v.Acts {
		fmt.Fprintf(&b, "## Act %d: %s\n\n| step | role | text | witnessed by | done (UTC) | entry |\n|---|---|---|---|---|---|\n", a.N, a.Title)
		for _, r := range a.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.ID, r.Role, r.Text, r.Witnesses, r.When, r.Entry)
			for _, ev := range r.Events {
				fmt.Fprintf(&b, "| | | ↳ %s | | | |\n", ev)
			}
		}
		fmt.Fprintln(&b)
	}
	if len(v.Custody) > 0 {
		fmt.Fprintf(&b, "## Custody\n\n")
		for _, c := range v.Custody {
			fmt.Fprintf(&b, "- %s\n", c)
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "## Exceptions\n\n")
	if len(v.Exceptions) == 0 {
		fmt.Fprintln(&b, "None were recorded.")
	}
	for _, e := range v.Exceptions {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	fmt.Fprintf(&b, "\n## Deviations\n\n")
	if len(v.Deviations) == 0 {
		fmt.Fprintln(&b, "No step was skipped or repeated, and the ceremony was not aborted.")
	}
	for _, d := range v.Deviations {
		fmt.Fprintf(&b, "- %s\n", d)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// code is printable text as a Markdown code span, or escaped text when a
// backtick would end the span early.
func code(s string) string {
	if strings.Contains(s, "`") {
		return safetext.Markdown(s)
	}
	return "`" + s + "`"
}

// HTML writes the transcript as one HTML page.
func (t *Transcript) HTML(w io.Writer) error {
	return transcriptHTML().Execute(w, t.view())
}

// transcriptHTML is parsed on first use, not at every command's start.
var transcriptHTML = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("transcript").Parse(transcriptHTMLText))
})

const transcriptHTMLText = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Transcript: {{.Ceremony}}</title>
<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse;width:100%}td,th{border:1px solid #444;padding:.3em;vertical-align:top}.ev{color:#444;font-size:.9em}</style></head><body>
<h1>Transcript: {{.Ceremony}}</h1>
<ul><li>Log origin <code>{{.Origin}}</code>{{.Rehearsal}}</li><li>Log key fingerprint <code>{{.Fingerprint}}</code></li><li>Script <code>{{.Script}}</code>, SHA-256 <code>{{.ScriptDigest}}</code></li><li>Final checkpoint size {{.Size}}, root <code>{{.Root}}</code><br>{{.RootWords}}</li><li>Ceremony {{.State}}</li></ul>
{{if .Participants}}<h2>Participants</h2>
<table><tr><th>role</th><th>title</th><th>name</th></tr>
{{range .Participants}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td><td>{{index . 2}}</td></tr>
{{end}}</table>
{{end}}{{range .Acts}}<h2>Act {{.N}}: {{.Title}}</h2>
<table><tr><th>step</th><th>role</th><th>text</th><th>witnessed by</th><th>done (UTC)</th><th>entry</th></tr>
{{range .Rows}}<tr><td>{{.ID}}</td><td>{{.Role}}</td><td>{{.Text}}{{range .Events}}<div class="ev">↳ {{.}}</div>{{end}}</td><td>{{.Witnesses}}</td><td>{{.When}}</td><td>{{.Entry}}</td></tr>
{{end}}</table>
{{end}}{{if .Custody}}<h2>Custody</h2><ul>
{{range .Custody}}<li>{{.}}</li>
{{end}}</ul>
{{end}}<h2>Exceptions</h2><ul>
{{range .Exceptions}}<li>{{.}}</li>
{{end}}</ul><h2>Deviations</h2><ul>
{{range .Deviations}}<li>{{.}}</li>
{{end}}</ul></body></html>
`
