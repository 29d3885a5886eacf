package ui

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
)

// View draws the console from the model alone: no I/O, no clock.
func (c *Console) View() string {
	if !c.fits() {
		return c.tooSmallView()
	}
	f := c.frame()
	if sc := c.screenOf(); sc != nil {
		return sc.View(f)
	}
	// The components' sizes, from the measured sizes of the fixed lines.
	header := headerBar{c.width}.View(f)
	status := statusBar{c.width}.View(f)
	helpLine := c.viewHelp()
	bodyH := c.height - lipgloss.Height(header) - lipgloss.Height(status) - lipgloss.Height(helpLine)
	rightW := max(34, c.width*3/10)
	leftW := c.width - rightW
	left := stepPanel{leftW, bodyH}.View(f)
	right := stepList{rightW, bodyH}.View(f)
	body := lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	return lipgloss.JoinVertical(lipgloss.Left, header, body, status, helpLine)
}

// fits reports whether the console has the room to show the ceremony. A
// console that does not fit shows no step, so no key that answers one acts.
func (c *Console) fits() bool { return c.width >= MinWidth && c.height >= MinHeight }

// tooSmallView is the screen of a terminal too small for the console: what
// is missing, that keys wait, and the quit question when it is asked.
func (c *Console) tooSmallView() string {
	lines := []string{
		fmt.Sprintf("terminal too small: need %d×%d, have %d×%d", MinWidth, MinHeight, c.width, c.height),
		"Keys wait until the console fits: nothing is done or logged.",
	}
	if c.page == pageQuit {
		lines = append(lines, "Quit the console? y quit · n go on")
	} else {
		lines = append(lines, "ctrl+c asks to quit.")
	}
	for i, l := range lines {
		lines[i] = truncate(l, max(c.width, 1))
	}
	return strings.Join(lines[:min(len(lines), max(c.height, 1))], "\n")
}

// frame is the model as one drawing of the console sees it: the root
// builds it, and each component draws its part of the screen from it, in
// the size the root gives it.
type frame struct {
	sty       Styles
	st        session.Snapshot
	clock     time.Time
	rehearsal bool
	busy      string // what is running
	note      string // what the last action did
	failed    bool
	warned    bool
	dialog    *dialog // the question asked, if any
	recent    []logLine
	wrong     map[string]int // each card's mistyped secrets
	cp        *transparency.Checkpoint
	// logKey is the log key's fingerprint (hex); first and final are the
	// first checkpoint and, after the close, the final one with its
	// cosignatures, once read.
	logKey       string
	first, final *transparency.Checkpoint
	// splashUntil is when an act's checkpoint gives the screen back;
	// cpSince when the checkpoint page began showing its codes.
	splashUntil, cpSince time.Time
}

func (c *Console) frame() frame {
	return frame{sty: c.st, st: c.state, clock: c.clock, rehearsal: c.opts.Rehearsal, busy: c.busy, note: c.note, failed: c.failed, warned: c.warned,
		dialog: c.dialog, recent: c.recent, wrong: c.wrong, cp: c.cp, splashUntil: c.splashUntil, cpSince: c.cpSince,
		logKey: c.logKey, first: c.first, final: c.final}
}

// answers are what has been typed so far into the dialog of the
// interaction started by the key, if it is the one in progress.
func (f frame) answers(key string) []string {
	if f.dialog == nil || f.dialog.it.Key != key {
		return nil
	}
	return f.dialog.answers
}

// headerBar is the console's top lines.
type headerBar struct{ w int }

func (h headerBar) View(f frame) string {
	return headerView(f.sty, f.st.State, f.rehearsal, "", f.clock, h.w)
}

// headerView is the top of the screen: an optional banner, the ceremony,
// the UTC clock, the current act and a rule. The console and the viewer
// draw the same; extra is shown after the ceremony's name.
func headerView(sty Styles, st ceremony.State, rehearsal bool, extra string, clock time.Time, width int) string {
	script := st.Script
	actLine := "all acts done"
	if cur, ok := st.Current(); ok {
		actLine = fmt.Sprintf("Act %d of %d: %s", cur.Act+1, len(script.Acts), script.Acts[cur.Act].Title)
	}
	var parts []string
	if rehearsal {
		parts = append(parts, sty.Banner.Render("REHEARSAL"))
	}
	parts = append(parts, sty.Header.Render(script.Ceremony))
	if extra != "" {
		parts = append(parts, extra)
	}
	left := strings.Join(parts, " ")
	clk := sty.Clock.Render(clock.UTC().Format("2006-01-02 15:04:05 UTC"))
	gap := max(1, width-lipgloss.Width(left)-lipgloss.Width(clk))
	line1 := truncateStyled(left+strings.Repeat(" ", gap)+clk, width)
	line2 := sty.Title.Render(truncate(actLine, width))
	return lipgloss.JoinVertical(lipgloss.Left, line1, line2, sty.Muted.Render(strings.Repeat("─", width)))
}

// stepPanel is the current step, large, what its action shows, the
// witnesses' marks, the result of the last action, the question asked and
// the recent log.
type stepPanel struct{ w, h int }

