package ui

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
)

// ErrQuit: the operator quit before the end; the log is safe and the
// ceremony resumes where it stopped.
var ErrQuit = errors.New("quit before the end of the ceremony")

// Plain runs a ceremony as line-by-line prompts: no box drawing, no
// animation, every step, prompt and result on its own line, for screen
// readers, transcripts and terminals that are not a TTY. It asks what the
// interaction model says the ceremony waits for, and offers the other live
// keys, as the console does. With auto set it plays the ceremony
// unattended.
type Plain struct {
	Driver *session.Driver
	In     io.Reader
	Out    io.Writer
	Auto   bool
	// ReadSecret asks a card's holder for its passphrase or PIN without
	// echo (a terminal); nil reads the next line of In.
	ReadSecret func(prompt string) (string, error)
}

// Run plays the ceremony to its end or until the operator quits.
func (p *Plain) Run(ctx context.Context) error {
	d := p.Driver
	l := d.Log()
	out := p.Out
	in := bufio.NewScanner(p.In)
	st := d.Snapshot()
	script := st.Script
	fmt.Fprintf(out, "%s · zone %s\n", script.Ceremony, script.Zone)
	fmt.Fprintf(out, "Script %s SHA-256 %s\n  %s\n", script.Name, dnssec.GroupHex(script.Digest), dnssec.PGPWords(mustHex(script.Digest)[:8]))
	if cp := l.Latest(); cp != nil {
		fmt.Fprintf(out, "Log %s · origin %s · size %d · root %s\n", l.Dir(), l.Origin(), cp.Size, RootWords(cp, 4))
	}
	if st.Resumes > 0 {
		at := "the end"
		if cur, ok := st.Current(); ok {
			at = "step " + cur.ID
		}
		fmt.Fprintf(out, "Resumed at %s (resume %d): the log holds %s.\n", at, st.Resumes, words.Counts(st.LogSize, "entry", "entries"))
		if strings.Contains(st.Resumed, "unlogged") {
			fmt.Fprintf(out, "The console stopped without logging it: %s.\n", st.Resumed)
		}
		if st.NeedActivation || (!st.Quorum && !st.HSMUsed && len(st.Cards) > 0) {
			fmt.Fprintln(out, "The activation secret is never stored: the crypto officers present their cards again.")
		}
	}
	lastStep := ""
	stopped := false // the ceremony went on by itself and failed: the operator decides
	for st.Awaiting() != session.NextDone {
		cur, ok := st.Current()
		switch {
		case !ok && !st.Closed && lastStep != "roll call":
			fmt.Fprintf(out, "\nEvery step is done. Roll call of the officers of this ceremony: %s\n", strings.Join(st.CosignExpected(), ", "))
			fmt.Fprintln(out, "  The close names those here and those who have gone; those here then cosign the final checkpoint.")
			lastStep = "roll call"
		case st.Closed && lastStep != "cosign":
			fmt.Fprintf(out, "\nThe ceremony is closed. The officers present cosign the final checkpoint %d, one card at a time: %s\n", st.FinalSize, strings.Join(st.Present, ", "))
			lastStep = "cosign"
		case ok && cur.ID != lastStep:
			if st.LoggingIn() {
				st = d.Do(ctx, session.Poll{}).Snap // the HSM's flags, shown before its login
			}
			p.showStep(st, cur)
			lastStep = cur.ID
		}
		before, signed := st, uint64(0) // signed: the checkpoint's size before the action
		if cp := l.Latest(); cp != nil {
			signed = cp.Size
		}
		var res session.Result
		var err error
		switch {
		case !p.Auto && st.Continues() && !stopped:
			// Once confirmed, every bundle is signed in one go.
			res = d.Do(ctx, session.Confirm{What: "signing the next bundle"})
			p.logged(res)
			if res.Err == nil {
				fmt.Fprintf(out, "  signed bundle %d of %d\n", res.Snap.Signed, res.Snap.KSR.Bundles)
			}
		case p.Auto:
			res = d.Do(ctx, session.AutoStep{})
			p.logged(res)
			if res.Did != "" {
				fmt.Fprintf(out, "  > %s\n", res.Did)
			}
		default:
			res, err = p.prompt(ctx, in, st)
			if errors.Is(err, ErrQuit) {
				return err
			}
			p.logged(res)
		}
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, quorum.ErrRejected) {
			fmt.Fprintf(out, "  [FAIL] %v\n", err)
			if p.Auto || errors.Is(err, session.ErrDriverClosed) {
				return err
			}
		}
		if res.Seq > 0 {
			st = res.Snap
		}
		// After a failed signature the operator decides: enter signs again.
		stopped = err != nil && st.Continues()
		if err := p.afterAction(ctx, before, st, signed); err != nil {
			return err
		}
	}
	cp, err := l.AwaitCheckpoint(ctx, l.Size()-1)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe ceremony is closed: %s, %s.\n", words.Counts(cp.Size, "entry", "entries"), words.Count(len(st.Exceptions), "exception", "exceptions"))
	if len(st.Present)+len(st.Absent) > 0 {
		fmt.Fprintf(out, "Cosigned by %d of %d present officers (%s)", len(st.Final.Cosigned), len(st.Present), strings.Join(st.Final.Cosigned, ", "))
		if len(st.Absent) > 0 {
			fmt.Fprintf(out, "; absent: %s", strings.Join(st.Absent, ", "))
		}
		if len(st.Final.Declined) > 0 {
			fmt.Fprintf(out, "; did not cosign: %s", strings.Join(st.Final.Declined, ", "))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "Final checkpoint: size %d, root %s\n  %s\n", cp.Size, dnssec.GroupHex(cp.RootHex()), RootWords(cp, 32))
	return nil
}

