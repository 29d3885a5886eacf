package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/ui"
)

// runTranscript prints the annotated script of a ceremony from its log:
// every step with when it was done and by which entry, every card, every
// exception, the artefacts' hashes and the final checkpoint. It is built only
// from a log that verifies.
func runTranscript(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("transcript", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "md", "md or html")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (*format != "md" && *format != "html") {
		return usageErr("usage: keyceremony transcript DIR [--format md|html]")
	}
	dir := pos[0]
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErr("transcript: %s is not a log folder", dir)
	}
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil {
		return operational(err)
	}
	if f := rep.FirstFailure(); f != nil {
		return badInput(fmt.Errorf("transcript %s: the log does not verify (%s: %s); run keyceremony verify %s", dir, f.ID, f.Detail, dir))
	}
	script, entries, err := scriptOfLog(dir, rep)
	if err != nil {
		if errors.Is(err, errNoScript) {
			return badInput(fmt.Errorf("transcript %s: %v", dir, err))
		}
		return badInput(fmt.Errorf("transcript %s: %v", dir, err))
	}
	st, err := ceremony.Replay(script, entries)
	if err != nil {
		return badInput(fmt.Errorf("transcript %s: %v", dir, err))
	}
	t := buildTranscript(script, entries, st, rep)
	if *format == "html" {
		return t.html(stdout)
	}
	return t.markdown(stdout)
}

type transcript struct {
	script *ceremony.Script
	st     ceremony.State
	rep    *transparency.Report
	done   map[string]*event.Entry // step id -> its step.done entry
	events map[string][]string     // step id -> what else the log records at it
}

func buildTranscript(script *ceremony.Script, entries []*event.Entry, st ceremony.State, rep *transparency.Report) *transcript {
	t := &transcript{script: script, st: st, rep: rep, done: map[string]*event.Entry{}, events: map[string][]string{}}
	for _, e := range entries {
		step := event.StepOf(e.Event)
		switch {
		case e.Kind() == event.KindStepDone:
			t.done[step] = e
		case step != "":
			line := fmt.Sprintf("%s #%d %s", e.Time.Format("15:04:05"), e.Seq, event.Describe(e))
			for _, a := range e.Artefacts {
				d := mustHex(a.SHA256)
				line += fmt.Sprintf(" — %s SHA-256 %s (%s)", a.Name, ui.GroupHex(a.SHA256), dnssec.PGPWords(d[:8]))
			}
			t.events[step] = append(t.events[step], line)
		}
	}
	return t
}

