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
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/internal/safetext"
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

// A command is one of keyceremony's commands, or a group of subcommands
// (ksr check, ksr sign, …). Its usage line (after "keyceremony") and its
// summary are the ones the top-level help prints and README's command
// table repeats: TestREADMECommands fails when they drift apart.
type command struct {
	name    string
	usage   string // the synopsis, without "keyceremony "; "" for a group
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
	subs    []command // a group's subcommands
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
		{name: "demo", usage: "demo [--script NAME|year] [--log DIR] [--previous-log DIR] [--cards DIR] [--recovery-cards DIR] [--auto] [--plain] [--theme dark|light|mono] [--anchor-key FILE]",
			summary: "a whole rehearsal ceremony on embedded defaults; writes and verifies its log",
			run: func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
				return runDemo(ctx, h, args, stdin, stdout, stderr)
			}},
		{name: "serve", usage: "serve --log DIR [--addr 127.0.0.1:8080] [--public]",
			summary: "publish a log folder read-only over HTTP, with a page that verifies it in the browser", run: runServe},
		{name: "watch", usage: "watch DIR|URL [--key VKEY] [--origin O] [--witness-policy FILE] [--interval D] [--plain] [--theme T]",
			summary: "follow a ceremony live, read-only, verifying every checkpoint", run: runWatch},
		{name: "verify", usage: "verify DIR|URL [--history DIR...] [--json] [--key VKEY] [--roster FILE] [--origin O] [--checkpoint FILE]... [--checkpoints-from DIR]... [--require-cosigners N] [--witness-policy FILE] [--rekor-key FILE] [--anchor-key FILE] [--open] [--raw]",
			summary: "verify a log folder offline: signatures, tiles, root, hash chain, artefacts, the script followed", run: runVerify},
		{name: "run", usage: "run --script FILE|NAME --profile FILE --log DIR --ksr KSR... (--cards DIR | --card-module LIB) [--roster FILE] [--previous-log DIR] [--previous-skr SKR] [--skr OUT] [--ksr-until TIME] [--schema NAME] [--now TIME] [--log-key FILE] [--origin O] [--witness-policy FILE] [--anchor-key FILE] [--rehearsal] [--plain]",
			summary: "a ceremony on the profile's HSM with the officers' cards; resumes a log",
			run: func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
				return runCeremony(ctx, h, args, stdin, stdout, stderr)
			}},
		{name: "checkpoints", summary: "the checkpoints the ceremony's screen showed", subs: []command{
			{name: "from-video", usage: "checkpoints from-video RECORDING --out DIR",
				summary: "read every signed checkpoint from a recording of the stream, with its time", run: runCheckpointsFromVideo},
		}},
		{name: "transcript", usage: "transcript DIR [--format md|html]",
			summary: "the annotated script built from a verified log", run: runTranscript},
		{name: "anchor", summary: "trust anchors and DS records; checkpoints anchored in Rekor", subs: []command{
			{name: "rekor", usage: "anchor rekor DIR --url URL --key FILE",
				summary: "anchor a verified log's checkpoints in Rekor v1", run: runAnchorRekor},
			{name: "export", usage: "anchor export --profile FILE [--out DIR]",
				summary: "the profile's KSK inventory as a trust anchor file and DS records", run: runAnchorExport},
		}},
		{name: "ksr", summary: "key signing requests: check and sign", subs: []command{
			{name: "check", usage: "ksr check KSR [--previous-skr SKR] [--policy FILE] [--profile FILE] [--until TIME] [--now TIME] [--json]",
				summary: "check a KSR against IANA's policy checks", run: runKSRCheck},
			{name: "sign", usage: "ksr sign KSR --profile FILE --out SKR [--until TIME] [--previous-skr SKR] [--schema NAME] [--now TIME] [--roster FILE --cards DIR] --yes",
				summary: "sign a KSR as IANA's signer does, outside a ceremony", run: runKSRSign},
		}},
		{name: "skr", summary: "signed key responses", subs: []command{
			{name: "verify", usage: "skr verify SKR [--ksr KSR [--profile FILE] [--until TIME]] --anchor FILE [--now TIME] [--json]",
				summary: "verify an SKR against trust anchors and its KSR", run: runSKRVerify},
		}},
		{name: "script", summary: "ceremony scripts", subs: []command{
			{name: "check", usage: "script check FILE",
				summary: "validate a ceremony script strictly", run: runScriptCheck},
			{name: "render", usage: "script render NAME|FILE [--format md|html]",
				summary: "print a script for the participants", run: runScriptRender},
		}},
		{name: "cards", summary: "crypto officer cards", subs: []command{
			{name: "provision", usage: "cards provision --profile FILE --threshold N --holders FILE --out ROSTER (--cards-dir DIR | --card-module LIB)",
				summary: "a new activation secret dealt to one card per holder, the roster, the token's PIN", run: runCardsProvision},
			{name: "reissue", usage: "cards reissue --roster OLD --cards DIR --threshold N --holders FILE --out NEW --cards-dir NEWDIR",
				summary: "new officers' cards from a quorum of the old ones", run: runReissue},
		}},
		{name: "hsm", summary: "the profile's token", subs: []command{
			{name: "keygen", usage: "hsm keygen --profile FILE --label LABEL [--algorithm 8|13] [--bits N]",
				summary: "generate a KSK in the token", run: runKeygen},
			{name: "inventory", usage: "hsm inventory --profile FILE",
				summary: "the token and every key on it, against the KSK inventory", run: runHSMInventory},
		}},
	}
}

