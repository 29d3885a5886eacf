package ceremony

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/keyceremony/keyceremony/dnssec"
)

// printed is a script as its printable copy shows it, worded once for both
// formats.
type printed struct {
	*Script
	DigestGroups, DigestWords string
	Cards                     []printedCard
	Acts                      []printedAct
	Close                     []printedClose
}

type printedClose struct {
	N    int
	Text string
}

type printedCard struct{ ID, Holder, State string }

type printedAct struct {
	N     int
	Title string
	Steps []printedStep
}

type printedStep struct {
	Step
	Action, Confirm, When, Unless string // what the paper adds to the step's text
	Shows                         string // what the screen shows to read aloud
	WitnessedBy                   string
}

func newPrinted(s *Script) printed {
	d, _ := hex.DecodeString(s.Digest)
	p := printed{Script: s, DigestGroups: dnssec.GroupHex(s.Digest), DigestWords: dnssec.PGPWords(d)}
	if q := s.Quorum; q != nil {
		for _, c := range q.Cards {
			state := "enrolled"
			if c.Revoked {
				state = "revoked"
			}
			p.Cards = append(p.Cards, printedCard{c.ID, c.Holder, state})
		}
	}
	for i, a := range s.Acts {
		title := a.Title
		if a.Always {
			title += " (runs even if the ceremony is aborted)"
		}
		pa := printedAct{N: i + 1, Title: title}
		for _, st := range a.Steps {
			ps := printedStep{Step: st, When: st.When, Unless: st.Unless, Confirm: st.Confirm, WitnessedBy: strings.Join(st.Witnesses, ", "), Shows: showsText(st)}
			if st.Action != "" {
				ps.Action = st.Action + stepDetails(st)
			}
			pa.Steps = append(pa.Steps, ps)
		}
		p.Acts = append(p.Acts, pa)
	}
	for i, c := range CloseSequence(s) {
		p.Close = append(p.Close, printedClose{i + 1, c})
	}
	return p
}

// CloseSequence is what happens after the script's last step, in order,
// as the printed script and the console say it: the roll call and the
// officers' cosignatures (for a script with a quorum), the final checkpoint
// read aloud, then the script's after_close lines. The log ends with the
// close; what follows it is on paper and on the stream.
func CloseSequence(s *Script) []string {
	var out []string
	if s.Quorum != nil {
		out = append(out,
			"Roll call: the CA names each crypto officer who presented a card; one who has gone is marked absent.",
			"The CA closes the ceremony: the log's last entry. Each officer here presents their card once more to cosign the final checkpoint.")
	} else {
		out = append(out, "The CA closes the ceremony: the log's last entry.")
	}
	read := "The CA reads the final checkpoint aloud from the screen: its size and its root in hex and words"
	if s.Quorum != nil {
		read += ", and the officers who cosigned it"
	}
	out = append(out, read+".")
	return append(out, s.AfterClose...)
}

// triggerText says, for the paper, when a contingency is taken and what
// it does ("" for one without a trigger).
func triggerText(c Contingency) string {
	if c.Trigger == "" {
		return ""
	}
	what := map[string]string{TriggerCustody: "a bag not as sealed, or an item out of reach", TriggerQuorumShort: "fewer officers signed in than the quorum needs", TriggerHSMFailure: "the HSM refusing its activation"}[c.Trigger]
	if len(c.Items) > 0 {
		what += " (" + strings.Join(c.Items, ", ") + ")"
	}
	then := map[string]string{ThenAbort: "the ceremony is aborted", ThenContinue: "the ceremony goes on"}[c.Then]
	return fmt.Sprintf("offered when the log shows %s; %s", what, then)
}

// triggerMarkdown is triggerText as the Markdown copy adds it to the
// situation's text.
func triggerMarkdown(c Contingency) string {
	if t := triggerText(c); t != "" {
		return " *(" + t + ")*"
	}
	return ""
}

// bagOnRecord is the bag the script records for an item.
func bagOnRecord(it Item) string {
	if it.Bag == "" {
		return "the previous ceremony's"
	}
	return it.Bag
}

// showsText says what a step's screen shows, for the paper.
func showsText(st Step) string {
	var parts []string
	for _, s := range st.Show {
		parts = append(parts, map[string]string{ShowLogKey: "the log key's fingerprint", ShowFirstCheckpoint: "the first checkpoint"}[s])
	}
	return strings.Join(parts, " and ")
}