func (p stepPanel) View(f frame) string {
	w, h := p.w, p.h
	st := f.st
	inner := w - 4
	var b strings.Builder
	action := ""
	cur, ok := st.Current()
	if !ok {
		if st.Closed {
			b.WriteString(f.sty.OK.Render("[ OK ] The ceremony is closed.") + "\n\n")
		} else {
			b.WriteString(f.sty.Title.Render("Every step is done: the roll call of the officers, then the close.") + "\n\n")
		}
		b.WriteString(f.sty.Text.Render(tally(st.State)) + "\n\n")
		if len(st.CosignExpected()) > 0 {
			b.WriteString(quorumPanel{inner}.cosigners(f))
		}
		b.WriteString(f.closeReadout(inner))
	} else {
		b.WriteString(stepHeading(f.sty, st.State, cur, h) + "\n")
		b.WriteString("\n" + f.sty.Text.Bold(true).Width(inner).Render(cur.Text) + "\n\n")
		action = p.action(f, cur, inner)
		b.WriteString(actionHere)
		if len(cur.Witnesses) > 0 && st.ActionDone() {
			var marks []string
			for i, w := range cur.Witnesses {
				if i < len(st.Witnessed) {
					marks = append(marks, f.sty.OK.Render("[ OK ] "+w+" confirmed"))
				} else if i == len(st.Witnessed) && f.dialog == nil {
					marks = append(marks, f.sty.Focus.Render("▶ "+w+" confirms: w"))
				} else {
					marks = append(marks, f.sty.Pending.Render("[    ] "+w))
				}
			}
			b.WriteString(strings.Join(marks, "   ") + "\n")
		}
	}
	if f.busy != "" {
		b.WriteString("\n" + f.sty.Warn.Render("[WAIT] "+f.busy+" …") + "\n")
	} else if f.note != "" {
		mark := f.sty.OK.Render("[ OK ] ")
		switch {
		case f.failed:
			mark = f.sty.Fail.Render("[FAIL] ")
		case f.warned:
			mark = f.sty.Warn.Render("[WARN] ")
		}
		b.WriteString("\n" + mark + f.sty.Text.Render(f.note) + "\n")
	}
	if f.dialog != nil {
		b.WriteString(f.dialog.View(f.sty))
	}
	// What the step is and what the witness and the operator do next are
	// always shown whole; the action's panel gets the room left, and is
	// clipped at the smallest sizes.
	wrap := lipgloss.NewStyle().Width(inner).Render
	head, tail, _ := strings.Cut(b.String(), actionHere)
	fixed := lipgloss.Height(wrap(head+tail)) + 1
	if action != "" {
		action = clip(strings.TrimRight(wrap(strings.TrimRight(action, "\n")), " \n"), max(2, h-2-fixed)) + "\n"
	}
	body := head + action + tail
	// Recent log entries fill what is left.
	lines := lipgloss.Height(wrap(strings.TrimRight(body, "\n"))) + 1
	if room := h - lines - 4; room > 2 && len(f.recent) > 0 {
		body += logPanel{inner, room}.View(f)
	}
	return f.sty.Box.Width(w - 2).Height(h - 2).Render(clip(wrap(strings.TrimRight(body, "\n")), h-2))
}

// details is the current step's action panel as the step panel draws it
// before it is clipped to its room: "" when the step has none.
func (c *Console) details() string {
	cur, ok := c.state.Current()
	if !ok {
		return ""
	}
	return strings.TrimSpace(stepPanel{c.width, c.height}.action(c.frame(), cur, c.width-4))
}

// hasDetails is whether the current step has an action panel for d to
// show; drawn once for each new state or size, not on every key.
func (c *Console) hasDetails() bool {
	at := detailsAt{c.seq, c.width, c.height}
	if c.detailsAt != at {
		c.detailsAt, c.detailsHas = at, c.details() != ""
	}
	return c.detailsHas
}

// detailsAt is what hasDetails's answer was drawn for.
type detailsAt struct {
	seq           uint64 // the result shown: each new state has its own
	width, height int
}

// detailsPage is the current step's action panel whole, full screen: what
// a small terminal clips (the KSR's checks, long hashes). Any key gives
// the screen back.
type detailsPage struct{ w, h int }

func (p detailsPage) View(f frame) string {
	cur, _ := f.st.Current()
	header := f.screenTitle("DETAILS", p.w)
	bodyH := p.h - lipgloss.Height(header) - 1
	body := f.sty.Title.Render("Step "+cur.ID+": "+cur.Text) + "\n\n" + stepPanel{p.w, p.h}.action(f, cur, p.w-2)
	lines := strings.Split(lipgloss.NewStyle().Width(p.w-2).Render(strings.TrimRight(body, "\n")), "\n")
	if len(lines) > bodyH && bodyH > 1 {
		lines = append(lines[:bodyH-1], fmt.Sprintf("… %d more lines: enlarge the terminal to see them", len(lines)-bodyH+1))
	}
	return lipgloss.JoinVertical(lipgloss.Left, header, lipgloss.NewStyle().Height(bodyH).MaxHeight(bodyH).Render(strings.Join(lines, "\n")), f.sty.Help.Render("any key: back to the ceremony"))
}

// logPanel is the latest entries, as many as its height holds.
type logPanel struct{ w, h int }

