package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/camera"
)

// checkpointTextWidth is the width of the text beside the QR code.
const checkpointTextWidth = 60

// qrMargin is the blank cells left of the code: a stream's crop, or a
// camera framing the projection, takes the screen's edges first.
const qrMargin = 4

// checkpointPage is the latest signed checkpoint on its own: a QR code of
// the whole signed note, as large as the screen allows, and its text
// beside it, for the room to read aloud and the stream to carry. Any key
// gives the screen back.
type checkpointPage struct{ w, h int }

func (p checkpointPage) View(f frame) string {
	header := f.screenTitle("CHECKPOINT", p.w)
	foot := "any key: back to the ceremony"
	if !f.splashUntil.IsZero() {
		what := "act " + f.actDone()
		if f.st.Closed {
			what = "the ceremony is closed: its final checkpoint"
		}
		foot = fmt.Sprintf("%s · back to the ceremony by itself in %d s, or any key", what, max(1, int(f.splashUntil.Sub(f.clock).Seconds()+0.999)))
	}
	bodyH := p.h - lipgloss.Height(header) - 1
	body := CheckpointPanel(f.sty, f.shownCheckpoint(), f.st.LogSize, f.st.Script.Digest, p.w, bodyH, f.cpSince, f.clock)
	return lipgloss.JoinVertical(lipgloss.Left, header, lipgloss.NewStyle().Height(bodyH).MaxHeight(bodyH).Render(body), f.sty.Help.Render(foot))
}

// shownCheckpoint is the checkpoint the view shows: the latest, or once
// the ceremony is closed its final one as archived, with the officers'
// cosignatures made so far.
func (f frame) shownCheckpoint() *transparency.Checkpoint {
	if f.final != nil && f.st.Closed && f.final.Size == f.st.FinalSize {
		return f.final
	}
	return f.cp
}

// actDone names the act that just ended, for the splash's footer: done,
// or aborted when the abort ended it (the acts it passed over are not
// done either).
func (f frame) actDone() string {
	cur, ok := f.st.Current()
	if !ok || cur.Act == 0 {
		return "done"
	}
	acts, steps := len(f.st.Script.Acts), f.st.Script.Steps()
	begun := f.st.Next == 0 || steps[f.st.Next-1].Act != cur.Act // cur opens its act
	if a := f.st.Aborted; a != nil && begun {
		for _, s := range steps {
			if s.ID == a.Step && s.Act < cur.Act {
				return fmt.Sprintf("%d of %d aborted at step %s", s.Act+1, acts, a.Step)
			}
		}
	}
	return fmt.Sprintf("%d of %d done", cur.Act, acts)
}

// screenTitle is the first line of a full-screen view: a banner, the
// ceremony, the clock, and a rule.
func (f frame) screenTitle(banner string, w int) string {
	left := f.sty.Banner.Render(banner) + " " + f.sty.Header.Render(f.st.Script.Ceremony)
	clock := f.sty.Clock.Render(f.clock.UTC().Format("2006-01-02 15:04:05 UTC"))
	gap := max(1, w-lipgloss.Width(left)-lipgloss.Width(clock))
	return lipgloss.JoinVertical(lipgloss.Left, left+strings.Repeat(" ", gap)+clock, f.sty.Muted.Render(strings.Repeat("─", w)))
}