// stepDetails are a step's parameters and expected hash, for the paper.
func stepDetails(st Step) string {
	var parts []string
	keys := make([]string, 0, len(st.Params))
	for k := range st.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+" "+st.Params[k])
	}
	if st.Expect != nil {
		parts = append(parts, "hash#1 "+dnssec.GroupHex(strings.ToLower(st.Expect.SHA256)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// RenderMarkdown writes the script for its participants, in Markdown: the
// script's hash to compare, the roles and the cards, every step with a
// column for the witness's initials, and the exceptions and sign-off
// tables.
func RenderMarkdown(w io.Writer, s *Script) error {
	p := newPrinted(s)
	var b bytes.Buffer
	cell := func(t string) string { return strings.ReplaceAll(t, "|", "\\|") }
	fmt.Fprintf(&b, "# %s\n\nZone `%s` · script `%s`\n\nSHA-256 `%s`\n\n%s\n\n", s.Ceremony, s.Zone, s.Name, p.DigestGroups, p.DigestWords)
	fmt.Fprintf(&b, "## Participants\n\n| role | title | name | signature |\n|---|---|---|---|\n")
	for _, r := range s.Roles {
		fmt.Fprintf(&b, "| %s | %s | | |\n", r.ID, r.Title)
	}
	if len(s.Contingencies) > 0 {
		fmt.Fprintf(&b, "\n## Contingencies\n\n| id | situation | applies (initials) |\n|---|---|---|\n")
		for _, c := range s.Contingencies {
			fmt.Fprintf(&b, "| %s | %s%s | |\n", c.ID, cell(c.Text), cell(triggerMarkdown(c)))
		}
	}
	if len(s.Custody) > 0 {
		fmt.Fprintf(&b, "\n## Custody\n\nEach bag's serial is read aloud and typed; the console compares it with the register.\n\n| item | kind | what | serial | bag on record | bag opened | new bag | IW initials |\n|---|---|---|---|---|---|---|---|\n")
		for _, it := range s.Custody {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | | | |\n", it.ID, it.Kind, cell(it.What), cell(it.Serial), cell(bagOnRecord(it)))
		}
	}
	switch q := s.Quorum; {
	case s.RosterMissing:
		fmt.Fprintf(&b, "\n## Crypto officers' cards\n\nThe roster `%s`, read when the ceremony runs; the log keeps a copy.\n", s.RosterFile)
	case q != nil:
		mode := "Each card is checked against the roster's commitments when it is presented"
		if q.Witnessed() {
			mode = "The HSM checks each card; a witness confirms each one it accepts"
		}
		fmt.Fprintf(&b, "\n## Crypto officers' cards: %d of %d\n\n%s.\n\n| card | holder | state | bag number | initials |\n|---|---|---|---|---|\n", q.Threshold, len(q.Cards), mode)
		for _, c := range p.Cards {
			fmt.Fprintf(&b, "| %s | %s | %s | | |\n", c.ID, cell(c.Holder), c.State)
		}
	}
	for _, a := range p.Acts {
		fmt.Fprintf(&b, "\n## Act %d: %s\n\n| step | role | text | witnessed by | time (UTC) | IW initials |\n|---|---|---|---|---|---|\n", a.N, a.Title)
		for _, st := range a.Steps {
			text := st.Text
			if st.Action != "" {
				text += fmt.Sprintf(" *(action: %s)*", st.Action)
			}
			if st.Confirm != "" {
				text += fmt.Sprintf(" **Type `%s` to confirm.**", st.Confirm)
			}
			if st.Shows != "" {
				text += fmt.Sprintf(" *(the screen shows %s)*", st.Shows)
			}
			if st.When != "" {
				text += fmt.Sprintf(" *(only if %s applies)*", st.When)
			}
			if st.Unless != "" {
				text += fmt.Sprintf(" *(passed over if %s applies)*", st.Unless)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | | |\n", st.ID, st.Role, cell(text), st.WitnessedBy)
		}
	}
	fmt.Fprintf(&b, "\n## The close\n\nAfter the last step; nothing after the close is logged.\n\n| | what happens | time (UTC) | IW initials |\n|---|---|---|---|\n")
	for _, c := range p.Close {
		fmt.Fprintf(&b, "| %d | %s | | |\n", c.N, cell(c.Text))
	}
	fmt.Fprintf(&b, "\n## Exceptions\n\n| step | time (UTC) | what was expected | what happened instead | actions and decisions |\n|---|---|---|---|---|\n| | | | | |\n")
	fmt.Fprintf(&b, "\n## Sign-off\n\nBy signing, each participant attests that this script, with the exceptions above, records the ceremony as it was carried out.\n\n| role | name | signature | date and time (UTC) |\n|---|---|---|---|\n")
	for _, r := range s.Roles {
		fmt.Fprintf(&b, "| %s | | | |\n", r.ID)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// RenderHTML writes the script for its participants as one HTML page,
// with the same content as RenderMarkdown.
func RenderHTML(w io.Writer, s *Script) error {
	return scriptHTML().Execute(w, newPrinted(s))
}

// scriptHTML is parsed on first use, not at every command's start.
var scriptHTML = sync.OnceValue(func() *template.Template {
	funcs := template.FuncMap{"triggerText": triggerText, "bagOnRecord": bagOnRecord}
	return template.Must(template.New("script").Funcs(funcs).Parse(scriptHTMLText))
})

const scriptHTMLText = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Ceremony}}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse;width:100%}td,th{border:1px solid #444;padding:.3em;vertical-align:top}code{font-size:1.1em}</style></head><body>
<h1>{{.Ceremony}}</h1>
<p>Zone <code>{{.Zone}}</code> · script <code>{{.Name}}</code></p>
<p>SHA-256 <code>{{.DigestGroups}}</code><br>{{.DigestWords}}</p>
<h2>Participants</h2>
<table><tr><th>role</th><th>title</th><th>name</th><th>signature</th></tr>
{{range .Roles}}<tr><td>{{.ID}}</td><td>{{.Title}}</td><td></td><td></td></tr>
{{end}}</table>
{{if .Contingencies}}<h2>Contingencies</h2>
<table><tr><th>id</th><th>situation</th><th>applies (initials)</th></tr>
{{range .Contingencies}}<tr><td>{{.ID}}</td><td>{{.Text}}{{with triggerText .}} <em>{{.}}</em>{{end}}</td><td></td></tr>
{{end}}</table>
{{end}}{{if .Custody}}<h2>Custody</h2>
<p>Each bag's serial is read aloud and typed; the console compares it with the register.</p>
<table><tr><th>item</th><th>kind</th><th>what</th><th>serial</th><th>bag on record</th><th>bag opened</th><th>new bag</th><th>IW initials</th></tr>
{{range .Custody}}<tr><td>{{.ID}}</td><td>{{.Kind}}</td><td>{{.What}}</td><td>{{.Serial}}</td><td>{{bagOnRecord .}}</td><td></td><td></td><td></td></tr>
{{end}}</table>
{{end}}{{if .Quorum}}<h2>Crypto officers' cards: {{.Quorum.Threshold}} of {{len .Cards}}</h2>
<table><tr><th>card</th><th>holder</th><th>state</th><th>bag number</th><th>initials</th></tr>
{{range .Cards}}<tr><td>{{.ID}}</td><td>{{.Holder}}</td><td>{{.State}}</td><td></td><td></td></tr>
{{end}}</table>
{{else if .RosterMissing}}<h2>Crypto officers' cards</h2>
<p>The roster <code>{{.RosterFile}}</code>, read when the ceremony runs; the log keeps a copy.</p>
{{end}}{{range .Acts}}<h2>Act {{.N}}: {{.Title}}</h2>
<table><tr><th>step</th><th>role</th><th>text</th><th>witnessed by</th><th>time (UTC)</th><th>IW initials</th></tr>
{{range .Steps}}<tr><td>{{.ID}}</td><td>{{.Role}}</td><td>{{.Text}}{{with .Action}} <em>(action: {{.}})</em>{{end}}{{with .Confirm}} <strong>Type <code>{{.}}</code> to confirm.</strong>{{end}}{{with .Shows}} <em>(the screen shows {{.}})</em>{{end}}{{with .When}} <em>(only if {{.}} applies)</em>{{end}}{{with .Unless}} <em>(passed over if {{.}} applies)</em>{{end}}</td><td>{{.WitnessedBy}}</td><td></td><td></td></tr>
{{end}}</table>
{{end}}<h2>The close</h2>
<p>After the last step; nothing after the close is logged.</p>
<table><tr><th></th><th>what happens</th><th>time (UTC)</th><th>IW initials</th></tr>
{{range .Close}}<tr><td>{{.N}}</td><td>{{.Text}}</td><td></td><td></td></tr>
{{end}}</table>
<h2>Exceptions</h2>
<table><tr><th>step</th><th>time (UTC)</th><th>what was expected</th><th>what happened instead</th><th>actions and decisions</th></tr>
<tr><td>&nbsp;</td><td></td><td></td><td></td><td></td></tr></table>
<h2>Sign-off</h2>
<p>By signing, each participant attests that this script, with the exceptions above, records the ceremony as it was carried out.</p>
<table><tr><th>role</th><th>name</th><th>signature</th><th>date and time (UTC)</th></tr>
{{range .Roles}}<tr><td>{{.ID}}</td><td></td><td></td><td></td></tr>
{{end}}</table>
</body></html>
`
