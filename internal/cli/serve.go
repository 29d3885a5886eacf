package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/transparency/publish"
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "usage: keyceremony serve --log DIR [--addr 127.0.0.1:8080] [--public]\n       keyceremony serve --export-page OUT", stderr)
	logDir := fs.String("log", "", "the log folder to publish (read-only)")
	addr := fs.String("addr", "127.0.0.1:8080", "where to listen")
	public := fs.Bool("public", false, "allow an address that is not loopback (a LAN or the internet)")
	export := fs.String("export-page", "", "write the web page's files into this folder (for a static host) and exit")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("serve: unexpected argument %q", pos[0])
	}
	if *export != "" {
		return exportPage(*export, stdout)
	}
	if err := requireArgs("serve", nil, "", req{"--log", *logDir}); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageErr("serve: --addr %s: %v", *addr, err)
	}
	if ip := net.ParseIP(host); !*public && (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return usageErr("serve: --addr %s is not a loopback address; give --public to publish beyond this machine", *addr)
	}
	if err := logFolderArg("serve --log", *logDir); err != nil {
		return err
	}
	srv, err := publish.New(*logDir)
	if err != nil {
		return usageErr("serve: %v", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return operational(fmt.Errorf("serve: %w", err))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go srv.Run(ctx)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	fmt.Fprintf(stdout, "serving %s read-only at http://%s/ (the page, /checkpoint, /tile/…, /events); stop with Ctrl-C\n", *logDir, ln.Addr())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return operational(fmt.Errorf("serve: %w", err))
	}
	return nil
}

// exportPage writes the web page's files for a static host: index.html and
// web/. The page reads the log from ?log=URL (the log's host must allow it:
// Access-Control-Allow-Origin) and polls its checkpoint.
func exportPage(out string, stdout io.Writer) error {
	for _, name := range publish.WebFiles() {
		data, _, err := publish.WebFile(name)
		if err != nil {
			return operational(err)
		}
		p := filepath.Join(out, "web", name)
		if name == "index.html" {
			p = filepath.Join(out, name)
		}
		if err := durable.WriteFile(p, data, 0o644, durable.Replace); err != nil {
			return operational(fmt.Errorf("serve --export-page: %w", err))
		}
	}
	fmt.Fprintf(stdout, "the page is in %s: open index.html?log=URL-of-the-log-folder/#key=VKEY\n", out)
	return nil
}