func (p logPanel) View(f frame) string {
	n := min(p.h-1, len(f.recent))
	s := "\n" + f.sty.PanelTitle.Render("Log") + "\n"
	for _, r := range f.recent[len(f.recent)-n:] {
		s += f.sty.Muted.Render(truncate(r.String(), p.w)) + "\n"
	}
	return s
}

// actionHere marks where the action's panel goes in the step's panel.
const actionHere = "\x00action\x00"

// clip keeps the first n lines of s (wrapped as they will be drawn), the
// last one saying how many more there are: a panel never pushes the status
// line and the keys off the screen.
func clip(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n || n < 2 {
		return s
	}
	more := len(lines) - n + 1
	return strings.Join(lines[:n-1], "\n") + "\n" + fmt.Sprintf("… %d more lines: d shows them all, or enlarge the terminal", more)
}

// action shows what the step's action needs people to see.
func (p stepPanel) action(f frame, cur ceremony.Step, w int) string {
	st := f.st
	var b strings.Builder
	if st.CollectingCards() || cur.Action == ceremony.ActionQuorum {
		b.WriteString(quorumPanel{w}.View(f))
	}
	if t := st.Token; t != nil && st.LoggingIn() && !st.HSM {
		line := fmt.Sprintf("HSM %s · %s %s · serial %s", t.Label, strings.TrimSpace(t.Manufacturer), strings.TrimSpace(t.Model), strings.TrimSpace(t.Serial))
		b.WriteString(f.sty.Text.Render(truncate(line, w)) + "\n")
		if flags := t.Flags(); len(flags) > 0 {
			b.WriteString(f.sty.Warn.Render("[WARN] "+strings.ToUpper(strings.Join(flags, " · "))) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Shows(ceremony.ShowLogKey) {
		b.WriteString(viewDigest(f.sty, "Log key fingerprint (SHA-256 of log.vkey)", "", f.logKey, w))
	}
	if cur.Shows(ceremony.ShowFirstCheckpoint) {
		if cp := f.first; cp != nil {
			b.WriteString(viewDigest(f.sty, fmt.Sprintf("First checkpoint · size %d", cp.Size), "root ", cp.RootHex(), w))
		} else {
			b.WriteString(f.sty.Warn.Render("[WAIT] the first checkpoint is being signed") + "\n\n")
		}
	}
	if e := cur.Expect; e != nil {
		b.WriteString(f.hash("Expected "+e.Name+" (known in advance)", e.SHA256, w))
	}
	switch cur.Action {
	case ceremony.ActionKSRLoad, ceremony.ActionKSRCheck, ceremony.ActionKSRSign, ceremony.ActionSKRWrite:
		// The checks' step on a small screen gives the hash's room (it was
		// compared when the KSR was loaded) to the checks the IW reads.
		if st.KSR != nil && (cur.Action != ceremony.ActionKSRCheck || !st.KSR.Checked || p.h >= bigStepRows) {
			b.WriteString(f.ksr(w))
		}
	}
	if p := st.Previous; p != nil && st.Next == 0 {
		b.WriteString(f.sty.PanelTitle.Render("Carried over from the previous ceremony") + "\n")
		root, _ := hex.DecodeString(p.Root)
		lines := []string{
			"Follows " + safetext.Printable(p.Origin),
			fmt.Sprintf("its final checkpoint, size %d, root %s", p.Size, dnssec.PGPWords(root[:min(len(root), 4)])),
			fmt.Sprintf("custody register: %s", words.Count(len(st.Custody), "sealed item", "sealed items")),
		}
		if p.SKR != "" {
			lines = append(lines, "the SKR it wrote: "+dnssec.GroupHex(p.SKR[:min(len(p.SKR), 16)])+" …")
		}
		if st.Backup != "" {
			lines = append(lines, "the KSK backup on record: "+dnssec.GroupHex(st.Backup[:min(len(st.Backup), 16)])+" …")
		}
		for _, l := range lines {
			b.WriteString(f.sty.Text.Render(truncate("  "+l, w)) + "\n")
		}
		b.WriteString("\n")
	}
	if t := st.Triggered; t != nil {
		b.WriteString(f.sty.Fail.Render(truncate("[STOP] "+st.TriggerWords(), w)) + "\n")
		b.WriteString(f.sty.PanelTitle.Render("Planned for it") + "\n")
		for _, k := range st.Script.Planned(t.Trigger, t.Item) {
			b.WriteString(f.sty.Text.Width(w).Render(fmt.Sprintf("  %s: %s (then: %s)", k.ID, safetext.Printable(k.Text), k.Then)) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionBagOpen || cur.Action == ceremony.ActionBagSeal || (st.Triggered != nil && st.Triggered.Item != "") {
		b.WriteString(f.sty.PanelTitle.Render("Custody register") + "\n")
		for _, l := range st.CustodyLines() {
			mark, sty := "  ", f.sty.Text
			if l.Item == cur.Params["item"] {
				mark = "▸ "
			}
			if l.Incident {
				sty = f.sty.Fail
			}
			b.WriteString(sty.Render(truncate(fmt.Sprintf("%s%-10s %-22s %s", mark, l.Item, truncate(safetext.Printable(l.What), 22), l.State), w)) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionChoose {
		b.WriteString(f.sty.PanelTitle.Render("Contingencies") + "\n")
		for _, k := range st.Script.Contingencies {
			mark := "[    ]"
			if st.Chosen[k.ID] {
				mark = "[ ON ]"
			}
			b.WriteString(f.sty.Text.Render(truncate(fmt.Sprintf("%s %-14s %s", mark, k.ID, k.Text), w)) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionSignIn {
		typed := f.answers(session.KeyConfirm) // the names typed so far
		b.WriteString(f.sty.PanelTitle.Render("Participants") + "\n")
		for i, r := range st.Script.Roles {
			name := "—"
			switch {
			case st.Participants != nil && st.Participants[r.ID] != "":
				name = safetext.Printable(st.Participants[r.ID])
			case st.Participants != nil:
				name = "absent"
			case i < len(typed) && strings.TrimSpace(typed[i]) != "":
				name = strings.TrimSpace(typed[i])
			case i < len(typed):
				name = "absent"
			}
			b.WriteString(f.sty.Text.Render(fmt.Sprintf("  %-5s %-36s %s", r.ID, truncate(r.Title, 36), truncate(name, 30))) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionBackup && st.Confirmed {
		holders := st.Setup.RecoveryHolders
		typed := f.answers(session.KeyConfirm) // each new passphrase, twice
		b.WriteString(f.sty.PanelTitle.Render(fmt.Sprintf("Recovery key share holders · %d of %d", ceremony.BackupThreshold(cur), len(holders))) + "\n")
		for i, h := range holders {
			state := "waiting"
			if len(typed) >= 2*(i+1) {
				state = "passphrase set"
			}
			if st.BackedUp != nil {
				state = "card written"
			}
			b.WriteString(f.sty.Text.Render(fmt.Sprintf("  %-4s %-20s %s", h.ID, truncate(safetext.Printable(h.Holder), 20), state)) + "\n")
		}
		if bu := st.BackedUp; bu != nil {
			for _, k := range bu.Keys {
				b.WriteString(f.sty.OK.Render(truncate(fmt.Sprintf("[ OK ] %s backed up: key tag %d", safetext.Printable(k.Label), k.KeyTag), w)) + "\n")
			}
			if len(bu.Kept) > 0 {
				b.WriteString(f.sty.Warn.Render(truncate("[WARN] not extractable, kept out of the backup: "+safetext.Printable(strings.Join(bu.Kept, ", ")), w)) + "\n")
			}
			b.WriteString(f.sty.Text.Render("Storage master key check value "+safetext.Printable(bu.SMKCheck)+" (the key itself is wiped)") + "\n")
		}
		b.WriteString("\n")
	}
	if (cur.Action == ceremony.ActionRecovery || cur.Action == ceremony.ActionRestore) && st.Setup.RecoveryRoster != nil {
		q := st.Setup.RecoveryRoster
		b.WriteString(f.sty.PanelTitle.Render(fmt.Sprintf("Recovery holders' cards · %d of %d", len(st.Recovery.Cards), q.Threshold)) + "\n")
		for i, c := range q.Cards {
			mark := "[    ]"
			if slices.Contains(st.Recovery.Cards, c.ID) {
				mark = "[ IN ]"
			}
			b.WriteString(f.sty.Text.Render(fmt.Sprintf("  %d %s %-4s %s", i+1, mark, c.ID, truncate(safetext.Printable(c.Holder), 30))) + "\n")
		}
		if st.Recovery.Reached {
			b.WriteString(f.sty.OK.Render("[ OK ] storage master key rebuilt, check value "+safetext.Printable(st.Recovery.SMKCheck)) + "\n")
		}
		for _, r := range st.Restored {
			b.WriteString(f.sty.OK.Render(truncate(safetext.Printable(fmt.Sprintf("[ OK ] %s restored into %s: key tag %d, DS %s", r.Label, r.Token, r.KeyTag, dnssec.GroupHex(r.DSSHA256))), w)) + "\n")
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionReshare && !st.CollectingCards() {
		holders := st.Setup.NewHolders
		typed := f.answers(session.KeyConfirm) // each new passphrase, twice
		b.WriteString(f.sty.PanelTitle.Render("New crypto officers · "+cur.Params["threshold"]+" of "+fmt.Sprint(len(holders))) + "\n")
		for i, h := range holders {
			state := "waiting"
			if len(typed) >= 2*(i+1) {
				state = "passphrase set"
			}
			if st.Reshared != nil {
				state = "card written"
			}
			b.WriteString(f.sty.Text.Render(fmt.Sprintf("  %-4s %-20s %s", h.ID, truncate(h.Holder, 20), state)) + "\n")
		}
		if r := st.Reshared; r != nil {
			b.WriteString(f.sty.OK.Render("[ OK ] revoked: "+strings.Join(r.Revoked, ", ")) + "\n")
			if r.NewSecret {
				b.WriteString(f.sty.OK.Render("[ OK ] the HSM's PIN changed: only the new cards open it") + "\n")
			}
			b.WriteString(f.hash("New roster "+r.Roster.Name, r.Roster.SHA256, w))
		}
		b.WriteString("\n")
	}
	if cur.Action == ceremony.ActionKeyGen {
		for _, k := range st.Keys {
			if k.Step == cur.ID {
				b.WriteString(f.sty.OK.Render(fmt.Sprintf("KSK %s · algorithm %d · key tag %d (%d with REVOKE)", k.Label, k.Algorithm, k.KeyTag, k.RevokedTag)) + "\n")
				b.WriteString(f.hash("DS", k.DS, w))
			}
		}
		if f.st.Awaiting() == session.NextTyped {
			b.WriteString(f.sty.Warn.Render(fmt.Sprintf("Irreversible: type %s exactly to generate %s.", cur.Confirm, cur.Params["label"])) + "\n")
		}
	}
	if cur.Action == ceremony.ActionKSRCheck && st.KSR != nil && st.KSR.Checked {
		b.WriteString(f.checkResults(w, p.h))
	}
	if cur.Action == ceremony.ActionKSRSign && st.KSR != nil {
		done := st.Signed
		bar := strings.Repeat("█", done) + strings.Repeat("░", st.KSR.Bundles-done)
		b.WriteString(f.sty.Text.Render(fmt.Sprintf("Signing %s %d of %d bundles", bar, done, st.KSR.Bundles)) + "\n")
		if f.st.Awaiting() == session.NextTyped {
			b.WriteString(f.sty.Warn.Render(fmt.Sprintf("Irreversible: type %s exactly to sign.", cur.Confirm)) + "\n")
		}
	}
	if cur.Action == ceremony.ActionSKRWrite && st.SKR != nil || (st.SKR != nil && cur.Action == ceremony.ActionHSMLogout) {
		b.WriteString(f.hash("SKR "+st.SKR.Name, st.SKR.SHA256, w))
	}
	if st.NeedActivation {
		b.WriteString(f.sty.Warn.Render("The console restarted: the HSM must be activated again before it is used.") + "\n")
	}
	return b.String()
}

// checkResults lists the KSR's checks: failures and warnings first, each
// whole (wrapped, never cut), for the witness confirms having read them;
// then the checks that passed, each on its line when the panel is tall
// enough, else named together.
func (f frame) checkResults(w, h int) string {
	var b strings.Builder
	var passed []string
	line := func(r event.CheckResult) {
		text := r.ID + "  " + r.Detail
		if ansi.StringWidth(text) > w-7 {
			text = strings.ReplaceAll(ansi.Wrap(text, w-7, "-"), "\n", "\n       ") // a hanging indent under the mark
		}
		b.WriteString(f.mark(r.Status) + " " + f.sty.Text.Render(text) + "\n")
	}
	for _, r := range f.st.KSR.Results {
		if r.Status == dnssec.Pass {
			passed = append(passed, r.ID)
			continue
		}
		line(r)
	}
	if h >= bigStepRows {
		for _, r := range f.st.KSR.Results {
			if r.Status == dnssec.Pass {
				line(r)
			}
		}
	} else if len(passed) > 0 {
		b.WriteString(f.mark(dnssec.Pass) + " " + f.sty.Text.Width(w-7).Render(fmt.Sprintf("%s passed: %s", words.Count(len(passed), "other check", "other checks"), strings.Join(passed, ", "))) + "\n")
	}
	return b.String()
}

// quorumPanel is the crypto officers' cards: the quorum filling up, and
// at the close the roll call and the final cosignatures.
type quorumPanel struct{ w int }

func (q quorumPanel) View(f frame) string {
	st, w := f.st, q.w
	roster := st.Script.Quorum
	var b strings.Builder
	title := fmt.Sprintf("Crypto officers %d of %d · %d enrolled", len(st.Accepted), roster.Threshold, len(roster.Cards))
	if roster.Witnessed() {
		title += " · the HSM checks the cards; " + st.CardWitness() + " confirms each"
	}
	b.WriteString(f.sty.PanelTitle.Render(title) + "\n")
	last := map[string]ceremony.CardEvent{}
	refused := map[string]string{} // each card's refusals, kept in its row
	for _, e := range st.Cards {
		if prev, ok := last[e.Card]; !ok || !prev.Accepted || e.Accepted {
			last[e.Card] = e
		}
		if !e.Accepted {
			refused[e.Card] = strings.ToUpper(e.Reason)
		}
	}
	for i, card := range roster.Cards {
		state, mark := "waiting", f.sty.Pending.Render("[    ]")
		switch {
		case card.Revoked:
			state = "revoked"
		case f.wrong[card.ID] > 0 && st.Inserted != nil && !st.Inserted[card.ID]:
			state = fmt.Sprintf("not inserted · %d wrong", f.wrong[card.ID])
		case f.wrong[card.ID] > 0:
			state = fmt.Sprintf("%d wrong %s", f.wrong[card.ID], f.secretName())
		case st.Inserted != nil && st.Inserted[card.ID]:
			state = "card inserted"
		case st.Inserted != nil:
			state = "not inserted"
		}
		when := ""
		if e, ok := last[card.ID]; ok {
			when = e.Time.Format("15:04:05")
			if e.Accepted && contains(st.Accepted, card.ID) {
				state, mark = "accepted", f.sty.OK.Render("[ OK ]")
				if n := len(st.Cosigned); st.QuorumCosigned && n > 0 && contains(st.Cosigned[n-1].Cosigners, card.ID) {
					state = "accepted · cosigned"
				}
				if e.Serial != "" {
					state = "serial " + e.Serial + " · " + e.Witness
				}
				if r := refused[card.ID]; r != "" && e.Serial == "" {
					state = "accepted after " + r // the refusal stays in the row
					mark = f.sty.Warn.Render("[ OK ]")
				}
			} else if !e.Accepted {
				state, mark = "REJECTED: "+safetext.Printable(e.Reason), f.sty.Fail.Render("[FAIL]")
			} else {
				// Accepted once, no longer held (a restart, an expired
				// quorum): its holder presents it again.
				state, when = "present it again", ""
			}
		}
		holderW := 18                   // a holder's name whole at every size
		stateW := max(20, w-24-holderW) // what the row's fixed parts leave
		b.WriteString(fmt.Sprintf("%s %d %-4s %-*s %-*s %s\n", mark, i+1, card.ID, holderW, truncate(card.Holder, holderW), stateW, truncate(state, stateW), f.sty.Muted.Render(when)))
	}
	if main, ok := st.Main(); ok && st.Forged != "" {
		b.WriteString(f.sty.Fail.Width(w).Render("[STOP] "+main.Prompt+" (x)") + "\n")
	}
	if st.Quorum {
		b.WriteString(f.sty.OK.Render("[ OK ] quorum reached: "+strings.Join(st.Accepted, ", ")) + "\n")
		if n := len(st.Cosigned); n > 0 && st.QuorumCosigned {
			q := st.Cosigned[n-1]
			b.WriteString(f.sty.OK.Render(fmt.Sprintf("[ OK ] checkpoint %d cosigned by %s", q.Size, strings.Join(q.Cosigners, ", "))) + "\n")
		}
	}
	return b.String() + "\n"
}

// viewCosigners is the close, in the quorum panel's style: first the roll
// call of the ceremony's officers (here, or gone), then, once the close is
// logged, each present officer's cosignature of the final checkpoint.
func (q quorumPanel) cosigners(f frame) string {
	st := f.st
	roster := st.Script.Quorum
	expected := st.CosignExpected()
	var b strings.Builder
	holderW := 18 // a holder's name whole at every size
	row := func(mark string, i int, card quorum.CardInfo, state string) {
		b.WriteString(fmt.Sprintf("%s %d %-4s %-*s %s\n", mark, i+1, card.ID, holderW, truncate(card.Holder, holderW), state))
	}
	if !st.Closed {
		absent := st.Gone
		b.WriteString(f.sty.PanelTitle.Render(fmt.Sprintf("Roll call at the close · %d of %d officers here", len(expected)-len(absent), len(expected))) + "\n")
		for i, card := range roster.Cards {
			switch {
			case !contains(expected, card.ID):
			case contains(absent, card.ID):
				row(f.sty.Warn.Render("[ -- ]"), i, card, "gone")
			default:
				row(f.sty.OK.Render("[ OK ]"), i, card, "here")
			}
		}
		b.WriteString(f.sty.Muted.Render("o marks an officer who has gone · enter closes the ceremony; the officers here then cosign its final checkpoint, one card at a time") + "\n")
		return b.String()
	}
	b.WriteString(f.sty.PanelTitle.Render(fmt.Sprintf("Final checkpoint %d · cosigned by %d of %d present officers", st.FinalSize, len(st.Final.Cosigned), len(st.Present))) + "\n")
	failures := st.Final.Failed
	for i, card := range roster.Cards {
		switch {
		case !contains(expected, card.ID):
		case contains(st.Final.Cosigned, card.ID):
			row(f.sty.OK.Render("[ OK ]"), i, card, "cosigned")
		case contains(st.Absent, card.ID):
			row(f.sty.Warn.Render("[ -- ]"), i, card, "absent")
		case contains(st.Final.Declined, card.ID):
			row(f.sty.Fail.Render("[FAIL]"), i, card, "will not cosign")
		case failures[card.ID] != "":
			row(f.sty.Fail.Render("[FAIL]"), i, card, "card could not sign: present it again")
		case f.wrong[card.ID] > 0:
			row(f.sty.Pending.Render("[    ]"), i, card, fmt.Sprintf("%d wrong %s", f.wrong[card.ID], f.secretName()))
		default:
			row(f.sty.Pending.Render("[    ]"), i, card, "present your card")
		}
	}
	if st.FinalPending() {
		b.WriteString(f.sty.Muted.Render("Each officer present presents their card and cosigns; o: an officer who will not") + "\n")
	}
	return b.String()
}

// tally is a ceremony's steps done, exceptions, stops and resumes, in
// words, as the console and the viewer say them at the close.
func tally(st ceremony.State) string {
	return words.Count(len(st.DoneAt), "step", "steps") + " done · " + words.Count(len(st.Exceptions), "exception", "exceptions") +
		" · " + words.Count(st.Stops, "stop", "stops") + " · " + words.Count(st.Resumes, "resume", "resumes")
}

// closeReadout is what the close has people read and do: the final
// checkpoint (size, root in hex and words, its cosigners), and once every
// officer here has cosigned, what the script says comes after the close.
func (f frame) closeReadout(w int) string {
	st := f.st
	if !st.Closed {
		return ""
	}
	var b strings.Builder
	if cp := f.shownCheckpoint(); cp != nil && cp.Size == st.FinalSize {
		b.WriteString("\n" + viewDigest(f.sty, fmt.Sprintf("Final checkpoint · size %d · read it aloud", cp.Size), "root ", cp.RootHex(), w))
		if names := signerNames(string(cp.Note)); len(names) > 1 {
			b.WriteString(f.sty.Text.Width(w).Render("Cosigned by "+strings.Join(names[1:], ", ")) + "\n")
		}
	} else {
		b.WriteString("\n" + f.sty.Warn.Render("[WAIT] the final checkpoint is being signed") + "\n")
	}
	if after := st.Script.AfterClose; len(after) > 0 && !st.FinalPending() {
		b.WriteString("\n" + f.sty.PanelTitle.Render("After the close (not logged)") + "\n")
		for _, a := range after {
			b.WriteString(f.sty.Text.Width(w).Render("▶ "+a) + "\n")
		}
	}
	return b.String()
}

// secretName is what a card's holder types, for the quorum panel.
func (f frame) secretName() string {
	if n := f.st.Setup.SecretName; n != "" {
		return n
	}
	return "PIN"
}

func (f frame) ksr(w int) string {
	k := f.st.KSR
	s := f.hash(fmt.Sprintf("KSR %s · %d bundles", k.Name, k.Bundles), k.SHA256, w)
	if !k.Confirmed {
		s += f.sty.Warn.Render("Compare this hash with the one received out of band, then confirm.") + "\n"
	}
	return s
}

func (f frame) hash(title, hexHash string, w int) string {
	return viewHashWith(f.sty, title, hexHash, w)
}

// viewHashWith shows a hash people compare aloud: hex in groups of four
// and PGP words.
func viewHashWith(sty Styles, title, hexHash string, w int) string {
	return viewDigest(sty, title, "SHA-256 ", hexHash, w)
}

// viewDigest is viewHashWith with its own label before the hex.
func viewDigest(sty Styles, title, label, hexHash string, w int) string {
	words := dnssec.PGPWords(mustHex(hexHash))
	return sty.PanelTitle.Render(title) + "\n" +
		sty.Text.Width(w).Render(label+dnssec.GroupHex(hexHash)) + "\n" +
		sty.Focus.Width(w).Render(words) + "\n\n"
}

func (f frame) mark(status string) string {
	switch status {
	case dnssec.Pass:
		return f.sty.OK.Render("[PASS]")
	case dnssec.Warn:
		return f.sty.Warn.Render("[WARN]")
	}
	return f.sty.Fail.Render("[FAIL]")
}

// stepList is the step list: done, current and pending marks.
type stepList struct{ w, h int }

func (l stepList) View(f frame) string { return stepsPanel(f.sty, f.st.State, l.w, l.h) }

// stepsPanel is the step list of a ceremony's state, in w×h cells: the
// console and the viewer draw the same.
func stepsPanel(sty Styles, st ceremony.State, w, h int) string {
	steps := st.Script.Steps()
	var lines []string
	cursor := 0
	skipped := map[string]string{}
	for _, d := range st.Skipped {
		skipped[d.Step] = map[string]string{"skipped": "[SKIP] ", "aborted": "[ -- ] ", "not applicable": "[ NA ] "}[d.Kind]
	}
	for i, s := range steps {
		var line string
		label := truncate(fmt.Sprintf("%-4s %-4s %s", s.ID, s.Role, s.Text), w-11)
		switch {
		case i < st.Next && skipped[s.ID] != "":
			line = sty.Warn.Render(skipped[s.ID]) + sty.Muted.Render(label)
		case i < st.Next:
			line = sty.Done.Render("[ OK ] ") + sty.Muted.Render(label)
		case i == st.Next:
			line = sty.Current.Render("▶ NOW  " + label)
			cursor = len(lines)
		default:
			line = sty.Pending.Render("[    ] " + label)
		}
		if i == 0 || steps[i-1].Act != s.Act {
			lines = append(lines, sty.PanelTitle.Render(fmt.Sprintf("Act %d", s.Act+1)))
			if i == st.Next {
				cursor = len(lines)
			}
		}
		lines = append(lines, truncateStyled(line, w-4))
	}
	if n := len(st.Exceptions); n > 0 {
		lines = append(lines, "", sty.Warn.Render(words.Count(n, "exception", "exceptions")+" recorded"))
	}
	if st.Aborted != nil {
		lines = append(lines, sty.Fail.Render("ABORTED at step "+st.Aborted.Step))
	}
	room := max(1, h-2) // a panel squeezed to nothing still draws a line
	if len(lines) > room {
		start := max(0, min(cursor-room/3, len(lines)-room))
		lines = lines[start : start+room]
	}
	return sty.Panel.Width(w - 2).Height(h - 2).Render(strings.Join(lines, "\n"))
}

// statusBar is the quorum, the HSM and the log in a line.
type statusBar struct{ w int }

func (b statusBar) View(f frame) string {
	size := f.st.LogSize
	signed := statusPart{f.sty.Warn.Render("checkpoint pending"), prioCheckpoint}
	root := "—"
	if f.cp != nil {
		root = RootWords(f.cp, 4)
		if f.cp.Size >= size {
			signed.text = f.sty.OK.Render(fmt.Sprintf("checkpoint %d signed", f.cp.Size))
		}
	}
	parts := quorumParts(f.sty, f.st.State)
	parts = append(parts,
		statusPart{f.sty.Status.Render("Log " + words.Counts(size, "entry", "entries")), prioLog},
		statusPart{f.sty.Status.Render("durable"), prioDetail},
		statusPart{f.sty.Status.Render("root " + root), prioRoot},
		signed)
	return f.sty.Muted.Render(strings.Repeat("─", b.w)) + "\n" + fitParts(f.sty.Status.Render(" · "), parts, b.w)
}

// A statusPart is one piece of a status line, and how long it stays when
// the line is short of room: the lowest priority goes first.
type statusPart struct {
	text string // styled
	prio int
}

// The status line's priorities: the checkpoint's state is the last to go.
const (
	prioDetail = iota
	prioRoot
	prioLog
	prioQuorum
	prioHSM
	prioKey
	prioCheckpoint
)

// fitParts joins the parts with sep, dropping the lowest priorities (the
// later first among equals) until the line fits w cells: never a part cut
// in the middle. A single part too wide for w is cut with an ellipsis.
func fitParts(sep string, parts []statusPart, w int) string {
	keep := append([]statusPart(nil), parts...)
	for {
		texts := make([]string, len(keep))
		for i, p := range keep {
			texts[i] = p.text
		}
		line := strings.Join(texts, sep)
		if lipgloss.Width(line) <= w || len(keep) == 1 {
			return truncateStyled(line, w)
		}
		drop := len(keep) - 1
		for i := len(keep) - 1; i >= 0; i-- {
			if keep[i].prio < keep[drop].prio {
				drop = i
			}
		}
		keep = append(keep[:drop], keep[drop+1:]...)
	}
}

func (c *Console) viewHelp() string {
	if c.opts.Auto {
		return c.st.Help.Render("AUTO · the rehearsal plays itself · c checkpoint QR · ? help · q quit")
	}
	var ks []key.Binding
	if c.dialog != nil {
		ks = c.dialog.ShortHelp() // what answers the question asked
	} else {
		for _, k := range []key.Binding{c.keys.Confirm, c.keys.Witness, c.keys.Card, c.keys.Absent, c.keys.Forged, c.keys.Exception, c.keys.Skip, c.keys.Repeat, c.keys.Abort, c.keys.Details, c.keys.Help, c.keys.Quit, c.keys.Checkpoint, c.keys.Exceptions} {
			if k.Enabled() {
				ks = append(ks, k)
			}
		}
	}
	return keysLine(c.st, ks, c.width)
}

// keysLine lists the keys, each with what it does now, on as many lines as
// they need: a key that works is never cut from the list.
func keysLine(sty Styles, ks []key.Binding, w int) string {
	sep := sty.Help.Render(" • ")
	var lines []string
	line := ""
	for _, k := range ks {
		item := sty.Focus.Render(k.Help().Key) + sty.Help.Render(" "+k.Help().Desc)
		switch {
		case line == "":
			line = item
		case lipgloss.Width(line)+lipgloss.Width(sep)+lipgloss.Width(item) <= w:
			line += sep + item
		default:
			lines = append(lines, line)
			line = item
		}
	}
	lines = append(lines, line)
	for i, l := range lines {
		lines[i] = truncateStyled(l, w)
	}
	return strings.Join(lines, "\n")
}

func truncate(s string, w int) string {
	if w <= 1 || lipgloss.Width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

func truncateStyled(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(w).Render(s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// quorumParts is the quorum's progress and the HSM's state, for the
// status line: none for a script without a quorum.
func quorumParts(sty Styles, st ceremony.State) []statusPart {
	q := st.Script.Quorum
	if q == nil {
		return nil
	}
	quorum := fmt.Sprintf("Quorum %d of %d", len(st.Accepted), q.Threshold)
	if st.Quorum {
		quorum = fmt.Sprintf("Quorum %d of %d reached", q.Threshold, q.Threshold)
	}
	hsm := "HSM inactive"
	if st.HSM {
		hsm = "HSM ACTIVE"
	}
	return []statusPart{{sty.Status.Render(quorum), prioQuorum}, {sty.Status.Render(hsm), prioHSM}}
}

// bigStepRows is the panel height from which the step's number is drawn in
// the big font: the projector sizes (160×45 and up), not the smallest.
const bigStepRows = 36

// stepHeading is the step's number, its acting role and its witnesses: in
// the big font beside them when the panel is h rows tall or more, else on
// one line. The words "STEP" and "witnessed by" are always there, so the
// screen reads without colour.
func stepHeading(sty Styles, st ceremony.State, cur ceremony.Step, h int) string {
	role := sty.Role.Render(cur.Role + " · " + st.Script.RoleTitle(cur.Role))
	witnesses := ""
	if len(cur.Witnesses) > 0 {
		witnesses = sty.Muted.Render("witnessed by " + strings.Join(cur.Witnesses, ", "))
	}
	if h < bigStepRows {
		line := sty.StepID.Render("▶ STEP "+cur.ID) + "  " + role
		if witnesses != "" {
			line += "\n" + witnesses
		}
		return line
	}
	big := bigText("STEP " + cur.ID)
	for i, l := range big {
		big[i] = sty.StepID.Render(l)
	}
	info := strings.Join([]string{sty.StepID.Render("▶ STEP " + cur.ID), role, witnesses}, "\n")
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(big, "\n"), "   ", info)
}