// Main runs the keyceremony command with its arguments (without the
// program's name) and returns its exit code (see the exit codes above); a
// failure is one line on stderr.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	if err != nil {
		// An error may quote what a server, a folder or a log said: each
		// of its lines is shown escaped.
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = safetext.Printable(l)
		}
		fmt.Fprintln(stderr, "keyceremony:", strings.Join(lines, "\n"))
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
		err := c.dispatch(ctx, args[1:], stdin, stdout, stderr)
		if errors.Is(err, errHelpShown) {
			return nil
		}
		return err
	}
	return usageErr("unknown command %q; run keyceremony help", args[0])
}

// dispatch runs a command, or a group's subcommand: a group asked for help,
// or given none, lists its subcommands.
func (c command) dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if c.subs == nil {
		return c.run(ctx, args, stdin, stdout, stderr)
	}
	var names []string
	for _, sub := range c.subs {
		names = append(names, sub.name)
	}
	if len(args) == 0 {
		return usageErr("%s: give a subcommand: %s; see keyceremony %s --help", c.name, strings.Join(names, " or "), c.name)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stdout, "keyceremony %s: %s\n\n", c.name, c.summary)
		for _, sub := range c.subs {
			fmt.Fprintf(stdout, "  keyceremony %s\n      %s\n", sub.usage, sub.summary)
		}
		return nil
	}
	for _, sub := range c.subs {
		if sub.name == args[0] {
			return sub.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	return usageErr("%s: unknown subcommand %q: %s", c.name, args[0], strings.Join(names, " or "))
}

// usages are every command's usage line and summary, subcommands in their
// group's place: the top-level help and README's table list them.
func usages() [][2]string {
	var out [][2]string
	for _, c := range commands(hooks{}) {
		if c.subs == nil {
			out = append(out, [2]string{c.usage, c.summary})
		}
		for _, sub := range c.subs {
			out = append(out, [2]string{sub.usage, sub.summary})
		}
	}
	return out
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyceremony COMMAND [arguments]; keyceremony COMMAND --help says more")
	fmt.Fprintln(w)
	for _, u := range usages() {
		fmt.Fprintf(w, "  keyceremony %s\n      %s\n", u[0], u[1])
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

// logFolderArg checks a log folder named on the command line: it exists and
// is a folder; a folder that is not a log but holds one (the demo's parent
// folder, where log/ sits beside log-skr.xml) is refused with the log
// folder's name. Whatever else is wrong with a folder is verify's to say.
func logFolderArg(cmd, dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageErr("%s: %s: no such folder; give the log folder (it holds checkpoint, log.vkey and tile/)", cmd, dir)
	case err != nil:
		return usageErr("%s: %s: %v", cmd, dir, errors.Unwrap(err))
	case !fi.IsDir():
		return usageErr("%s: %s is a file, not a log folder; give the folder that holds checkpoint, log.vkey and tile/", cmd, dir)
	}
	if isLogFolder(dir) {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return usageErr("%s: %s: %v", cmd, dir, errors.Unwrap(err))
	}
	defer f.Close()
	names, _ := f.Readdirnames(1000) // a bounded look
	var inside []string
	for _, n := range names {
		if p := filepath.Join(dir, n); !strings.HasPrefix(n, ".") && isLogFolder(p) {
			inside = append(inside, p)
		}
	}
	slices.Sort(inside)
	switch len(inside) {
	case 0:
		return nil
	case 1:
		return usageErr("%s: %s is not a log folder, but holds one: %s", cmd, dir, inside[0])
	}
	return usageErr("%s: %s is not a log folder, but holds %d: %s", cmd, dir, len(inside), strings.Join(inside, ", "))
}

// isLogFolder reports whether dir looks like a log folder: a folder with a
// checkpoint or a log.vkey.
func isLogFolder(dir string) bool {
	for _, n := range []string{"checkpoint", "log.vkey"} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// req is a required flag and the value given for it.
type req struct{ flag, value string }

// requireArgs checks a command's arguments: exactly one positional argument
// named what (none when what is ""), and each required flag given. What is
// missing is said in one line that names it.
func requireArgs(cmd string, pos []string, what string, flags ...req) error {
	switch {
	case what != "" && len(pos) == 0:
		return usageErr("%s: missing the %s; see keyceremony %s --help", cmd, what, cmd)
	case what != "" && len(pos) > 1:
		return usageErr("%s: one %s, not %d arguments (%q …)", cmd, what, len(pos), pos[1])
	case what == "" && len(pos) > 0:
		return usageErr("%s: unexpected argument %q; see keyceremony %s --help", cmd, pos[0], cmd)
	}
	for _, f := range flags {
		if f.value == "" {
			return usageErr("%s: missing %s; see keyceremony %s --help", cmd, f.flag, cmd)
		}
	}
	return nil
}

// nonZero is a required number flag's value as requireArgs takes it.
func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
