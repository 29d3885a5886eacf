package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/transparency"
)

// WatchOptions configure the viewer.
type WatchOptions struct {
	In       io.Reader
	Out      io.Writer
	Theme    string
	Renderer *lipgloss.Renderer
	Now      func() time.Time
	// Interval between polls of the checkpoint; 0 means 2 s.
	Interval time.Duration
}

// Watcher is the read-only viewer of a published ceremony log: it shows
// only what a Follower verified (each checkpoint signed by the pinned key,
// its root recomputed from the entries, consistent with the one before),
// with the console's header, step list, status, checkpoint and exceptions
// views, built from the entries alone. A check that fails is shown as an
// alarm across the screen and stays there.
type Watcher struct {
	ctx    context.Context
	f      *transparency.Follower
	opts   WatchOptions
	st     Styles
	width  int
	height int
	clock  time.Time
	page   page
	// cpSince is when the checkpoint page began showing its codes.
	cpSince time.Time

	script  *ceremony.Script
	entries []*event.Entry
	state   ceremony.State
	// cosigned are the officers' cosignatures read so far, by checkpoint size.
	cosigned map[uint64]audit.CosignedCheckpoint
	recent   []logLine

	// alarm is the first check that failed; it never clears.
	alarm error
	// problem is the last error reading the source (network, a missing
	// file): retried at the next poll.
	problem  string
	lastRead time.Time // when the source last answered
	// unshown are the indexes of entries verified but not yet listed.
	unshown  []uint64
	polling  bool
	lastPoll time.Time
	quit     bool
}

type (
	watchPollMsg struct {
		u   *transparency.Update
		err error
	}
	watchTickMsg time.Time
)

// NewWatcher builds the viewer's model on a follower.
func NewWatcher(ctx context.Context, f *transparency.Follower, opts WatchOptions) (*Watcher, error) {
	theme, ok := themeNamed(opts.Theme)
	if !ok {
		return nil, fmt.Errorf("theme %q: use dark, light or mono", opts.Theme)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	r := opts.Renderer
	if r == nil {
		r = rendererFor(opts.Out)
	}
	return &Watcher{ctx: ctx, f: f, opts: opts, st: newStyles(r, theme), width: MinWidth, height: MinHeight, clock: opts.Now()}, nil
}

// RunWatch runs the full-screen viewer until the viewer quits.
func RunWatch(ctx context.Context, f *transparency.Follower, opts WatchOptions) error {
	m, err := NewWatcher(ctx, f, opts)
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(opts.In), tea.WithOutput(opts.Out), tea.WithContext(ctx))
	final, err := p.Run()
	if err != nil {
		return err
	}
	return final.(*Watcher).alarm
}

func (w *Watcher) Init() tea.Cmd { return tea.Batch(w.poll(), watchTick()) }

func watchTick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return watchTickMsg(t) })
}

// poll asks the follower for a new checkpoint, one poll at a time.
func (w *Watcher) poll() tea.Cmd {
	if w.polling {
		return nil
	}
	w.polling, w.lastPoll = true, w.opts.Now()
	f, ctx := w.f, w.ctx
	return func() tea.Msg {
		u, err := f.Poll(ctx)
		return watchPollMsg{u, err}
	}
}

func (w *Watcher) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		w.width, w.height = msg.Width, msg.Height
	case watchTickMsg:
		w.clock = w.opts.Now()
		cmds := []tea.Cmd{watchTick()}
		if w.clock.Sub(w.lastPoll) >= w.opts.Interval {
			cmds = append(cmds, w.poll())
		}
		return w, tea.Batch(cmds...)
	case watchPollMsg:
		w.polling = false
		w.apply(msg.u, msg.err)
	case tea.KeyMsg:
		switch {
		case w.page != pageCeremony:
			w.page = pageCeremony
		case msg.String() == "q" || msg.Type == tea.KeyCtrlC:
			// Read-only: quitting loses nothing, so nothing is asked.
			w.quit = true
			return w, tea.Quit
		case msg.String() == "c" && w.f.Checkpoint() != nil:
			w.page, w.cpSince = pageCheckpoint, w.clock
		case msg.String() == "e" && w.script != nil:
			w.page = pageExceptions
		}
	}
	return w, nil
}

