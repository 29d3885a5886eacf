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
	"github.com/keyceremony/keyceremony/scripts"
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
		fmt.Fprintf(stdout, "%s: valid · %s · %d acts, %d steps · SHA-256 %s\n", args[1], s.Ceremony, len(s.Acts), len(s.Steps()), dnssec.GroupHex(s.Digest))
		switch {
		case s.RosterMissing:
			fmt.Fprintf(stdout, "the quorum is the roster %s, not found here: its cards are checked when the ceremony runs\n", s.RosterFile)
		case s.RosterFile != "":
			fmt.Fprintf(stdout, "the quorum is the roster %s: %d of %d cards\n", s.RosterFile, s.Quorum.Threshold, len(s.Quorum.Cards))
		}
		return nil
	case "render":
		fs := newFlags("script render", "", stderr)
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
			return ceremony.RenderHTML(stdout, s)
		}
		return ceremony.RenderMarkdown(stdout, s)
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
