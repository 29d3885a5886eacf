package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keyceremony/keyceremony/transparency"
)

// demoSteps is a short rehearsal sequence written to the sample log until the
// full console drives the demo.
var demoSteps = []struct{ step, role, text string }{
	{"1.1", "CA", "Welcome; all participants sign the log sheet"},
	{"1.2", "IW", "Confirm the room is sealed and the recording has started"},
	{"2.1", "CA", "Open the safe and take out the HSM and the laptop"},
	{"2.2", "CA", "Boot the laptop from the reviewed OS image"},
	{"3.1", "CA", "Crypto officers present their cards"},
	{"3.2", "CA", "Activate the HSM"},
	{"4.1", "CA", "Load the KSR and compare its hash with the one sent out of band"},
	{"4.2", "CA", "Sign the KSR and write the SKR"},
	{"5.1", "CA", "Deactivate the HSM and return it to the safe"},
	{"5.2", "IW", "Stop the recording; the ceremony is closed"},
}

const demoScript = "keyceremony demo rehearsal script\n"

func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logDir := fs.String("log", "", "the log folder to create (default: a new folder under the system's temporary directory)")
	fs.Bool("auto", false, "play the rehearsal unattended (the sample log is always written unattended)")
	fs.Bool("plain", false, "line-by-line output (the sample log is always written line by line)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("demo: unexpected argument %q", pos[0])
	}
	base := ""
	if *logDir == "" {
		if base, err = os.MkdirTemp("", "keyceremony-demo-"); err != nil {
			return operational(fmt.Errorf("demo: %w", err))
		}
		*logDir = filepath.Join(base, "log")
	}
	dir, err := filepath.Abs(*logDir)
	if err != nil {
		return operational(err)
	}
	keyPath := dir + ".key"

	origin := "demo.keyceremony.invalid/" + time.Now().UTC().Format("20060102T150405Z") + "/rehearsal"
	skey, _, err := transparency.GenerateKey(origin)
	if err != nil {
		return operational(err)
	}
	key, err := transparency.ParseKey(skey)
	if err != nil {
		return operational(err)
	}
	restore, err := quietLibraries(dir)
	if err != nil {
		return operational(err)
	}
	defer restore()
	l, err := transparency.Open(ctx, dir, transparency.Options{Key: key, New: true, OpenFields: map[string]any{
		"ceremony":      "Demo key-signing ceremony",
		"zone":          ".",
		"script_sha256": transparency.SHA256Hex([]byte(demoScript)),
		"tool":          toolVersion(),
	}, OpenArtefacts: []transparency.Artefact{{Name: "demo-script.txt", Data: []byte(demoScript)}}})
	if err != nil {
		return openErr(err)
	}
	// The key is written only once the log exists, beside it, never inside.
	if err := transparency.WriteKeyFile(keyPath, skey); err != nil {
		l.Close(ctx)
		return operational(fmt.Errorf("demo: %w", err))
	}
	fmt.Fprintf(stdout, "REHEARSAL · log %s\n", dir)
	fmt.Fprintf(stdout, "origin %s\n\n", origin)
	for _, s := range demoSteps {
		a, err := l.Append(ctx, transparency.Record{Kind: "step.done",
			Fields: map[string]any{"step": s.step, "role": s.role, "text": s.text}})
		if err != nil {
			l.Close(ctx)
			return operational(fmt.Errorf("demo: step %s: %w", s.step, err))
		}
		cp, err := l.AwaitCheckpoint(ctx, a.Index)
		if err != nil {
			l.Close(ctx)
			return operational(fmt.Errorf("demo: step %s: %w", s.step, err))
		}
		fmt.Fprintf(stdout, "[ OK ] %s %-3s %-66s entry %2d durable · checkpoint %2d signed\n", s.step, s.role, s.text, a.Index, cp.Size)
	}
	if _, err := l.Append(ctx, transparency.Record{Kind: transparency.KindClose}); err != nil {
		l.Close(ctx)
		return operational(err)
	}
	if err := l.Close(ctx); err != nil {
		return operational(fmt.Errorf("demo: close log: %w", err))
	}
	fmt.Fprintf(stdout, "\nVerifying %s\n\n", dir)
	if err := runVerify(ctx, []string{dir}, stdin, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nLog folder: %s\nRehearsal signing key (outside the folder): %s\nVerify again with: keyceremony verify %s\n", dir, keyPath, dir)
	return nil
}