// apply takes a poll's result: new verified entries, or an alarm, or a
// problem reading the source.
func (w *Watcher) apply(u *transparency.Update, err error) {
	var alarm *transparency.Alarm
	switch {
	case errors.As(err, &alarm):
		if w.alarm == nil {
			w.alarm = alarm
		}
		w.problem = "" // the source answered: what it said is the alarm
		return
	case err != nil:
		w.problem = safetext.Printable(err.Error())
		return
	}
	w.problem = ""
	w.lastRead = w.opts.Now()
	if u != nil {
		for i, raw := range u.New {
			e, err := event.Parse(raw)
			if err != nil {
				w.alarm = &transparency.Alarm{Check: transparency.CheckEntryJSON, Detail: fmt.Sprintf("entry %d: %v", u.Previous+uint64(i), err)}
				return
			}
			w.entries = append(w.entries, e)
			w.unshown = append(w.unshown, u.Previous+uint64(i))
		}
	}
	if w.script == nil && len(w.entries) > 0 {
		s, err := ceremony.ScriptOfLog(w.entries[0], func(sha string) ([]byte, error) {
			return transparency.ReadArtefactFrom(w.ctx, w.f.Source(), sha)
		})
		switch {
		case errors.As(err, &alarm):
			w.alarm = alarm
			return
		case errors.Is(err, fs.ErrNotExist) || isNetwork(err):
			w.problem = safetext.Printable(err.Error()) // read again at the next poll
			return
		case err != nil:
			w.alarm = &transparency.Alarm{Check: "script", Detail: err.Error()}
			return
		}
		w.script = s
	}
	if w.script != nil && len(w.unshown) == 0 && w.state.Closed && !w.finalCosigned() {
		w.readCosigned() // the officers cosign just after the close
	}
	if w.script == nil || len(w.unshown) == 0 {
		return // an empty log, or nothing new
	}
	st, err := ceremony.Replay(w.script, w.entries)
	if err != nil {
		w.alarm = &transparency.Alarm{Check: "script.replay", Detail: "the log does not follow its script: " + err.Error()}
		return
	}
	w.state = st
	w.readCosigned()
	for _, i := range w.unshown {
		e := w.entries[i]
		w.recent = append(w.recent, logLine{time: e.Time, index: i, text: event.Describe(e), kind: e.Kind()})
	}
	w.unshown = nil
	if len(w.recent) > 50 {
		w.recent = w.recent[len(w.recent)-50:]
	}
}

// readCosigned reads each checkpoint the officers cosigned, as the log
// records them, and checks their cosignatures against the roster: a line
// that does not verify is an alarm. The final one is read again at each poll
// until every officer present has cosigned (they sign once the close is
// logged).
func (w *Watcher) readCosigned() {
	if w.cosigned == nil {
		w.cosigned = map[uint64]audit.CosignedCheckpoint{}
	}
	for _, c := range w.state.Cosigned {
		if got, ok := w.cosigned[c.Size]; ok && len(got.Valid) >= len(c.Cosigners) {
			continue
		}
		cp, err := w.f.ArchivedCheckpoint(w.ctx, c.Size)
		var alarm *transparency.Alarm
		if errors.As(err, &alarm) {
			w.alarm = alarm
			return
		}
		if err != nil {
			continue // not there yet, or the network: read again at the next poll
		}
		cc := audit.ReadCosignatures(w.script.Quorum, cp.Note, c.Size, nil)
		if len(cc.Rejected) > 0 {
			w.alarm = &transparency.Alarm{Check: audit.CheckCosignatures, Detail: fmt.Sprintf("checkpoint %d: %s", c.Size, cc.Rejected[0])}
			return
		}
		// Only the officers the log names for this checkpoint count; a
		// valid line by anyone else, or by a revoked card, is an alarm.
		counted, refused := audit.Counted(w.script.Quorum, cc, c.Cosigners)
		if len(refused) > 0 {
			w.alarm = &transparency.Alarm{Check: audit.CheckCosignatures, Detail: fmt.Sprintf("checkpoint %d: %s", c.Size, refused[0])}
			return
		}
		cc.Valid = counted
		w.cosigned[c.Size] = cc
	}
}

