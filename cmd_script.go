package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/ui"
)

func runScript(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("script: give a subcommand: check FILE, or render NAME|FILE")
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			return usageErr("usage: keyceremony script check FILE")
		}
		s, err := loadScript(args[1])
		if err != nil {
			var se *ceremony.ScriptError
			if errors.As(err, &se) {
				for _, p := range se.Problems {
					fmt.Fprintln(stdout, p)
				}
				return badInput(fmt.Errorf("%s: %d problems; the first: %s", args[1], len(se.Problems), se.Problems[0]))
			}
			return err
		}
		fmt.Fprintf(stdout, "%s: valid · %s · %d acts, %d steps · SHA-256 %s\n", args[1], s.Ceremony, len(s.Acts), len(s.Steps()), ui.GroupHex(s.Digest))
		switch {
		case s.RosterMissing:
			fmt.Fprintf(stdout, "the quorum is the roster %s, not found here: its cards are checked when the ceremony runs\n", s.RosterFile)
		case s.RosterFile != "":
			fmt.Fprintf(stdout, "the quorum is the roster %s: %d of %d cards\n", s.RosterFile, s.Quorum.Threshold, len(s.Quorum.Cards))
		}
		return nil
	case "render":
		fs := flag.NewFlagSet("script render", flag.ContinueOnError)
		fs.SetOutput(stderr)
		format := fs.String("format", "md", "md or html")
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 || (*format != "md" && *format != "html") {
			return usageErr("usage: keyceremony script render NAME|FILE [--format md|html]")
		}
		s, err := loadScript(pos[0])
		if err != nil {
			var se *ceremony.ScriptError
			if errors.As(err, &se) {
				return badInput(err)
			}
			return err
		}
		if *format == "html" {
			return renderHTML(stdout, s)
		}
		return renderMarkdown(stdout, s)
	}
	return usageErr("script: unknown subcommand %q (want check or render)", args[0])
}

// loadScript reads a script file, or a built-in script by name. A roster
// file the script names (quorum: roster.yaml) is read from beside a script
// file, from the current folder for a built-in script, or from roster when
// given.
func loadScript(nameOrFile string, roster ...string) (*ceremony.Script, error) {
	data, err := readInput(nameOrFile)
	name, dir := nameOrFile, filepath.Dir(nameOrFile)
	if err != nil {
		if b, berr := scripts.Get(nameOrFile); berr == nil {
			data, name, dir, err = b, strings.TrimSuffix(nameOrFile, ".yaml")+".yaml", ".", nil
		}
	}
	if err != nil {
		return nil, usageErr("%s: neither a file nor a built-in script: %v", nameOrFile, err)
	}
	return ceremony.LoadScriptWith(name, data, func(file string) ([]byte, error) {
		if len(roster) > 0 && roster[0] != "" {
			return readInput(roster[0])
		}
		return readInput(filepath.Join(dir, file))
	})
}