// CheckpointPanel draws a signed checkpoint in w×h cells: its QR code
// (the whole note, scaled up as far as it fits) and its text. logSize is
// the log's size now, to say whether the checkpoint covers every entry;
// scriptDigest, when known, names the script the log follows.
//
// A note too long for one camera-safe code is drawn as a numbered sequence
// of codes, each shown for camera.Dwell in turn from since: the one shown
// at clock, with its number under it.
func CheckpointPanel(st Styles, cp *transparency.Checkpoint, logSize uint64, scriptDigest string, w, h int, since, clock time.Time) string {
	if cp == nil {
		return st.Warn.Render("[WAIT] No checkpoint is signed yet; the first one follows the log's first entry.")
	}
	note := string(cp.Note)
	textW := min(checkpointTextWidth, w/2)
	codes, err := qrCodes(note)
	if err != nil {
		return st.Fail.Render("[FAIL] QR code: " + err.Error())
	}
	part := qrPart(len(codes), since, clock)
	code := codes[part]
	qrRows := h
	if len(codes) > 1 {
		qrRows-- // the line that numbers the code
	}
	scale := code.Scale(w-textW-2-qrMargin, qrRows)
	var info []string
	add := func(s ...string) { info = append(info, s...) }
	add(st.PanelTitle.Render("Signed checkpoint of the ceremony log"), "")
	add(st.Muted.Render("Origin"), st.Text.Width(textW).Render(cp.Origin))
	add(st.Muted.Render("Size"), st.Text.Render(words.Counts(cp.Size, "entry", "entries")))
	if cp.Size >= logSize {
		add(st.OK.Render("[ OK ] covers every entry so far"))
	} else {
		add(st.Warn.Render(fmt.Sprintf("[WAIT] covers %d of %d entries; the next is being signed", cp.Size, logSize)))
	}
	add("", st.Muted.Render("Root (SHA-256)"))
	groups := strings.Fields(dnssec.GroupHex(cp.RootHex()))
	for i := 0; i < len(groups); i += 8 {
		add(st.Focus.Render(strings.Join(groups[i:min(i+8, len(groups))], " ")))
	}
	add(st.Text.Width(textW).Render(dnssec.PGPWords(cp.Root[:])))
	if names := signerNames(note); len(names) > 0 {
		add("", st.Muted.Render("Signed by"), st.Text.Width(textW).Render(names[0]))
		if len(names) > 1 {
			add(st.Muted.Render("Cosigned by"), st.Text.Width(textW).Render(strings.Join(names[1:], ", ")))
		}
	}
	if scriptDigest != "" {
		add("", st.Muted.Render("Script SHA-256"))
		sg := strings.Fields(dnssec.GroupHex(scriptDigest))
		for i := 0; i < len(sg); i += 8 {
			add(st.Text.Render(strings.Join(sg[i:min(i+8, len(sg))], " ")))
		}
		add(st.Text.Width(textW).Render(dnssec.PGPWords(mustHex(scriptDigest))))
	}
	if len(codes) == 1 {
		add("", st.Help.Width(textW).Render("The code holds the whole signed note. Compare it with the published log; keyceremony verify checks the log offline."))
	} else {
		add("", st.Help.Width(textW).Render(fmt.Sprintf("The signed note is in %d codes, shown in turn, each for %d s; a reader joins them (keyceremony checkpoints from-video reads them from a recording). Compare it with the published log; keyceremony verify checks the log offline.", len(codes), int(camera.Dwell/time.Second))))
	}
	text := strings.Join(info, "\n")
	if scale == 0 {
		cols, rows := code.Cells(1)
		if len(codes) > 1 {
			rows++
		}
		return st.Warn.Render(fmt.Sprintf("[    ] The QR code needs %d×%d cells: enlarge the terminal to show it.", qrMargin+cols+textW+2, rows+3)) + "\n\n" + text
	}
	lines, err := qrLines(note, part, scale)
	if err != nil {
		return st.Fail.Render("[FAIL] QR code: "+err.Error()) + "\n\n" + text
	}
	margin := strings.Repeat(" ", qrMargin)
	for i, l := range lines {
		lines[i] = margin + st.QR.Render(l)
	}
	if len(codes) > 1 {
		cols, _ := code.Cells(scale)
		lines = append(lines, margin+st.Focus.Width(cols).Align(lipgloss.Center).Render(fmt.Sprintf("code %d of %d", part+1, len(codes))))
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(lines, "\n"), "  ", text)
}

// signerNames are the key names on a signed note's signature lines: the
// log's first, then its cosigners'.
func signerNames(note string) []string {
	_, lines := transparency.SplitNote([]byte(note))
	var names []string
	for _, l := range lines {
		names = append(names, l.Name)
	}
	return names
}