// cosignLines words each cosigned checkpoint read so far.
func (w *Watcher) cosignLines() []string {
	var out []string
	for _, c := range w.state.Cosigned {
		cc, ok := w.cosigned[c.Size]
		if !ok {
			continue
		}
		var absent []string
		if c.Point == "close" {
			absent = w.state.Absent
		}
		out = append(out, audit.CosignSummary(c, cc.Valid, absent))
	}
	return out
}

// Alarm is the check that failed, nil while every checkpoint verified.
func (w *Watcher) Alarm() error { return w.alarm }

func (w *Watcher) View() string {
	if w.width < MinWidth || w.height < MinHeight {
		return fmt.Sprintf("terminal too small: need %d×%d, have %d×%d", MinWidth, MinHeight, w.width, w.height)
	}
	alarm := w.viewAlarm()
	if w.script == nil {
		lines := []string{w.st.Header.Render("keyceremony watch · " + safetext.Printable(w.f.Source().String())), ""}
		if alarm != "" {
			lines = append(lines, alarm)
		} else if w.problem != "" {
			lines = append(lines, w.st.Warn.Render("[WAIT] "+truncate(w.problem, w.width-7)))
		} else {
			lines = append(lines, w.st.Warn.Render("[WAIT] reading the log's first checkpoint …"))
		}
		return strings.Join(lines, "\n")
	}
	cp := w.f.Checkpoint()
	switch w.page {
	case pageCheckpoint:
		header := headerView(w.st, w.state, transparency.IsRehearsal(cp.Origin), w.st.Muted.Render("· VIEWER"), w.clock, w.width)
		bodyH := w.height - lipgloss.Height(header) - 1
		body := CheckpointPanel(w.st, cp, cp.Size, w.script.Digest, w.width, bodyH, w.cpSince, w.clock)
		return lipgloss.JoinVertical(lipgloss.Left, header, lipgloss.NewStyle().Height(bodyH).MaxHeight(bodyH).Render(body), w.st.Help.Render("any key: back"))
	case pageExceptions:
		header := headerView(w.st, w.state, transparency.IsRehearsal(cp.Origin), w.st.Muted.Render("· VIEWER"), w.clock, w.width)
		bodyH := w.height - lipgloss.Height(header) - 1
		return lipgloss.JoinVertical(lipgloss.Left, header, deviationsPanel(w.st, w.state, w.width, bodyH), w.st.Help.Render("any key: back"))
	}
	header := headerView(w.st, w.state, transparency.IsRehearsal(cp.Origin), w.st.Muted.Render("· VIEWER, read-only"), w.clock, w.width)
	status := w.viewStatus()
	help := w.st.Help.Render("c checkpoint QR • e exceptions so far • q quit")
	bodyH := w.height - lipgloss.Height(header) - lipgloss.Height(status) - 1
	if alarm != "" {
		bodyH -= lipgloss.Height(alarm)
	}
	rightW := max(34, w.width*3/10)
	body := lipgloss.JoinHorizontal(lipgloss.Top, w.viewMain(w.width-rightW, bodyH), stepsPanel(w.st, w.state, rightW, bodyH))
	parts := []string{header}
	if alarm != "" {
		parts = append(parts, alarm)
	}
	parts = append(parts, body, status, help)
	return lipgloss.JoinVertical(lipgloss.Left, parts...)
}

// viewAlarm is the alarm across the screen, or "".
func (w *Watcher) viewAlarm() string {
	if w.alarm == nil {
		return ""
	}
	shown := "nothing was verified"
	if cp := w.f.Checkpoint(); cp != nil {
		shown = fmt.Sprintf("shown: the last checkpoint verified, size %d", cp.Size)
	}
	// The server chooses what the alarm quotes: it is cut to what fits.
	text := "!!! " + truncate(w.alarm.Error(), 2*w.width-8) + "\n" +
		"The log served is not the one verified so far: do not trust what it shows from here on, and tell the ceremony's auditors. " + shown + "."
	return w.st.Fail.Reverse(true).Width(w.width).MaxHeight(5).Render(text)
}