func (t *transcript) markdown(w io.Writer) error {
	s, rep := t.script, t.rep
	state := t.stateLine()
	fmt.Fprintf(w, "# Transcript: %s\n\n", s.Ceremony)
	fmt.Fprintf(w, "- Log origin `%s`%s\n- Log key fingerprint `%s`\n- Script `%s`, SHA-256 `%s`\n- %d entries; final checkpoint size %d, root `%s`\n  (%s)\n- Ceremony %s\n\n",
		rep.Origin, rehearsalNote(rep), ui.GroupHex(rep.KeyFingerprint), s.Name, ui.GroupHex(s.Digest), len(rep.RawEntries), rep.Size,
		ui.GroupHex(fmt.Sprintf("%x", rep.Root)), dnssec.PGPWords(rep.Root), state)
	if t.st.Participants != nil {
		fmt.Fprintf(w, "## Participants\n\n| role | title | name |\n|---|---|---|\n")
		for _, r := range s.Roles {
			name := t.st.Participants[r.ID]
			if name == "" {
				name = "absent"
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", r.ID, r.Title, strings.ReplaceAll(name, "|", "\\|"))
		}
		fmt.Fprintln(w)
	}
	for i, a := range s.Acts {
		fmt.Fprintf(w, "## Act %d: %s\n\n| step | role | text | witnessed by | done (UTC) | entry |\n|---|---|---|---|---|---|\n", i+1, a.Title)
		for _, st := range a.Steps {
			when, entry := "—", "—"
			if e, ok := t.done[st.ID]; ok {
				when, entry = e.Time.Format("2006-01-02 15:04:05"), fmt.Sprintf("#%d", e.Seq)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", st.ID, st.Role, strings.ReplaceAll(st.Text, "|", "\\|"), strings.Join(st.Witnesses, ", "), when, entry)
			for _, ev := range t.events[st.ID] {
				fmt.Fprintf(w, "| | | ↳ %s | | | |\n", strings.ReplaceAll(ev, "|", "\\|"))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "## Exceptions\n\n")
	if len(t.st.Exceptions) == 0 {
		fmt.Fprintln(w, "None were recorded.")
	}
	for _, e := range t.st.Exceptions {
		fmt.Fprintf(w, "- step %s, %s UTC: %s\n", e.Step, e.Time.Format("2006-01-02 15:04:05"), e.Text)
	}
	fmt.Fprintf(w, "\n## Deviations\n\n")
	if len(t.st.Skipped)+len(t.st.Repeated) == 0 {
		fmt.Fprintln(w, "No step was skipped or repeated, and the ceremony was not aborted.")
	}
	for _, d := range t.st.Repeated {
		fmt.Fprintf(w, "- step %s repeated, %s UTC, confirmed by %s: %s\n", d.Step, d.Time.Format("2006-01-02 15:04:05"), d.Witness, d.Reason)
	}
	for _, d := range t.st.Skipped {
		switch d.Kind {
		case "skipped":
			fmt.Fprintf(w, "- step %s skipped, %s UTC, confirmed by %s: %s\n", d.Step, d.Time.Format("2006-01-02 15:04:05"), d.Witness, d.Reason)
		case "not applicable":
			fmt.Fprintf(w, "- step %s does not apply (%s)\n", d.Step, d.Reason)
		default:
			fmt.Fprintf(w, "- step %s left out by the abort at step %s, %s UTC: %s\n", d.Step, t.st.Aborted.Step, d.Time.Format("2006-01-02 15:04:05"), d.Reason)
		}
	}
	return nil
}

// stateLine says how far the ceremony went.
func (t *transcript) stateLine() string {
	state := "in progress (not closed)"
	if t.st.Closed {
		state = "closed"
	}
	if a := t.st.Aborted; a != nil {
		state = fmt.Sprintf("ABORTED at step %s (%s), %s", a.Step, a.Reason, state)
	}
	return fmt.Sprintf("%s: %d of %d steps done, %d passed over, %d exceptions, %d resumes", state,
		len(t.st.DoneAt)-len(t.st.Skipped), len(t.script.Steps()), len(t.st.Skipped), len(t.st.Exceptions), t.st.Resumes)
}

func (t *transcript) html(w io.Writer) error {
	e := html.EscapeString
	s, rep := t.script, t.rep
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Transcript: %s</title>\n<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse;width:100%%}td,th{border:1px solid #444;padding:.3em;vertical-align:top}.ev{color:#444;font-size:.9em}</style></head><body>\n", e(s.Ceremony))
	fmt.Fprintf(w, "<h1>Transcript: %s</h1>\n<ul><li>Log origin <code>%s</code>%s</li><li>Log key fingerprint <code>%s</code></li><li>Script <code>%s</code>, SHA-256 <code>%s</code></li><li>Final checkpoint size %d, root <code>%s</code><br>%s</li><li>Ceremony %s</li></ul>\n",
		e(s.Ceremony), e(rep.Origin), e(rehearsalNote(rep)), e(ui.GroupHex(rep.KeyFingerprint)), e(s.Name), e(ui.GroupHex(s.Digest)), rep.Size, e(ui.GroupHex(fmt.Sprintf("%x", rep.Root))), e(dnssec.PGPWords(rep.Root)), e(t.stateLine()))
	if t.st.Participants != nil {
		fmt.Fprintln(w, "<h2>Participants</h2>\n<table><tr><th>role</th><th>title</th><th>name</th></tr>")
		for _, r := range s.Roles {
			name := t.st.Participants[r.ID]
			if name == "" {
				name = "absent"
			}
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(r.ID), e(r.Title), e(name))
		}
		fmt.Fprintln(w, "</table>")
	}
	for i, a := range s.Acts {
		fmt.Fprintf(w, "<h2>Act %d: %s</h2>\n<table><tr><th>step</th><th>role</th><th>text</th><th>witnessed by</th><th>done (UTC)</th><th>entry</th></tr>\n", i+1, e(a.Title))
		for _, st := range a.Steps {
			when, entry := "—", "—"
			if d, ok := t.done[st.ID]; ok {
				when, entry = d.Time.Format("2006-01-02 15:04:05"), fmt.Sprintf("#%d", d.Seq)
			}
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s", e(st.ID), e(st.Role), e(st.Text))
			for _, ev := range t.events[st.ID] {
				fmt.Fprintf(w, "<div class=\"ev\">↳ %s</div>", e(ev))
			}
			fmt.Fprintf(w, "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(strings.Join(st.Witnesses, ", ")), when, entry)
		}
		fmt.Fprintln(w, "</table>")
	}
	fmt.Fprintln(w, "<h2>Exceptions</h2><ul>")
	for _, x := range t.st.Exceptions {
		fmt.Fprintf(w, "<li>step %s, %s UTC: %s</li>\n", e(x.Step), x.Time.Format("2006-01-02 15:04:05"), e(x.Text))
	}
	fmt.Fprintln(w, "</ul><h2>Deviations</h2><ul>")
	for _, d := range t.st.Repeated {
		fmt.Fprintf(w, "<li>step %s repeated, %s UTC, confirmed by %s: %s</li>\n", e(d.Step), d.Time.Format("2006-01-02 15:04:05"), e(d.Witness), e(d.Reason))
	}
	for _, d := range t.st.Skipped {
		if d.Kind == "not applicable" {
			fmt.Fprintf(w, "<li>step %s does not apply (%s)</li>\n", e(d.Step), e(d.Reason))
		} else if d.Kind == "skipped" {
			fmt.Fprintf(w, "<li>step %s skipped, %s UTC, confirmed by %s: %s</li>\n", e(d.Step), d.Time.Format("2006-01-02 15:04:05"), e(d.Witness), e(d.Reason))
		} else {
			fmt.Fprintf(w, "<li>step %s left out by the abort at step %s, %s UTC: %s</li>\n", e(d.Step), e(t.st.Aborted.Step), d.Time.Format("2006-01-02 15:04:05"), e(d.Reason))
		}
	}
	fmt.Fprintln(w, "</ul></body></html>")
	return nil
}

func rehearsalNote(rep *transparency.Report) string {
	if rep.Rehearsal {
		return " — a REHEARSAL log"
	}
	return ""
}