// exceptionsPage lists every exception and deviation so far, with its
// time and step, as the witness reads them at the close. Any key gives the
// screen back.
type exceptionsPage struct{ w, h int }

func (p exceptionsPage) View(f frame) string {
	header := f.screenTitle("EXCEPTIONS", p.w)
	bodyH := p.h - lipgloss.Height(header) - 1
	return lipgloss.JoinVertical(lipgloss.Left, header, deviationsPanel(f.sty, f.st.State, p.w, bodyH), f.sty.Help.Render("any key: back to the ceremony"))
}

// deviationsPanel is DeviationLines in w×h cells, the latest kept when they
// do not all fit: the console and the viewer show the same.
func deviationsPanel(sty Styles, st ceremony.State, w, h int) string {
	lines := DeviationLines(st)
	if len(lines) == 0 {
		lines = []string{"No exception or deviation so far."}
	}
	if len(lines) > h && h > 1 {
		lines = append([]string{fmt.Sprintf("… %d earlier", len(lines)-h+1)}, lines[len(lines)-h+1:]...)
	}
	for i, l := range lines {
		lines[i] = sty.Text.Render(truncate(l, w))
	}
	return lipgloss.NewStyle().Height(h).MaxHeight(h).Render(strings.Join(lines, "\n"))
}

// DeviationLines are the exceptions, skips, repeats, steps not applicable,
// the abort and the refused cards of a ceremony's state, in time order, one
// line each with its UTC time, step and a word for its kind.
func DeviationLines(st ceremony.State) []string {
	type item struct {
		at   string
		line string
	}
	var items []item
	// What the log says (texts typed at the prompts, reasons) is shown escaped.
	add := func(t string, line string) { items = append(items, item{t, safetext.Printable(line)}) }
	for _, e := range st.Exceptions {
		add(e.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [EXCEPTION] step %s: %s", e.Time.UTC().Format("15:04:05"), e.Step, e.Text))
	}
	words := map[string]string{"skipped": "[SKIPPED]", "aborted": "[LEFT OUT]", "not applicable": "[NOT APPLICABLE]"}
	for _, d := range st.Skipped {
		w := words[d.Kind]
		if w == "" {
			w = "[" + strings.ToUpper(d.Kind) + "]"
		}
		add(d.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  %s step %s: %s%s", d.Time.UTC().Format("15:04:05"), w, d.Step, d.Reason, witnessed(d.Witness)))
	}
	for _, d := range st.Repeated {
		add(d.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [REPEATED] step %s: %s%s", d.Time.UTC().Format("15:04:05"), d.Step, d.Reason, witnessed(d.Witness)))
	}
	if a := st.Aborted; a != nil {
		add(a.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [ABORTED] at step %s: %s", a.Time.UTC().Format("15:04:05"), a.Step, a.Reason))
	}
	for _, b := range st.Bags {
		if b.What != "opened" && b.What != "sealed" {
			add(b.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [CUSTODY INCIDENT] step %s: %s%s", b.Time.UTC().Format("15:04:05"), b.Step, ceremony.IncidentWords(b), witnessed(b.Witness)))
		}
	}
	for _, c := range st.Invoked {
		add(c.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [CONTINGENCY] step %s: %s taken for %s: %s%s", c.Time.UTC().Format("15:04:05"), c.Step, c.Contingency, c.Trigger, c.Reason, witnessed(c.Witness)))
	}
	for _, ce := range st.Cards {
		if !ce.Accepted {
			add(ce.Time.UTC().Format("15:04:05"), fmt.Sprintf("%s  [CARD REFUSED] %s (%s): %s", ce.Time.UTC().Format("15:04:05"), ce.Card, ce.Holder, ce.Reason))
		}
	}
	// Stable by time: entries of one second keep their kind's order.
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].at < items[j-1].at; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.line
	}
	return out
}

func witnessed(role string) string {
	if role == "" {
		return ""
	}
	return " (" + role + " confirmed)"
}
