package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// plainDriver answers the line-by-line console's prompts as the people at
// the table would: it reads the prompt last written to out (the console
// writes each prompt before it reads) and gives answer's line; answer's
// false ends the input, which the console takes as the operator quitting.
type plainDriver struct {
	out    *bytes.Buffer
	answer func(prompt string) (string, bool)
	reads  int
}

func (d *plainDriver) Read(p []byte) (int, error) {
	if d.reads++; d.reads > 5000 {
		return 0, io.EOF // a prompt that never moves on
	}
	s := d.out.String()
	a, ok := d.answer(s[strings.LastIndex(s, "\n")+1:])
	if !ok {
		return 0, io.EOF
	}
	// The newline a terminal echoes ends the prompt's line; what was
	// typed is not echoed (it may be a passphrase).
	d.out.WriteString("\n")
	return copy(p, a+"\n"), nil
}

var (
	bagPrompt    = regexp.MustCompile(`^  (?:Serial|The serial) of the (new )?bag (?:holding|sealing) (.+?)(?:,| read)`)
	intactPrompt = regexp.MustCompile(`^  \S+: is bag \S+ intact`)
	typePrompt   = regexp.MustCompile(`^  Type (\S+) to `)
	secretPrompt = regexp.MustCompile(`^  (?:passphrase|card PIN) of card (\S+) \(`)
)

// atTable is what the table answers when the test has nothing else to say:
// each witness confirms (w), enter for steps and actions, everyone signs in,
// the confirmation is typed as asked, each bag's serial is read (one of the
// item's own, a new one for a new bag) and found intact. Anything else ends
// the input.
func atTable(prompt string) (string, bool) {
	switch {
	case bagPrompt.MatchString(prompt):
		m := bagPrompt.FindStringSubmatch(prompt)
		d := sha256.Sum256([]byte(m[2]))
		kind := "TEB-O"
		if m[1] != "" {
			kind = "TEB-S"
		}
		return fmt.Sprintf("%s%X", kind, d[:3]), true
	case intactPrompt.MatchString(prompt):
		return "y", true
	case strings.HasPrefix(prompt, "  [w] "):
		return "w", true
	case strings.HasPrefix(prompt, "  [enter] "):
		return "", true
	case strings.HasPrefix(prompt, "  Contingencies that apply"):
		return "", true // none
	case strings.HasPrefix(prompt, "  Name of the "):
		return "Participant " + prompt[strings.LastIndex(prompt, "(")+1:strings.LastIndex(prompt, ")")], true
	case typePrompt.MatchString(prompt):
		return typePrompt.FindStringSubmatch(prompt)[1], true
	}
	return "", false
}

// presenting answers card prompts with the given card numbers in turn and
// each card's secret from secrets (by card id); then it is atTable.
func presenting(cards []string, secrets map[string]string) func(prompt string) (string, bool) {
	return func(prompt string) (string, bool) {
		switch {
		case strings.HasPrefix(prompt, "  Card "):
			if len(cards) == 0 {
				return "", false
			}
			c := cards[0]
			cards = cards[1:]
			return c, true
		case secretPrompt.MatchString(prompt):
			s, ok := secrets[secretPrompt.FindStringSubmatch(prompt)[1]]
			return s, ok
		case cosignPrompt.MatchString(prompt):
			// The officers come back to cosign the final checkpoint,
			// the next one named first.
			return cosignPrompt.FindStringSubmatch(prompt)[1], true
		}
		return atTable(prompt)
	}
}

// cosignPrompt asks for the next officer's card to cosign the final
// checkpoint; its group is that officer's number (COn is card n).
var cosignPrompt = regexp.MustCompile(`^  Officer's card to cosign, CO(\d+)`)
