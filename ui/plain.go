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
	"github.com/keyceremony/keyceremony/transparency"
)

// ErrQuit: the operator quit before the end; the log is safe and the
// ceremony resumes where it stopped.
var ErrQuit = errors.New("quit before the end of the ceremony")

// Plain runs a ceremony as line-by-line prompts: no box drawing, no
// animation, every step, prompt and result on its own line, for screen
// readers, transcripts and terminals that are not a TTY. With auto set it
// plays the ceremony unattended.
type Plain struct {
	Session *session.Session
	In      io.Reader
	Out     io.Writer
	Auto    bool
	// ReadSecret asks a card's holder for its passphrase or PIN without
	// echo (a terminal); nil reads the next line of In.
	ReadSecret func(prompt string) (string, error)
}

// Run plays the ceremony to its end or until the operator quits.
func (p *Plain) Run(ctx context.Context) error {
	s := p.Session
	l := s.Log()
	out := p.Out
	in := bufio.NewScanner(p.In)
	s.SetOnAppend(func(a transparency.Appended) {
		fmt.Fprintf(out, "  [LOG ] entry %d durable: %s\n", a.Index, event.Describe(a.Entry))
	})
	defer s.SetOnAppend(nil)
	script := s.Script()
	fmt.Fprintf(out, "%s · zone %s\n", script.Ceremony, script.Zone)
	fmt.Fprintf(out, "Script %s SHA-256 %s\n  %s\n", script.Name, GroupHex(script.Digest), dnssec.PGPWords(mustHex(script.Digest)[:8]))
	if cp := l.Latest(); cp != nil {
		fmt.Fprintf(out, "Log %s · origin %s · size %d · root %s\n", l.Dir(), l.Origin(), cp.Size, RootWords(cp, 4))
	}
	if st := s.State(); st.Resumes > 0 {
		at := "the end"
		if cur, ok := st.Current(); ok {
			at = "step " + cur.ID
		}
		fmt.Fprintf(out, "Resumed at %s (resume %d): the log holds %d entries.\n", at, st.Resumes, l.Size())
		if st.NeedActivation || (!st.Quorum && !st.HSMUsed && len(st.Cards) > 0) {
			fmt.Fprintln(out, "The activation secret is never stored: the crypto officers present their cards again.")
		}
	}
	lastStep := ""
	signFailed := false
	for s.Next() != session.NextDone {
		st := s.State()
		cur, ok := st.Current()
		if !ok && !st.Closed && lastStep != "roll call" {
			fmt.Fprintf(out, "\nEvery step is done. Roll call of the officers of this ceremony: %s\n", strings.Join(s.CosignExpected(), ", "))
			fmt.Fprintln(out, "  The close names those here and those who have gone; those here then cosign the final checkpoint.")
			lastStep = "roll call"
		} else if st.Closed && lastStep != "cosign" {
			fmt.Fprintf(out, "\nThe ceremony is closed. The officers present cosign the final checkpoint %d, one card at a time: %s\n", st.FinalSize, strings.Join(st.Present, ", "))
			lastStep = "cosign"
		} else if ok && cur.ID != lastStep {
			p.showStep(st, cur)
			lastStep = cur.ID
		}
		snap := before(st)
		if cp := l.Latest(); cp != nil {
			snap.size = cp.Size
		}
		var err error
		if !p.Auto && s.Next() == session.NextSign && !signFailed {
			// Once confirmed, every bundle is signed in one go.
			if err = s.SignNext(ctx); err == nil {
				fmt.Fprintf(out, "  signed bundle %d of %d\n", s.State().Signed, s.State().KSR.Bundles)
			}
		} else if p.Auto {
			var did string
			did, err = s.AutoStep(ctx)
			if did != "" {
				fmt.Fprintf(out, "  > %s\n", did)
			}
		} else {
			err = p.prompt(ctx, in, cur)
		}
		if errors.Is(err, ErrQuit) {
			return err
		}
		if err != nil && !errors.Is(err, quorum.ErrRejected) {
			fmt.Fprintf(out, "  [FAIL] %v\n", err)
			if p.Auto {
				return err
			}
		}
		// After a failed signature the operator decides: enter signs again.
		signFailed = err != nil && s.Next() == session.NextSign
		if err := p.afterAction(ctx, snap, s); err != nil {
			return err
		}
	}
	cp, err := l.AwaitCheckpoint(ctx, l.Size()-1)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe ceremony is closed: %d entries, %d exceptions.\n", cp.Size, len(s.State().Exceptions))
	if st := s.Snapshot(); len(st.Present)+len(st.Absent) > 0 {
		fmt.Fprintf(out, "Cosigned by %d of %d present officers (%s)", len(st.Final.Cosigned), len(st.Present), strings.Join(st.Final.Cosigned, ", "))
		if len(st.Absent) > 0 {
			fmt.Fprintf(out, "; absent: %s", strings.Join(st.Absent, ", "))
		}
		if len(st.Final.Declined) > 0 {
			fmt.Fprintf(out, "; did not cosign: %s", strings.Join(st.Final.Declined, ", "))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "Final checkpoint: size %d, root %s\n  %s\n", cp.Size, GroupHex(cp.RootHex()), RootWords(cp, 32))
	return nil
}

type snapshot struct {
	keys     int
	reshared bool
	ksr      bool
	checked  bool
	skr      bool
	size     uint64
}

func before(st ceremony.State) snapshot {
	return snapshot{keys: len(st.Keys), reshared: st.Reshared != nil, ksr: st.KSR != nil, checked: st.KSR != nil && st.KSR.Checked, skr: st.SKR != nil}
}

// afterAction shows what an action produced that people compare aloud, and
// waits for the checkpoint that covers it.
func (p *Plain) afterAction(ctx context.Context, was snapshot, s *session.Session) error {
	st := s.State()
	out := p.Out
	for _, k := range st.Keys[was.keys:] {
		fmt.Fprintf(out, "  KSK %s · algorithm %d · key tag %d (%d with REVOKE)\n", k.Label, k.Algorithm, k.KeyTag, k.RevokedTag)
		fmt.Fprintf(out, "  DS SHA-256 %s\n  %s\n", GroupHex(k.DS), dnssec.PGPWords(mustHex(k.DS)))
		fmt.Fprintln(out, "  Read the key tag and the DS aloud; the witnesses note them.")
	}
	if r := st.Reshared; !was.reshared && r != nil {
		fmt.Fprintf(out, "  New roster %s · SHA-256 %s\n  %s\n", r.Roster.Name, GroupHex(r.Roster.SHA256), dnssec.PGPWords(mustHex(r.Roster.SHA256)))
		fmt.Fprintf(out, "  Revoked: %s. The old cards open nothing under the new roster.\n", strings.Join(r.Revoked, ", "))
		if r.NewSecret {
			fmt.Fprintln(out, "  The HSM's PIN changed: only the new cards open it from now on.")
		}
	}
	if !was.ksr && st.KSR != nil {
		fmt.Fprintf(out, "  KSR %s · id %s · %d bundles\n", st.KSR.Name, st.KSR.ID, st.KSR.Bundles)
		fmt.Fprintf(out, "  SHA-256 %s\n  %s\n", GroupHex(st.KSR.SHA256), dnssec.PGPWords(mustHex(st.KSR.SHA256)))
		fmt.Fprintln(out, "  Compare the hash with the one received out of band, then confirm.")
	}
	if !was.checked && st.KSR != nil && st.KSR.Checked {
		for _, r := range st.KSR.Results {
			fmt.Fprintf(out, "  %s %-26s %s\n", StatusMark(r.Status), r.ID, r.Detail)
		}
	}
	if !was.skr && st.SKR != nil {
		fmt.Fprintf(out, "  SKR %s\n  SHA-256 %s\n  %s\n", s.SKRPath(), GroupHex(st.SKR.SHA256), dnssec.PGPWords(mustHex(st.SKR.SHA256)))
	}
	if l := s.Log(); l.Size() > 0 {
		cp, err := l.AwaitCheckpoint(ctx, l.Size()-1)
		if errors.Is(err, transparency.ErrNoCheckpoint) {
			return err // the disk takes no more: stop here, every entry so far is safe
		}
		if err == nil && cp.Size != was.size {
			fmt.Fprintf(out, "  [SIGN] checkpoint %d signed · root %s\n", cp.Size, RootWords(cp, 4))
		}
	}
	return nil
}

func (p *Plain) showStep(st ceremony.State, cur ceremony.Step) {
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
	if cur.Action == ceremony.ActionHSMLogin || st.NeedActivation {
		if t, ok := p.Session.TokenInfo(); ok {
			fmt.Fprintf(out, "  HSM %s · %s %s · serial %s\n", t.Label, strings.TrimSpace(t.Manufacturer), strings.TrimSpace(t.Model), strings.TrimSpace(t.Serial))
			if f := t.Flags(); len(f) > 0 {
				fmt.Fprintf(out, "  [WARN] %s\n", strings.ToUpper(strings.Join(f, " · ")))
			}
		}
	}
}

func (p *Plain) prompt(ctx context.Context, in *bufio.Scanner, cur ceremony.Step) error {
	s := p.Session
	out := p.Out
	next := s.Next()
	switch next {
	case session.NextCards:
		n := len(s.Script().Quorum.Cards)
		switch _, sim := s.Cards().(*quorum.Simulated); {
		case s.Script().Quorum.Witnessed():
			fmt.Fprintf(out, "  Card the HSM accepted (1-%d, x exception, q quit): ", n)
		case sim:
			fmt.Fprintf(out, "  Card (1-%d for CO1..CO%d, f forged, x exception, q quit): ", n, n)
		default:
			fmt.Fprintf(out, "  Card (1-%d, x exception, q quit): ", n)
		}
	case session.NextTyped:
		fmt.Fprintf(out, "  Type %s to go on (x exception, q quit): ", cur.Confirm)
	case session.NextCheckFailed:
		fmt.Fprint(out, "  The KSR failed its checks. x exception, q quit: ")
	case session.NextReshare:
		fmt.Fprintf(out, "  [enter] the new officers type their passphrases · x exception · q quit: ")
	case session.NextSignIn:
		fmt.Fprintf(out, "  [enter] sign the participants in, role by role · x exception · q quit: ")
	case session.NextWitness:
		fmt.Fprintf(out, "  [w] %s confirms step %s · x exception · q quit: ", s.NextWitnessRole(), cur.ID)
	case session.NextChoose:
		for _, k := range s.Contingencies() {
			fmt.Fprintf(out, "  %-14s %s\n", k.ID, k.Text)
		}
		fmt.Fprint(out, "  Contingencies that apply (ids separated by spaces; enter: none; x exception, q quit): ")
	case session.NextCosign:
		st := s.Snapshot()
		if !st.Closed {
			var here []string
			for _, id := range s.CosignExpected() {
				if !slices.Contains(s.Absent(), id) {
					here = append(here, id)
				}
			}
			fmt.Fprintf(out, "  Here: %s · gone: %s\n", listOrNone(here), listOrNone(s.Absent()))
			fmt.Fprint(out, "  [enter] close the ceremony with the officers here · a N: officer N has gone (again: is back) · q quit: ")
			break
		}
		var waiting []string
		for _, id := range st.Present {
			if !slices.Contains(st.Final.Cosigned, id) && !slices.Contains(st.Final.Declined, id) {
				waiting = append(waiting, id)
			}
		}
		fmt.Fprintf(out, "  Cosigned: %s\n", listOrNone(st.Final.Cosigned))
		fmt.Fprintf(out, "  Officer's card to cosign, %s to come (its number on the roster; a N: officer N will not cosign; q quit): ", strings.Join(waiting, ", "))
	case session.NextAction, session.NextSign:
		fmt.Fprintf(out, "  [enter] %s · x exception · q quit: ", actionVerb(cur.Action, s.State()))
	default:
		keys := " · x exception"
		if cur.Action == "" {
			keys += " · s skip"
		}
		if !s.Script().Acts[cur.Act].Always && s.State().Aborted == nil {
			keys += " · a abort"
		}
		fmt.Fprintf(out, "  [enter] confirm the step%s · q quit: ", keys)
	}
	if !in.Scan() {
		return ErrQuit
	}
	typed := in.Text() // a typed confirmation must match exactly
	line := strings.TrimSpace(typed)
	switch {
	case line == "q":
		fmt.Fprint(out, "  Quit? The log is safe; running the same command on the same folder resumes here. [y/N]: ")
		if in.Scan() && strings.TrimSpace(in.Text()) == "y" {
			return ErrQuit
		}
		return nil
	case line == "x":
		fmt.Fprint(out, "  Exception (what happened, what was done): ")
		if !in.Scan() || strings.TrimSpace(in.Text()) == "" {
			return nil
		}
		return s.Exception(ctx, strings.TrimSpace(in.Text()))
	case line == "s" && cur.Action == "":
		fmt.Fprintf(out, "  Skip step %s, because: ", cur.ID)
		if !in.Scan() || strings.TrimSpace(in.Text()) == "" {
			return nil
		}
		reason := strings.TrimSpace(in.Text())
		fmt.Fprintf(out, "  %s: skip step %s because %s? [y/N]: ", s.SkipWitness(), cur.ID, reason)
		if !in.Scan() || strings.TrimSpace(in.Text()) != "y" {
			fmt.Fprintln(out, "  Not confirmed: the step stays open.")
			return nil
		}
		return s.Skip(ctx, reason)
	case line == "r" && s.State().Next > 0:
		prev := s.Script().Steps()[s.State().Next-1]
		fmt.Fprintf(out, "  Repeat step %s, because: ", prev.ID)
		if !in.Scan() || strings.TrimSpace(in.Text()) == "" {
			return nil
		}
		reason := strings.TrimSpace(in.Text())
		fmt.Fprintf(out, "  %s: repeat step %s because %s? [y/N]: ", s.RepeatWitness(), prev.ID, reason)
		if !in.Scan() || strings.TrimSpace(in.Text()) != "y" {
			fmt.Fprintln(out, "  Not confirmed: nothing is repeated.")
			return nil
		}
		return s.Repeat(ctx, reason)
	case line == "a":
		fmt.Fprint(out, "  Abort the ceremony, because: ")
		if !in.Scan() || strings.TrimSpace(in.Text()) == "" {
			return nil
		}
		reason := strings.TrimSpace(in.Text())
		fmt.Fprint(out, "  Type ABORT to go straight to securing the equipment and closing: ")
		if !in.Scan() || in.Text() != "ABORT" {
			fmt.Fprintln(out, "  Not aborted.")
			return nil
		}
		return s.Abort(ctx, reason)
	case next == session.NextCards:
		if line == "f" {
			return s.PresentForged(ctx)
		}
		if n := cardNumber(line, len(s.Script().Quorum.Cards)); n > 0 {
			info := s.Script().Quorum.Cards[n-1]
			if s.Script().Quorum.Witnessed() {
				fmt.Fprintf(out, "  Serial of card %s (%s) as the HSM shows it: ", info.ID, info.Holder)
				if !in.Scan() {
					return ErrQuit
				}
				serial := strings.TrimSpace(in.Text())
				fmt.Fprintf(out, "  %s: the HSM accepted card %s (%s), serial %s? [y/N]: ", s.Witness(), info.ID, info.Holder, serial)
				if !in.Scan() {
					return ErrQuit
				}
				if strings.TrimSpace(in.Text()) != "y" {
					fmt.Fprintln(out, "  Not confirmed: nothing recorded.")
					return nil
				}
				return s.WitnessCard(ctx, info.ID, serial)
			}
			if sr, ok := s.Cards().(quorum.SecretReader); ok {
				secret, err := p.secret(in, fmt.Sprintf("  %s of card %s (%s), typed by its holder", sr.SecretName(), info.ID, info.Holder))
				if err != nil {
					return err
				}
				ctx = quorum.WithSecret(ctx, secret)
			}
			return s.PresentCard(ctx, info.ID)
		}
		return fmt.Errorf("%q is not a card number", line)
	case next == session.NextCosign && line == "" && !s.State().Closed:
		return s.CloseForCosign(ctx)
	case next == session.NextCosign:
		absent := strings.HasPrefix(line, "a ")
		n := cardNumber(strings.TrimSpace(strings.TrimPrefix(line, "a ")), len(s.Script().Quorum.Cards))
		if n == 0 {
			return fmt.Errorf("%q is not a card number", line)
		}
		info := s.Script().Quorum.Cards[n-1]
		if absent {
			return s.MarkAbsent(ctx, info.ID)
		}
		if sr, ok := s.Cards().(quorum.SecretReader); ok {
			secret, err := p.secret(in, fmt.Sprintf("  %s of card %s (%s), typed by its holder", sr.SecretName(), info.ID, info.Holder))
			if err != nil {
				return err
			}
			ctx = quorum.WithSecret(ctx, secret)
		}
		return s.PresentCosigner(ctx, info.ID)
	case next == session.NextTyped:
		return s.Type(ctx, typed)
	case next == session.NextChoose:
		return s.Choose(ctx, strings.Fields(line))
	case next == session.NextWitness && line == "w":
		return s.WitnessStep(ctx)
	case next == session.NextWitness:
		return fmt.Errorf("%q: %s confirms step %s with w", line, s.NextWitnessRole(), cur.ID)
	case next == session.NextSignIn && line == "":
		names := map[string]string{}
		for _, r := range s.Script().Roles {
			fmt.Fprintf(out, "  Name of the %s (%s), or enter if absent: ", r.Title, r.ID)
			if !in.Scan() {
				return ErrQuit
			}
			names[r.ID] = strings.TrimSpace(in.Text())
		}
		return s.SignIn(ctx, names)
	case next == session.NextReshare && line == "":
		passes := map[string]string{}
		for _, h := range s.NewHolders() {
			var typed [2]string
			for i, prompt := range []string{"passphrase for new card %s (%s), typed by its holder", "again"} {
				if i == 0 {
					prompt = fmt.Sprintf(prompt, h.ID, h.Holder)
				}
				v, err := p.secret(in, "  "+prompt)
				if err != nil {
					return err
				}
				typed[i] = v
			}
			if typed[0] != typed[1] {
				return fmt.Errorf("card %s: the two typings differ; start again", h.ID)
			}
			passes[h.ID] = typed[0]
		}
		return s.Reshare(ctx, passes)
	case line == "":
		return s.Confirm(ctx)
	}
	return fmt.Errorf("%q: press enter, x or q", line)
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

func cardNumber(s string, n int) int {
	var v int
	if _, err := fmt.Sscan(s, &v); err != nil || v < 1 || v > n || fmt.Sprint(v) != s {
		return 0
	}
	return v
}

// actionVerb names what enter does in a step with an action.
func actionVerb(action string, st ceremony.State) string {
	if st.NeedActivation {
		return "activate the HSM again"
	}
	switch action {
	case ceremony.ActionHSMLogin:
		return "log in to the HSM"
	case ceremony.ActionKSRLoad:
		return "load the KSR"
	case ceremony.ActionKSRCheck:
		return "check the KSR"
	case ceremony.ActionKSRSign:
		if st.KSR != nil {
			return fmt.Sprintf("sign bundle %d of %d", st.Signed+1, st.KSR.Bundles)
		}
		return "sign"
	case ceremony.ActionSKRWrite:
		return "write the SKR"
	case ceremony.ActionHSMLogout:
		return "log out of the HSM"
	case ceremony.ActionKeyGen:
		return "generate the KSK"
	case ceremony.ActionReshare:
		return "deal the new cards"
	case ceremony.ActionSignIn:
		return "sign the participants in"
	case ceremony.ActionZeroize:
		return "zeroize the HSM"
	case ceremony.ActionChoose:
		return "choose the contingencies that apply"
	}
	return "confirm the step"
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
