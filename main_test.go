package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	testscript.Main(m, map[string]func(){
		"keyceremony": func() {
			err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			if err != nil {
				os.Stderr.WriteString("keyceremony: " + err.Error() + "\n")
			}
			os.Exit(exitCode(err))
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each is a
// txtar file of commands and expected output (see testscript).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// flipbyte FILE OFFSET: change one byte of a file, as a tamperer would.
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: flipbyte FILE OFFSET")
				}
				p := ts.MkAbs(args[0])
				b, err := os.ReadFile(p)
				ts.Check(err)
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				b[off] ^= 0x20
				ts.Check(os.WriteFile(p, b, 0o644))
			},
		},
		Setup: func(env *testscript.Env) error {
			return copyTree(filepath.Join("transparency", "testdata", "tessera-log"), filepath.Join(env.WorkDir, "tessera-log"))
		},
	})
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// TestExitCodes checks the contract's exit codes for each kind of failure.
func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "tessera-log")
	if err := copyTree(filepath.Join("transparency", "testdata", "tessera-log"), log); err != nil {
		t.Fatal(err)
	}
	key := "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"verified", []string{"verify", log, "--raw", "--key", key}, exitOK},
		{"help", []string{"verify", "-h"}, exitOK},
		{"wrong origin", []string{"verify", log, "--raw", "--key", key, "--origin", "x"}, exitBadInput},
		{"not a ceremony log", []string{"verify", log, "--key", key}, exitBadInput},
		{"no folder", []string{"verify"}, exitUsage},
		{"bad flag", []string{"verify", log, "--frob"}, exitUsage},
		{"bad key", []string{"verify", log, "--key", "nonsense"}, exitUsage},
		{"unknown command", []string{"nonsense"}, exitUsage},
		{"no command", nil, exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(ctx, c.args, nil, io.Discard, io.Discard)
			if got := exitCode(err); got != c.code {
				t.Fatalf("exit %d (%v), want %d", got, err, c.code)
			}
		})
	}
}