// logged writes each entry an operation logged: durable, before anything
// else is said of it.
func (p *Plain) logged(res session.Result) {
	for _, e := range res.Logged {
		fmt.Fprintf(p.Out, "  [LOG ] entry %d durable: %s\n", e.Seq, event.Describe(e))
	}
}

// afterAction shows what an action produced that people compare aloud, and
// waits for the checkpoint that covers it; signed is the size of the
// checkpoint before the action.
func (p *Plain) afterAction(ctx context.Context, was, st session.Snapshot, signed uint64) error {
	out := p.Out
	for _, k := range st.Keys[len(was.Keys):] {
		fmt.Fprintf(out, "  KSK %s · algorithm %d · key tag %d (%d with REVOKE)\n", k.Label, k.Algorithm, k.KeyTag, k.RevokedTag)
		fmt.Fprintf(out, "  DS SHA-256 %s\n  %s\n", dnssec.GroupHex(k.DS), dnssec.PGPWords(mustHex(k.DS)))
		fmt.Fprintln(out, "  Read the key tag and the DS aloud; the witnesses note them.")
	}
	if r := st.Reshared; was.Reshared == nil && r != nil {
		fmt.Fprintf(out, "  New roster %s · SHA-256 %s\n  %s\n", r.Roster.Name, dnssec.GroupHex(r.Roster.SHA256), dnssec.PGPWords(mustHex(r.Roster.SHA256)))
		fmt.Fprintf(out, "  Revoked: %s. The old cards open nothing under the new roster.\n", strings.Join(r.Revoked, ", "))
		if r.NewSecret {
			fmt.Fprintln(out, "  The HSM's PIN changed: only the new cards open it from now on.")
		}
	}
	if was.KSR == nil && st.KSR != nil {
		fmt.Fprintf(out, "  KSR %s · id %s · %d bundles\n", st.KSR.Name, st.KSR.ID, st.KSR.Bundles)
		fmt.Fprintf(out, "  SHA-256 %s\n  %s\n", dnssec.GroupHex(st.KSR.SHA256), dnssec.PGPWords(mustHex(st.KSR.SHA256)))
		fmt.Fprintln(out, "  Compare the hash with the one received out of band, then confirm.")
	}
	if !(was.KSR != nil && was.KSR.Checked) && st.KSR != nil && st.KSR.Checked {
		for _, r := range st.KSR.Results {
			fmt.Fprintf(out, "  %s %-26s %s\n", StatusMark(r.Status), r.ID, r.Detail)
		}
	}
	if was.SKR == nil && st.SKR != nil {
		fmt.Fprintf(out, "  SKR %s\n  SHA-256 %s\n  %s\n", st.SKRPath, dnssec.GroupHex(st.SKR.SHA256), dnssec.PGPWords(mustHex(st.SKR.SHA256)))
	}
	if l := p.Driver.Log(); l.Size() > 0 {
		cp, err := l.AwaitCheckpoint(ctx, l.Size()-1)
		if errors.Is(err, transparency.ErrNoCheckpoint) {
			return err // the disk takes no more: stop here, every entry so far is safe
		}
		if err == nil && cp.Size != signed {
			fmt.Fprintf(out, "  [SIGN] checkpoint %d signed · root %s\n", cp.Size, RootWords(cp, 4))
		}
	}
	return nil
}