// renderMarkdown prints the script for the participants: the script's hash
// to compare, the roles, and every step with lines for the witness.
func renderMarkdown(w io.Writer, s *ceremony.Script) error {
	words := dnssec.PGPWords(mustHex(s.Digest))
	fmt.Fprintf(w, "# %s\n\nZone `%s` · script `%s`\n\nSHA-256 `%s`\n\n%s\n\n", s.Ceremony, s.Zone, s.Name, ui.GroupHex(s.Digest), words)
	fmt.Fprintf(w, "## Participants\n\n| role | title | name | signature |\n|---|---|---|---|\n")
	for _, r := range s.Roles {
		fmt.Fprintf(w, "| %s | %s | | |\n", r.ID, r.Title)
	}
	if len(s.Contingencies) > 0 {
		fmt.Fprintf(w, "\n## Contingencies\n\n| id | situation | applies (initials) |\n|---|---|---|\n")
		for _, c := range s.Contingencies {
			fmt.Fprintf(w, "| %s | %s | |\n", c.ID, strings.ReplaceAll(c.Text, "|", "\\|"))
		}
	}
	switch q := s.Quorum; {
	case s.RosterMissing:
		fmt.Fprintf(w, "\n## Crypto officers' cards\n\nThe roster `%s`, read when the ceremony runs; the log keeps a copy.\n", s.RosterFile)
	case q != nil:
		mode := "Each card is checked against the roster's commitments when it is presented"
		if q.Witnessed() {
			mode = "The HSM checks each card; a witness confirms each one it accepts"
		}
		fmt.Fprintf(w, "\n## Crypto officers' cards: %d of %d\n\n%s.\n\n| card | holder | state | bag number | initials |\n|---|---|---|---|---|\n", q.Threshold, len(q.Cards), mode)
		for _, c := range q.Cards {
			state := "enrolled"
			if c.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(w, "| %s | %s | %s | | |\n", c.ID, strings.ReplaceAll(c.Holder, "|", "\\|"), state)
		}
	}
	for i, a := range s.Acts {
		fmt.Fprintf(w, "\n## Act %d: %s%s\n\n| step | role | text | witnessed by | time (UTC) | IW initials |\n|---|---|---|---|---|---|\n", i+1, a.Title, alwaysNote(a))
		for _, st := range a.Steps {
			text := st.Text
			if st.Action != "" {
				text += fmt.Sprintf(" *(action: %s%s)*", st.Action, stepDetails(st))
			}
			if st.Confirm != "" {
				text += fmt.Sprintf(" **Type `%s` to confirm.**", st.Confirm)
			}
			if st.When != "" {
				text += fmt.Sprintf(" *(only if %s applies)*", st.When)
			}
			if st.Unless != "" {
				text += fmt.Sprintf(" *(passed over if %s applies)*", st.Unless)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | | |\n", st.ID, st.Role, strings.ReplaceAll(text, "|", "\\|"), strings.Join(st.Witnesses, ", "))
		}
	}
	fmt.Fprintf(w, "\n## Exceptions\n\n| step | time (UTC) | what was expected | what happened instead | actions and decisions |\n|---|---|---|---|---|\n| | | | | |\n")
	fmt.Fprintf(w, "\n## Sign-off\n\nBy signing, each participant attests that this script, with the exceptions above, records the ceremony as it was carried out.\n\n| role | name | signature | date and time (UTC) |\n|---|---|---|---|\n")
	for _, r := range s.Roles {
		fmt.Fprintf(w, "| %s | | | |\n", r.ID)
	}
	return nil
}

// alwaysNote marks an act that runs even after an abort.
func alwaysNote(a ceremony.Act) string {
	if a.Always {
		return " (runs even if the ceremony is aborted)"
	}
	return ""
}

// stepDetails are a step's parameters and expected hash, for the paper.
func stepDetails(st ceremony.Step) string {
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
		parts = append(parts, "hash#1 "+ui.GroupHex(strings.ToLower(st.Expect.SHA256)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func renderHTML(w io.Writer, s *ceremony.Script) error {
	e := html.EscapeString
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse;width:100%%}td,th{border:1px solid #444;padding:.3em;vertical-align:top}code{font-size:1.1em}</style></head><body>\n", e(s.Ceremony))
	fmt.Fprintf(w, "<h1>%s</h1>\n<p>Zone <code>%s</code> · script <code>%s</code></p>\n<p>SHA-256 <code>%s</code><br>%s</p>\n", e(s.Ceremony), e(s.Zone), e(s.Name), e(ui.GroupHex(s.Digest)), e(dnssec.PGPWords(mustHex(s.Digest))))
	fmt.Fprintf(w, "<h2>Participants</h2>\n<table><tr><th>role</th><th>title</th><th>name</th><th>signature</th></tr>\n")
	for _, r := range s.Roles {
		fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td></td><td></td></tr>\n", e(r.ID), e(r.Title))
	}
	fmt.Fprintln(w, "</table>")
	if q := s.Quorum; q != nil {
		fmt.Fprintf(w, "<h2>Crypto officers' cards: %d of %d</h2>\n<table><tr><th>card</th><th>holder</th><th>state</th><th>bag number</th><th>initials</th></tr>\n", q.Threshold, len(q.Cards))
		for _, c := range q.Cards {
			state := "enrolled"
			if c.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td><td></td><td></td></tr>\n", e(c.ID), e(c.Holder), state)
		}
		fmt.Fprintln(w, "</table>")
	} else if s.RosterMissing {
		fmt.Fprintf(w, "<h2>Crypto officers' cards</h2>\n<p>The roster <code>%s</code>, read when the ceremony runs; the log keeps a copy.</p>\n", e(s.RosterFile))
	}
	for i, a := range s.Acts {
		fmt.Fprintf(w, "<h2>Act %d: %s%s</h2>\n<table><tr><th>step</th><th>role</th><th>text</th><th>witnessed by</th><th>time (UTC)</th><th>IW initials</th></tr>\n", i+1, e(a.Title), e(alwaysNote(a)))
		for _, st := range a.Steps {
			text := e(st.Text)
			if st.Action != "" {
				text += " <em>(action: " + e(st.Action+stepDetails(st)) + ")</em>"
			}
			if st.Confirm != "" {
				text += " <strong>Type <code>" + e(st.Confirm) + "</code> to confirm.</strong>"
			}
			if st.When != "" {
				text += " <em>(only if " + e(st.When) + " applies)</em>"
			}
			if st.Unless != "" {
				text += " <em>(passed over if " + e(st.Unless) + " applies)</em>"
			}
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td></td><td></td></tr>\n", e(st.ID), e(st.Role), text, e(strings.Join(st.Witnesses, ", ")))
		}
		fmt.Fprintln(w, "</table>")
	}
	fmt.Fprintln(w, "<h2>Exceptions</h2>\n<table><tr><th>step</th><th>time (UTC)</th><th>what was expected</th><th>what happened instead</th><th>actions and decisions</th></tr>\n<tr><td>&nbsp;</td><td></td><td></td><td></td><td></td></tr></table>")
	fmt.Fprintln(w, "<h2>Sign-off</h2>\n<p>By signing, each participant attests that this script, with the exceptions above, records the ceremony as it was carried out.</p>\n<table><tr><th>role</th><th>name</th><th>signature</th><th>date and time (UTC)</th></tr>")
	for _, r := range s.Roles {
		fmt.Fprintf(w, "<tr><td>%s</td><td></td><td></td><td></td></tr>\n", e(r.ID))
	}
	fmt.Fprintln(w, "</table>\n</body></html>")
	return nil
}

func mustHex(h string) []byte {
	b, _ := hex.DecodeString(h)
	return b
}