// viewMain is the current step and the entries as they come.
func (w *Watcher) viewMain(width, h int) string {
	st := w.state
	inner := width - 4
	var b strings.Builder
	if t := st.StoppedAt; !t.IsZero() {
		b.WriteString(w.st.Warn.Render("[STOP] console stopped since "+t.UTC().Format("15:04:05")+" UTC: nothing happens until it resumes") + "\n\n")
	}
	if cur, ok := st.Current(); ok {
		b.WriteString(stepHeading(w.st, st, cur, h) + "\n")
		b.WriteString("\n" + w.st.Text.Bold(true).Width(inner).Render(cur.Text) + "\n\n")
		if len(st.Witnessed) > 0 {
			b.WriteString(w.st.OK.Render("[ OK ] "+strings.Join(st.Witnessed, ", ")+" confirmed") + "\n")
		}
		if st.Script.Quorum != nil && (st.CollectingCards() || cur.Action == ceremony.ActionQuorum) {
			// The cards as the console shows them, from the log alone.
			f := frame{sty: w.st, st: session.Snapshot{State: st, Setup: &session.Setup{}}, clock: w.clock}
			b.WriteString("\n" + quorumPanel{inner}.View(f))
		}
		if k := st.KSR; k != nil && (cur.Action == ceremony.ActionKSRLoad || cur.Action == ceremony.ActionKSRCheck || cur.Action == ceremony.ActionKSRSign || cur.Action == ceremony.ActionSKRWrite) {
			b.WriteString(viewHashWith(w.st, fmt.Sprintf("KSR %s · %d bundles", k.Name, k.Bundles), k.SHA256, inner))
		}
	} else {
		b.WriteString(w.st.OK.Render("[ OK ] The ceremony is closed.") + "\n\n")
		b.WriteString(w.st.Text.Render(tally(st)) + "\n")
	}
	if lines := w.cosignLines(); len(lines) > 0 {
		b.WriteString("\n" + w.st.PanelTitle.Render("Officers' cosignatures") + "\n")
		for _, l := range lines {
			b.WriteString(w.st.OK.Render("[ OK ] "+l) + "\n")
		}
	}
	head := b.String()
	used := lipgloss.Height(lipgloss.NewStyle().Width(inner).Render(head)) // with its blank lines
	if room := h - 2 - used - 2; room > 0 && len(w.recent) > 0 {
		n := min(room, len(w.recent))
		head += "\n" + w.st.PanelTitle.Render("Log") + "\n"
		for _, r := range w.recent[len(w.recent)-n:] {
			mark := w.st.Muted
			if deviation(r.kind) {
				mark = w.st.Warn
			}
			head += mark.Render(truncate(r.String(), inner)) + "\n"
		}
	}
	wrapped := lipgloss.NewStyle().Width(inner).Render(strings.TrimRight(head, "\n"))
	return w.st.Box.Width(width - 2).Height(h - 2).Render(clip(wrapped, h-2))
}

func (w *Watcher) viewStatus() string {
	cp := w.f.Checkpoint()
	mark := w.st.OK.Render(fmt.Sprintf("[ OK ] checkpoint %d verified", cp.Size))
	if w.alarm != nil {
		mark = w.st.Fail.Render("[FAIL] ALARM")
	}
	// Whether the key was pinned or read from the log is never dropped.
	key := statusPart{w.st.Status.Render("log key pinned"), prioKey}
	if !w.f.Pinned {
		key.text = w.st.Warn.Render("log key read from the log: compare it with the one announced")
	}
	parts := []statusPart{{mark, prioCheckpoint}}
	parts = append(parts, quorumParts(w.st, w.state)...)
	parts = append(parts, statusPart{w.st.Status.Render("root " + RootWords(cp, 4)), prioRoot}, key,
		statusPart{w.st.Status.Render(dnssec.GroupHex(transparency.KeyFingerprint(w.f.VKey))), prioDetail})
	line2 := "source " + safetext.Printable(w.f.Source().String())
	if !w.lastRead.IsZero() {
		line2 += " · last read " + w.lastRead.UTC().Format("15:04:05") + " UTC"
	}
	if w.problem != "" {
		line2 += " · " + w.st.Warn.Render("[WAIT] "+w.problem+"; retrying")
	}
	return w.st.Muted.Render(strings.Repeat("─", w.width)) + "\n" + fitParts(w.st.Status.Render(" · "), parts, w.width) + "\n" + truncateStyled(w.st.Muted.Render(line2), w.width)
}

