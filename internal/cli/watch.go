package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/ui"
)

func runWatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("watch", "usage: keyceremony watch DIR|URL [--key VKEY] [--origin O] [--witness-policy FILE] [--interval D] [--plain] [--theme dark|light|mono]", stderr)
	key := fs.String("key", "", "the log key announced at the ceremony (vkey text, or a file holding it); default: the log's own log.vkey, shown for comparison")
	origin := fs.String("origin", "", "the expected origin line; default: the key's name")
	interval := fs.Duration("interval", 2*time.Second, "how often to read the checkpoint")
	plain := fs.Bool("plain", false, "a line per checkpoint and entry instead of the full screen (also when stdout is not a terminal); ends when the ceremony closes")
	theme := fs.String("theme", "dark", "colours of the screen: dark, light or mono")
	witnessPolicy := fs.String("witness-policy", "", "a C2SP tlog-policy file whose quorum of witnesses must have cosigned every checkpoint shown")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("watch", pos, "log folder or URL"); err != nil {
		return err
	}
	if !ui.ValidTheme(*theme) {
		return usageErr("watch: --theme %q: use dark, light or mono", *theme)
	}
	if *interval < 100*time.Millisecond {
		return usageErr("watch: --interval %s: at least 100ms", *interval)
	}
	var src transparency.Source
	if where := pos[0]; strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		hs, err := transparency.NewHTTPSource(where)
		if err != nil {
			return usageErr("watch: %v", err)
		}
		src = hs
	} else {
		if err := logFolderArg("watch", where); err != nil {
			return err
		}
		src = transparency.DirSource(where)
	}
	vkey, err := vkeyArg("watch", *key)
	if err != nil {
		return err
	}
	policy, err := witnessPolicyArg("watch", *witnessPolicy)
	if err != nil {
		return err
	}
	f, err := transparency.NewFollower(ctx, src, vkey, *origin)
	if err != nil {
		return usageErr("watch: %v", err)
	}
	f.Witnesses = policy
	if *plain || !isTerminal(stdout) {
		err = ui.WatchPlain(ctx, f, stdout, *interval)
	} else {
		err = ui.RunWatch(ctx, f, ui.WatchOptions{In: stdin, Out: stdout, Theme: *theme, Interval: *interval})
	}
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, transparency.ErrAlarm):
		return badInput(fmt.Errorf("watch %s: %w", src, err))
	}
	return operational(fmt.Errorf("watch %s: %w", src, err))
}