func (p *Plain) showStep(st session.Snapshot, cur ceremony.Step) {
	script := st.Script
	out := p.Out
	if len(st.DoneAt) == 0 || script.Steps()[st.Next-1].Act != cur.Act {
		fmt.Fprintf(out, "\nAct %d of %d: %s\n", cur.Act+1, len(script.Acts), script.Acts[cur.Act].Title)
	}
	fmt.Fprintf(out, "\nStep %s · %s (%s)", cur.ID, cur.Role, script.RoleTitle(cur.Role))
	if len(cur.Witnesses) > 0 {
		fmt.Fprintf(out, " · witnessed by %s", strings.Join(cur.Witnesses, ", "))
	}
	fmt.Fprintf(out, "\n  %s\n", cur.Text)
	if t := st.Token; t != nil && st.LoggingIn() {
		fmt.Fprintf(out, "  HSM %s · %s %s · serial %s\n", t.Label, strings.TrimSpace(t.Manufacturer), strings.TrimSpace(t.Model), strings.TrimSpace(t.Serial))
		if f := t.Flags(); len(f) > 0 {
			fmt.Fprintf(out, "  [WARN] %s\n", strings.ToUpper(strings.Join(f, " · ")))
		}
	}
}

// prompt asks, on one line, what the ceremony waits for, offering the
// other live keys; then it asks what the interaction chosen asks, and
// has its operation done. A result with no Seq did nothing.
func (p *Plain) prompt(ctx context.Context, in *bufio.Scanner, st session.Snapshot) (session.Result, error) {
	out := p.Out
	its := st.Interactions()
	main, hasMain := st.Main()
	switch st.Awaiting() {
	case session.NextChoose:
		for _, k := range st.Script.Contingencies {
			fmt.Fprintf(out, "  %-14s %s\n", k.ID, k.Text)
		}
	case session.NextCosign:
		if !st.Closed {
			var here []string
			for _, id := range st.CosignExpected() {
				if !slices.Contains(st.Gone, id) {
					here = append(here, id)
				}
			}
			fmt.Fprintf(out, "  Here: %s · gone: %s\n", listOrNone(here), listOrNone(st.Gone))
		} else {
			fmt.Fprintf(out, "  Cosigned: %s\n", listOrNone(st.Final.Cosigned))
		}
	}
	var lead string
	var opts []string
	switch {
	case hasMain && main.Inline:
		first := main.Next(nil).Ask
		lead = first.Prompt
		if first.Choices != "" {
			opts = append(opts, first.Choices)
		}
	case hasMain:
		lead = "[" + main.Key + "] " + main.Prompt
	default:
		lead = "The ceremony waits"
	}
	for _, it := range its {
		if !it.Main {
			opts = append(opts, it.Key+" "+it.Help)
		}
	}
	opts = append(opts, "q quit")
	fmt.Fprintf(out, "  %s (%s): ", lead, strings.Join(opts, ", "))
	if !in.Scan() {
		return session.Result{}, ErrQuit
	}
	typed := in.Text() // a typed confirmation must match exactly
	line := strings.TrimSpace(typed)
	if line == "q" {
		fmt.Fprint(out, "  Quit? The log is safe; running the same command on the same folder resumes here. [y/N]: ")
		if in.Scan() && strings.TrimSpace(in.Text()) == "y" {
			if res := p.Driver.Do(ctx, session.Stop{}); res.Err != nil {
				fmt.Fprintf(out, "  The stop could not be logged: %v\n", res.Err)
			} else {
				p.logged(res)
			}
			return session.Result{}, ErrQuit
		}
		return session.Result{}, nil
	}
	for _, it := range its {
		if it.Key == session.KeyConfirm || it.Key == session.KeyCard {
			continue
		}
		if line == it.Key {
			return p.play(ctx, in, it, nil)
		}
		if arg, ok := strings.CutPrefix(line, it.Key+" "); ok {
			return p.play(ctx, in, it, []string{strings.TrimSpace(arg)})
		}
	}
	switch {
	case hasMain && main.Inline:
		return p.play(ctx, in, main, []string{typed})
	case hasMain && main.Key == session.KeyConfirm && line == "":
		return p.play(ctx, in, main, nil)
	}
	keys := []string{}
	if hasMain && !main.Inline {
		keys = append(keys, main.Key)
	}
	for _, it := range its {
		if !it.Main {
			keys = append(keys, it.Key)
		}
	}
	return session.Result{}, fmt.Errorf("%q: answer with %s or q", line, strings.Join(keys, ", "))
}

