package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCommandAnswersHelp: every command, every group and every
// subcommand answers --help (and -h) with exit 0, saying something, and
// without doing anything.
func TestEveryCommandAnswersHelp(t *testing.T) {
	ctx := context.Background()
	var invocations [][]string
	for _, c := range commands(hooks{}) {
		invocations = append(invocations, []string{c.name})
		for _, sub := range c.subs {
			invocations = append(invocations, []string{c.name, sub.name})
		}
	}
	dir := t.TempDir()
	t.Chdir(dir) // a command that acted would leave files here
	for _, inv := range invocations {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string(nil), inv...), h)
			var out, errOut bytes.Buffer
			err := run(ctx, args, strings.NewReader(""), &out, &errOut)
			if code := exitCode(err); code != exitOK {
				t.Errorf("keyceremony %s: exit %d: %v", strings.Join(args, " "), code, err)
				continue
			}
			if out.Len()+errOut.Len() == 0 {
				t.Errorf("keyceremony %s: says nothing", strings.Join(args, " "))
			}
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("--help left files behind: %v", left)
	}
}

// TestMissingArgumentIsOneLine: a command missing its argument or a
// required flag says so in one line naming it, with the usage exit code,
// and prints no flag list.
func TestMissingArgumentIsOneLine(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify"}, "verify: missing the log folder"},
		{[]string{"serve"}, "serve: missing --log"},
		{[]string{"watch"}, "watch: missing the log folder or URL"},
		{[]string{"skr", "verify"}, "skr verify: missing the SKR file"},
		{[]string{"skr", "verify", "x.xml"}, "skr verify: missing --anchor"},
		{[]string{"ksr", "check"}, "ksr check: missing the KSR file"},
		{[]string{"ksr", "sign", "x.xml"}, "ksr sign: missing --profile"},
		{[]string{"script", "check"}, "script check: missing the script file"},
		{[]string{"script", "render"}, "script render: missing the script name or file"},
		{[]string{"anchor", "rekor"}, "anchor rekor: missing the log folder"},
		{[]string{"anchor", "export"}, "anchor export: missing --profile"},
		{[]string{"hsm", "inventory"}, "hsm inventory: missing --profile"},
		{[]string{"run"}, "run: missing --script"},
		{[]string{"transcript"}, "transcript: missing the log folder"},
		{[]string{"hsm", "keygen", "--profile", "p.yaml"}, "hsm keygen: missing --label"},
		{[]string{"cards", "provision", "--profile", "p.yaml"}, "cards provision: missing --threshold"},
		{[]string{"cards", "reissue"}, "cards reissue: missing --roster"},
		{[]string{"ksr"}, "ksr: give a subcommand: check or sign"},
		{[]string{"ksr", "frob"}, `ksr: unknown subcommand "frob"`},
	} {
		var out, errOut bytes.Buffer
		err := run(ctx, c.args, strings.NewReader(""), &out, &errOut)
		if exitCode(err) != exitUsage || err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("keyceremony %s: exit %d, %v; want %q", strings.Join(c.args, " "), exitCode(err), err, c.want)
		}
		if out.Len()+errOut.Len() > 0 {
			t.Errorf("keyceremony %s printed more than its one line:\n%s%s", strings.Join(c.args, " "), out.String(), errOut.String())
		}
	}
}

// TestREADMECommands: README's command table lists exactly the usage lines
// the top-level help prints, in its order; and the help lists each once.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `keyceremony (.*?)` \\|")
	var inREADME []string
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		inREADME = append(inREADME, strings.ReplaceAll(m[1], `\|`, "|"))
	}
	var help bytes.Buffer
	printUsage(&help)
	var inHelp []string
	for _, u := range usages() {
		inHelp = append(inHelp, u[0])
		if !strings.Contains(help.String(), "keyceremony "+u[0]+"\n") {
			t.Errorf("the help lacks %q", u[0])
		}
	}
	if strings.Join(inREADME, "\n") != strings.Join(inHelp, "\n") {
		t.Fatalf("README's command table and the help differ:\nREADME:\n%s\nhelp:\n%s", strings.Join(inREADME, "\n"), strings.Join(inHelp, "\n"))
	}
	if strings.Contains(help.String(), "not built") {
		t.Errorf("the help speaks of what is not built:\n%s", help.String())
	}
}

// TestLogFolderArguments: verify, watch and serve given the folder that
// holds a log (the demo's parent folder) name the log folder inside it; a
// folder that does not exist is named as such; and demo refusing a folder
// leaves it untouched.
func TestLogFolderArguments(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	logDir := filepath.Join(parent, "log")
	if err := copyTree(filepath.Join("..", "..", "transparency", "testdata", "tessera-log"), logDir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(parent, "log-skr.xml"), []byte("<x/>"), 0o644)
	for _, args := range [][]string{{"verify", parent}, {"watch", parent, "--plain"}, {"serve", "--log", parent, "--addr", "127.0.0.1:0"}} {
		err := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "is not a log folder, but holds one: "+logDir) {
			t.Errorf("keyceremony %s: %v", strings.Join(args, " "), err)
		}
	}
	missing := filepath.Join(parent, "nonexistent")
	for _, args := range [][]string{{"verify", missing}, {"watch", missing}, {"serve", "--log", missing}} {
		err := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), missing+": no such folder") {
			t.Errorf("keyceremony %s: %v", strings.Join(args, " "), err)
		}
	}
	// A folder demo refuses (it holds files that are not a log's).
	refused := t.TempDir()
	os.WriteFile(filepath.Join(refused, "notes.txt"), []byte("mine"), 0o644)
	err := run(ctx, []string{"demo", "--auto", "--plain", "--log", refused}, strings.NewReader(""), io.Discard, io.Discard)
	if exitCode(err) != exitUsage {
		t.Fatalf("demo on a foreign folder: exit %d, %v", exitCode(err), err)
	}
	if left, _ := os.ReadDir(refused); len(left) != 1 || left[0].Name() != "notes.txt" {
		t.Fatalf("the refused folder was changed: %v", left)
	}
}
