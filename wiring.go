package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/keyceremony/keyceremony/transparency"
	"k8s.io/klog/v2"
)

// quietLibraries sends the diagnostics of the log library (klog, slog) to a
// file in the log's private .state folder, never to the terminal.
func quietLibraries(logDir string) (restore func(), err error) {
	var w io.Writer = io.Discard
	var f *os.File
	if logDir != "" {
		if err := os.MkdirAll(filepath.Join(logDir, ".state"), 0o755); err == nil {
			f, err = os.OpenFile(filepath.Join(logDir, ".state", "diagnostics.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err == nil {
				w = f
			}
		}
	}
	klog.LogToStderr(false)
	klog.SetOutput(w)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, nil)))
	return func() {
		klog.Flush()
		slog.SetDefault(prev)
		klog.SetOutput(io.Discard)
		if f != nil {
			f.Close()
		}
	}, nil
}

// openErr maps the log's refusals to exit codes and one line of advice.
func openErr(err error) error {
	switch {
	case errors.Is(err, transparency.ErrBrokenLog):
		return badInput(err)
	case errors.Is(err, transparency.ErrNoLog), errors.Is(err, transparency.ErrLogExists),
		errors.Is(err, transparency.ErrNotLog), errors.Is(err, transparency.ErrLogBusy):
		return usageErr("%v", err)
	}
	return operational(fmt.Errorf("open log: %w", err))
}

func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "keyceremony " + bi.Main.Version
	}
	return "keyceremony (devel)"
}