// play asks what an interaction asks, line by line, after the answers
// given, and has its operation done.
func (p *Plain) play(ctx context.Context, in *bufio.Scanner, it session.Interaction, answers []string) (session.Result, error) {
	out := p.Out
	for {
		r := it.Next(answers)
		if r.Problem != "" {
			fmt.Fprintf(out, "  %s\n", r.Problem)
		}
		if r.Op != nil {
			return p.Driver.Do(ctx, r.Op), nil
		}
		if r.Ask == nil {
			return session.Result{}, nil
		}
		if r.Retry > 0 {
			answers = answers[:max(0, len(answers)-r.Retry)]
		}
		a := r.Ask
		var ans string
		switch {
		case a.Witness != "":
			fmt.Fprintf(out, "  %s [y/N]: ", a.Prompt)
			if !in.Scan() {
				return session.Result{}, ErrQuit
			}
			if strings.TrimSpace(in.Text()) == "y" {
				ans = session.Yes
			}
		case a.Secret:
			v, err := p.secret(in, "  "+a.Prompt+", typed by its holder")
			if err != nil {
				return session.Result{}, err
			}
			ans = v
		default:
			fmt.Fprintf(out, "  %s: ", a.Prompt)
			if !in.Scan() {
				return session.Result{}, ErrQuit
			}
			ans = in.Text()
			if !a.Exact {
				ans = strings.TrimSpace(ans)
			}
		}
		answers = append(answers, ans)
	}
}

// secret asks for a passphrase or PIN: without echo on a terminal
// (ReadSecret), or as the next line of the input.
func (p *Plain) secret(in *bufio.Scanner, prompt string) (string, error) {
	if p.ReadSecret != nil {
		return p.ReadSecret(prompt)
	}
	fmt.Fprintf(p.Out, "%s: ", prompt)
	if !in.Scan() {
		return "", ErrQuit
	}
	fmt.Fprintln(p.Out)
	return strings.TrimRight(in.Text(), "\r"), nil
}

// StatusMark is a check status as a word in brackets.
func StatusMark(status string) string {
	switch status {
	case dnssec.Pass:
		return "[PASS]"
	case dnssec.Warn:
		return "[WARN]"
	}
	return "[FAIL]"
}

func mustHex(h string) []byte {
	b, _ := hex.DecodeString(h)
	return b
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
