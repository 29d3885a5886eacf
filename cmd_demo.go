package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/ui"
)

func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logDir := fs.String("log", "", "the log folder: a new one, or one holding an unfinished demo to resume (default: a new folder under the system's temporary directory)")
	auto := fs.Bool("auto", false, "play the whole ceremony unattended and exit at the end")
	plain := fs.Bool("plain", false, "line-by-line prompts instead of the full-screen console (also when stdout is not a terminal)")
	theme := fs.String("theme", "dark", "colours of the console: dark, light or mono")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("demo: unexpected argument %q", pos[0])
	}
	if !ui.ValidTheme(*theme) {
		return usageErr("demo: --theme %q: use dark, light or mono", *theme)
	}
	if *logDir == "" {
		base, err := os.MkdirTemp("", "keyceremony-demo-")
		if err != nil {
			return operational(fmt.Errorf("demo: %w", err))
		}
		*logDir = filepath.Join(base, "log")
	}
	dir, err := filepath.Abs(*logDir)
	if err != nil {
		return operational(err)
	}
	script, err := session.DemoScript()
	if err != nil {
		return operational(err)
	}
	existing, _ := os.ReadDir(dir)
	resume := len(existing) > 0
	restore, err := quietLibraries(dir)
	if err != nil {
		return operational(err)
	}
	defer restore()

	l, err := openDemoLog(ctx, dir, resume, script.Digest, script.Raw)
	if err != nil {
		return err
	}
	closeLog := closer(l)
	defer closeLog()
	cfg, err := session.DemoConfig(script, l, resume, dir+"-skr.xml")
	if err != nil {
		return operational(err)
	}
	sess, err := session.Open(ctx, cfg)
	if errors.Is(err, session.ErrClosed) {
		return usageErr("demo: %s holds a closed ceremony; a closed log is never reopened: verify it with keyceremony verify %s, or start a new demo", dir, dir)
	}
	if err != nil {
		return badInput(fmt.Errorf("demo: %s: %w", dir, err))
	}
	if resume {
		fmt.Fprintf(stdout, "REHEARSAL · resuming the ceremony logged in %s\n", dir)
	} else {
		fmt.Fprintf(stdout, "REHEARSAL · new log %s\n", dir)
	}
	err = play(ctx, sess, playOptions{plain: *plain, auto: *auto, rehearsal: true, theme: *theme}, stdin, stdout)
	if errors.Is(err, ui.ErrQuit) {
		fmt.Fprintf(stdout, "\nStopped before the end. The log is safe; resume with:\n  keyceremony demo --log %s\n", dir)
		return nil
	}
	if err != nil {
		return operational(fmt.Errorf("demo: %w", err))
	}
	closeLog()
	cp := l.Latest()
	fmt.Fprintf(stdout, "\nLog folder: %s\nSKR: %s\nFinal checkpoint: size %d, root %s\nVerify it with: keyceremony verify %s\n",
		dir, sess.SKRPath(), cp.Size, ui.GroupHex(cp.RootHex()), dir)
	return nil
}

// openDemoLog opens the demo's log in dir: a new one with a new rehearsal key
// (kept beside the folder, never in it), or an existing one to resume.
func openDemoLog(ctx context.Context, dir string, resume bool, scriptDigest string, scriptRaw []byte) (*transparency.Log, error) {
	keyPath := dir + ".key"
	if !resume {
		os.Remove(keyPath) // a key left by a start that never created the log
	}
	return openLog(ctx, logSpec{dir: dir, keyPath: keyPath, resume: resume,
		origin: "demo.keyceremony.invalid/" + time.Now().UTC().Format("20060102T150405Z") + "/rehearsal",
		fields: map[string]any{"ceremony": "Demo key-signing ceremony (rehearsal)", "zone": ".",
			"script_sha256": scriptDigest, "tool": toolVersion(), "rehearsal": true},
		artefacts: []transparency.Artefact{{Name: "demo.yaml", Data: scriptRaw}},
		keyName:   "rehearsal key", keyHint: "choose a new folder"})
}
