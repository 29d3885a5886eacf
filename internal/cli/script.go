package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/scripts"
)

func runScriptCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("script check", "usage: keyceremony script check FILE", stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("script check", pos, "script file"); err != nil {
		return err
	}
	stdout = safetext.Lines(stdout) // the problems quote the script: escaped
	s, err := loadScript(pos[0])
	if err != nil {
		var se *ceremony.ScriptError
		if errors.As(err, &se) {
			for _, p := range se.Problems {
				fmt.Fprintln(stdout, p)
			}
			return badInput(fmt.Errorf("%s: %d problems; the first: %s", pos[0], len(se.Problems), se.Problems[0]))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: valid · %s · %d acts, %d steps · SHA-256 %s\n", pos[0], s.Ceremony, len(s.Acts), len(s.Steps()), dnssec.GroupHex(s.Digest))
	switch {
	case s.RosterMissing:
		fmt.Fprintf(stdout, "the quorum is the roster %s, not found here: its cards are checked when the ceremony runs\n", s.RosterFile)
	case s.RosterFile != "":
		fmt.Fprintf(stdout, "the quorum is the roster %s: %d of %d cards\n", s.RosterFile, s.Quorum.Threshold, len(s.Quorum.Cards))
	}
	return nil
}

func runScriptRender(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("script render", "usage: keyceremony script render NAME|FILE [--format md|html]", stderr)
	format := fs.String("format", "md", "md or html")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("script render", pos, "script name or file"); err != nil {
		return err
	}
	if *format != "md" && *format != "html" {
		return usageErr("script render: --format is md or html, not %q", *format)
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
		return ceremony.RenderHTML(stdout, s)
	}
	return ceremony.RenderMarkdown(stdout, s)
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
