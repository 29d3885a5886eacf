package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/transparency"
)

// runTranscript prints the annotated script of a ceremony from its log:
// every step with when it was done and by which entry, every card, every
// exception, the artefacts' hashes and the final checkpoint. It is built only
// from a log that verifies.
func runTranscript(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("transcript", "", stderr)
	format := fs.String("format", "md", "md or html")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("transcript", pos, "log folder"); err != nil {
		return err
	}
	if *format != "md" && *format != "html" {
		return usageErr("transcript: --format is md or html, not %q", *format)
	}
	dir := pos[0]
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErr("transcript: %s is not a log folder", dir)
	}
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil {
		return operational(err)
	}
	if f := rep.FirstFailure(); f != nil {
		return badInput(fmt.Errorf("transcript %s: the log does not verify (%s: %s); run keyceremony verify %s", dir, f.ID, f.Detail, dir))
	}
	c, err := audit.ReadCeremony(os.DirFS(dir), rep)
	if err != nil {
		return badInput(fmt.Errorf("transcript %s: %v", dir, err))
	}
	t := audit.NewTranscript(c, rep)
	if *format == "html" {
		return t.HTML(stdout)
	}
	return t.Markdown(stdout)
}