// WatchPlain is the viewer for screen readers and transcripts: a line for
// each verified checkpoint and each new entry, polled every interval,
// until the ceremony closes (nil), an alarm (returned), or ctx ends.
func WatchPlain(ctx context.Context, f *transparency.Follower, out io.Writer, interval time.Duration) error {
	w, err := NewWatcher(ctx, f, WatchOptions{Out: out, Theme: "mono", Interval: interval})
	if err != nil {
		return err
	}
	key := "log key " + dnssec.GroupHex(transparency.KeyFingerprint(f.VKey))
	if !f.Pinned {
		key += " (read from the log: compare it with the one announced)"
	}
	fmt.Fprintf(out, "Watching %s · %s\n", safetext.Printable(f.Source().String()), key)
	problem, named := "", false
	printed, closedPolls := map[string]bool{}, 0
	for {
		u, err := f.Poll(ctx)
		seen := len(w.entries)
		w.apply(u, err)
		if w.alarm != nil {
			fmt.Fprintf(out, "%s\nThe log served is not the one verified so far: do not trust what it shows from here on, and tell the ceremony's auditors.\n", w.alarm)
			return w.alarm
		}
		if w.problem != problem {
			if problem = w.problem; problem != "" {
				fmt.Fprintf(out, "[WAIT] %s; retrying\n", problem)
			}
		}
		if u != nil && w.script != nil {
			if !named {
				named = true
				fmt.Fprintf(out, "%s · script %s (SHA-256 %s)\n", safetext.Printable(w.script.Ceremony), safetext.Printable(w.script.Name), dnssec.GroupHex(w.script.Digest))
			}
			cp := u.Checkpoint
			ext := "the first one seen"
			if u.Previous > 0 {
				ext = fmt.Sprintf("extends checkpoint %d", u.Previous)
			}
			fmt.Fprintf(out, "[ OK ] checkpoint %d verified (%s) · root %s · %s\n", cp.Size, ext, dnssec.GroupHex(cp.RootHex()), RootWords(cp, 4))
			for i, e := range w.entries[seen:] {
				fmt.Fprintln(out, "  "+logLine{time: e.Time, index: uint64(seen + i), text: event.Describe(e)}.String())
			}
			if cur, ok := w.state.Current(); ok {
				fmt.Fprintf(out, "  now: step %s · %s · %s\n", cur.ID, cur.Role, cur.Text)
			}
		}
		for _, l := range w.cosignLines() {
			if !printed[l] {
				printed[l] = true
				fmt.Fprintf(out, "[ OK ] %s\n", l)
			}
		}
		if w.state.Closed && (w.finalCosigned() || closedPolls >= finalCosignPolls) {
			fmt.Fprintln(out, "The ceremony is closed; its final checkpoint is verified.")
			return nil
		}
		if w.state.Closed {
			closedPolls++ // the officers sign the final checkpoint just after the close
			w.readCosigned()
			if w.alarm != nil {
				fmt.Fprintf(out, "%s\n", w.alarm)
				return w.alarm
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// finalCosignPolls is how many polls after the close the plain viewer waits
// for the officers' cosignatures of the final checkpoint.
const finalCosignPolls = 20

// finalCosigned reports whether every officer the close names as present
// has cosigned the final checkpoint (true when none is to).
func (w *Watcher) finalCosigned() bool {
	if len(w.state.Present) == 0 {
		return true
	}
	cc, ok := w.cosigned[w.state.FinalSize]
	return ok && len(cc.Valid) >= len(w.state.Present)
}

// isNetwork reports an error reading the source that a later poll may not
// have: the network, a timeout, a server error.
func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, transparency.ErrUnavailable)
}
