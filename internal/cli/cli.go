// Package cli is the keyceremony command: one file per command group, each
// parsing its flags, calling the library, printing, and mapping the error to
// an exit code of the command contract.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/transparency"
)

// Exit codes of the command contract.
const (
	exitOK          = 0
	exitBadInput    = 1 // the input was checked and is bad
	exitUsage       = 2 // usage or configuration error
	exitOperational = 3 // operational failure (HSM, I/O)
)

// cliError carries the exit code of a failure; its message is the one line
// the user sees.
type cliError struct {
	code int
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &cliError{exitUsage, fmt.Errorf(format, args...)}
}

func badInput(err error) error    { return &cliError{exitBadInput, err} }
func operational(err error) error { return &cliError{exitOperational, err} }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitOperational
}

// errHelpShown ends a command whose flags asked for help.
var errHelpShown = errors.New("help shown")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// hooks are what tests inject into the commands that write a log; the
// command itself runs with none.
type hooks struct {
	// disk fails chosen fsyncs and renames of the log, the SKR and rosters.
	disk durable.Disk
	// afterDurable is called with each entry the moment it is durable.
	afterDurable func(transparency.Appended)
}

func commands(h hooks) []command {
	return []command{
		{"demo", "rehearsal on embedded defaults: writes and verifies a sample rehearsal log", func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
			return runDemo(ctx, h, args, stdin, stdout, stderr)
		}},
		{"verify", "verify a log folder offline: signature, tiles, root, hash chain, artefacts, consistency", runVerify},
		{"serve", "publish a log folder read-only over HTTP: tiles, checkpoint, live events and a page that verifies in the browser", runServe},
		{"watch", "follow a ceremony live from its log folder or URL, read-only, verifying every checkpoint", runWatch},
		{"run", "a ceremony on the profile's HSM with the officers' cards: the console, or --plain prompts; resumes a log", func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
			return runCeremony(ctx, h, args, stdin, stdout, stderr)
		}},
		{"transcript", "the annotated script built from a verified log: each step's time and entry, cards, hashes, exceptions", runTranscript},
		{"anchor", "export trust anchors and DS records (anchor export; anchor rekor: not built yet)", runAnchor},
		{"ksr", "check a key signing request against IANA's policy checks (ksr check), or sign it (ksr sign)", runKSR},
		{"skr", "verify a signed key response against trust anchors (skr verify)", runSKR},
		{"script", "validate a ceremony script strictly (script check), or print it for the participants (script render)", runScript},
		{"cards", "crypto officer cards: card files, roster, token PIN (cards provision); new officers (cards reissue)", runCards},
		{"hsm", "the profile's token: its keys with key tags and DS (hsm inventory); a new KSK (hsm keygen)", runHSM},
	}
}

// Main runs the keyceremony command with its arguments (without the
// program's name) and returns its exit code (see the exit codes above); a
// failure is one line on stderr.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyceremony:", err)
	}
	return exitCode(err)
}

// run is the whole program: it parses the subcommand and runs it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runWith(ctx, hooks{}, args, stdin, stdout, stderr)
}

// runWith is run with what a test injects.
func runWith(ctx context.Context, h hooks, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	noCoreDumps()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		if len(args) == 0 {
			return usageErr("no command given")
		}
		return nil
	}
	for _, c := range commands(h) {
		if c.name != args[0] {
			continue
		}
		if c.run == nil {
			return usageErr("%s is not built yet; see README.md for what works today", c.name)
		}
		err := c.run(ctx, args[1:], stdin, stdout, stderr)
		if errors.Is(err, errHelpShown) {
			return nil
		}
		return err
	}
	return usageErr("unknown command %q; run keyceremony help", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyceremony COMMAND [arguments]")
	fmt.Fprintln(w)
	for _, c := range commands(hooks{}) {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}

// newFlags is a command's flag set: errors and help go to stderr, and help
// starts with the usage line when there is one.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprintln(stderr, usage)
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses flags that may come before or after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelpShown
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
