package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// Minimum terminal size of the console.
const (
	MinWidth  = 100
	MinHeight = 30
)

// ConsoleOptions configure the operator console.
type ConsoleOptions struct {
	In        io.Reader
	Out       io.Writer
	Auto      bool   // play the ceremony unattended
	Theme     string // dark, light or mono
	Rehearsal bool   // show the REHEARSAL banner
	// Now is the clock shown in the header; nil means time.Now.
	Now func() time.Time
	// Renderer draws the styles (tests pass one with a fixed colour profile).
	Renderer *lipgloss.Renderer
	// Splash is how long the checkpoint is shown on its own at each act
	// boundary: 0 for the default (5 s), negative for never.
	Splash time.Duration
}

// RunConsole runs the full-screen operator console until the ceremony is
// closed or the operator quits (ErrQuit).
func RunConsole(ctx context.Context, d *session.Driver, opts ConsoleOptions) error {
	m, err := NewConsole(ctx, d, opts)
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(opts.In), tea.WithOutput(opts.Out), tea.WithContext(ctx))
	final, err := p.Run()
	if err != nil {
		return err
	}
	fm := final.(*Console)
	if fm.quit && !fm.closed {
		return ErrQuit
	}
	return fm.fatal
}

// logLine is an entry as the console lists it.
type logLine struct {
	time  time.Time
	index uint64
	text  string
	kind  string
}

// deviation reports whether an entry of the kind is shown with a warning
// mark: the ceremony goes on, but not as the script planned.
func deviation(kind string) bool {
	info, _ := event.Info(kind)
	return info.Deviation
}

func (l logLine) String() string {
	return fmt.Sprintf("%s  #%-3d %s", l.time.Format("15:04:05"), l.index, l.text)
}

// page names what has the whole screen, besides the ceremony itself.
type page int

const (
	pageCeremony   page = iota
	pageQuit            // the quit question
	pageHelp            // every key, over the ceremony
	pageCheckpoint      // the latest signed checkpoint, as a QR code and text
	pageExceptions      // every exception and deviation so far
	pageDetails         // the step's action panel whole, full screen
)

// actSplash is how long the checkpoint is shown on its own when an act
// ends (any key returns at once).
const actSplash = 5 * time.Second

// Console is the root model of the operator console. It handles resize,
// the clock, global keys and the full-screen views, starts the
// interactions the keys choose, and forwards keys to the dialog of the one
// in progress. Everything it shows comes from snapshots of the session,
// which only the session's Driver touches: the operations run in commands
// that return their result.
type Console struct {
	ctx    context.Context
	drv    *session.Driver
	opts   ConsoleOptions
	st     Styles
	keys   keyMap
	help   help.Model
	width  int
	height int
	clock  time.Time
	// state is the ceremony as of the newest result; seq orders the
	// results, which commands may deliver out of order.
	state  session.Snapshot
	seq    uint64
	busy   string // what is running, or ""
	note   string // result of the last action
	failed bool   // the note is an error
	warned bool   // the note is a deviation from the script
	recent []logLine
	cp     *transparency.Checkpoint
	// logKey is the log key's fingerprint; first and final are the first
	// checkpoint and the final one (with its cosignatures), once read.
	logKey       string
	first, final *transparency.Checkpoint
	quit         bool
	fatal        error
	closed       bool
	// wrong counts each card's mistyped passphrases or PINs, as shown.
	wrong map[string]int
	// dialog is the interaction in progress, nil when none is.
	dialog *dialog
	// page is what has the whole screen; quitFrom what the quit
	// question interrupted.
	page     page
	quitFrom page
	// splashUntil is when the checkpoint shown at an act boundary gives
	// the screen back; zero when the checkpoint view was asked for.
	// cpSince is when the checkpoint page began showing its note's codes.
	splashUntil, cpSince time.Time
	// detailsAt and detailsHas cache whether the step has details (d).
	detailsAt  detailsAt
	detailsHas bool
}

type (
	opDoneMsg     struct{ res session.Result }
	polledMsg     struct{ res session.Result }
	checkpointMsg struct {
		cp, first, final *transparency.Checkpoint
		err              error
	}
	tickMsg  time.Time
	autoMsg  struct{}
	closeMsg struct{}
)

// NewConsole builds the console's model on the session d owns.
func NewConsole(ctx context.Context, d *session.Driver, opts ConsoleOptions) (*Console, error) {
	theme, ok := themeNamed(opts.Theme)
	if !ok {
		return nil, fmt.Errorf("theme %q: use dark, light or mono", opts.Theme)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Splash == 0 {
		opts.Splash = actSplash
	}
	r := opts.Renderer
	if r == nil {
		r = rendererFor(opts.Out)
	}
	c := &Console{ctx: ctx, drv: d, opts: opts, st: newStyles(r, theme), keys: newKeys(), help: help.New(),
		width: MinWidth, height: MinHeight, clock: opts.Now(), cp: d.Log().Latest(), state: d.Snapshot(),
		logKey: transparency.KeyFingerprint(d.Log().VKey())}
	if st := c.state; st.Resumes > 0 {
		if cur, ok := st.Current(); ok {
			c.note = fmt.Sprintf("RESUMED at step %s (resume %d): every earlier step is in the log", cur.ID, st.Resumes)
			if i := strings.Index(st.Resumed, "an unlogged stop"); i >= 0 {
				c.note = fmt.Sprintf("RESUMED at step %s (resume %d) after %s", cur.ID, st.Resumes, st.Resumed[i:])
				c.warned = true
			}
		}
	}
	c.help.Styles.ShortKey = c.st.Focus
	c.help.Styles.ShortDesc = c.st.Help
	c.refreshKeys()
	return c, nil
}

func (c *Console) Init() tea.Cmd {
	cmds := []tea.Cmd{tick(), c.poll(), c.awaitCheckpoint()}
	if c.opts.Auto {
		cmds = append(cmds, autoNext(0))
	}
	return tea.Batch(cmds...)
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func autoNext(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return autoMsg{} })
}

// Update handles window and global events, results, and keys.
func (c *Console) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.width, c.height = msg.Width, msg.Height
		if c.dialog != nil {
			c.dialog.SetSize(msg.Width, msg.Height)
		}
	case tickMsg:
		cmd = tea.Batch(tick(), c.onTick())
	case polledMsg:
		c.adopt(msg.res)
	case opDoneMsg:
		cmd = c.opDone(msg)
	case checkpointMsg:
		if msg.err == nil {
			before := c.shownNote()
			c.cp = msg.cp
			if msg.first != nil {
				c.first = msg.first
			}
			if msg.final != nil {
				c.final = msg.final
			}
			if now := c.shownNote(); c.page == pageCheckpoint && now != before {
				// A new note (the final one, cosigned by one more
				// officer): its codes from the first, for as long as
				// they need when it is a splash.
				c.cpSince = c.opts.Now()
				if !c.splashUntil.IsZero() {
					c.splashUntil = maxTime(c.splashUntil, c.cpSince.Add(qrSplash(now, c.opts.Splash)))
				}
			}
		}
	case autoMsg:
		cmd = c.autoStep()
	case closeMsg:
		cmd = tea.Quit
	case tea.KeyMsg:
		cmd = c.key(msg)
	default:
		if c.dialog != nil {
			c.dialog.input, cmd = c.dialog.input.Update(msg)
		}
	}
	c.refreshKeys()
	return c, cmd
}

// adopt shows the ceremony as a result left it, unless a newer result is
// shown already.
func (c *Console) adopt(res session.Result) {
	if res.Seq >= c.seq {
		c.state, c.seq = res.Snap, res.Seq
	}
}

// onTick is the work of each clock tick: the header's clock; a partial
// quorum past the roster's timeout expires on screen without waiting for
// the next card; the cards and the HSM are polled.
func (c *Console) onTick() tea.Cmd {
	c.clock = c.opts.Now()
	if c.page == pageCheckpoint && !c.splashUntil.IsZero() && !c.clock.Before(c.splashUntil) {
		c.page, c.splashUntil = pageCeremony, time.Time{}
	}
	if d := c.state.Script.Quorum.ExpiresAfter(); d > 0 && c.busy == "" && !c.state.Quorum && len(c.state.Accepted) > 0 &&
		c.state.CollectingCards() && c.clock.Sub(c.state.PartialSince) > d {
		return c.run(session.ExpireQuorum{})
	}
	return c.poll()
}

// poll reads the cards' presence and the HSM's flags while they matter and
// nothing else runs.
func (c *Console) poll() tea.Cmd {
	if c.busy != "" || !(c.state.CollectingCards() || c.state.LoggingIn()) {
		return nil
	}
	ctx, d := c.ctx, c.drv
	return func() tea.Msg {
		res := d.Do(ctx, session.Poll{})
		if res.Err != nil {
			return nil
		}
		return polledMsg{res}
	}
}

// showCheckpoint gives the screen to the checkpoint page, its codes from
// the first: for a splash of at least splash (and as long as its codes
// need), or until a key when splash is 0.
func (c *Console) showCheckpoint(splash time.Duration) {
	c.page, c.cpSince, c.splashUntil = pageCheckpoint, c.opts.Now(), time.Time{}
	if splash > 0 {
		c.splashUntil = c.cpSince.Add(qrSplash(c.shownNote(), splash))
	}
}

// shownNote is the note the checkpoint page shows.
func (c *Console) shownNote() string {
	if cp := c.frame().shownCheckpoint(); cp != nil {
		return string(cp.Note)
	}
	return ""
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (c *Console) key(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC {
		if c.page != pageQuit {
			c.quitFrom, c.page = c.page, pageQuit
		}
		return nil
	}
	if !c.fits() && c.page != pageQuit {
		return nil // nothing on screen answers a key: it waits (see tooSmallView)
	}
	if sc := c.screenOf(); sc != nil {
		// The screen component that has the screen answers the key.
		switch sc.update(msg) {
		case pageQuits:
			c.quit = true
			return c.stop()
		case pageBack:
			c.page = c.quitFrom
		case pageCloses:
			c.page, c.splashUntil = pageCeremony, time.Time{}
		}
		return nil
	}
	if c.dialog != nil {
		cmd, end := c.dialog.update(msg)
		return tea.Batch(cmd, c.dialogEnded(end))
	}
	switch {
	case key.Matches(msg, c.keys.Quit):
		c.quitFrom, c.page = pageCeremony, pageQuit
		return nil
	case key.Matches(msg, c.keys.Help):
		c.page = pageHelp
		return nil
	case key.Matches(msg, c.keys.Checkpoint):
		c.showCheckpoint(0)
		return nil
	case key.Matches(msg, c.keys.Exceptions):
		c.page = pageExceptions
		return nil
	case key.Matches(msg, c.keys.Details) && c.keys.Details.Enabled():
		c.page = pageDetails
		return nil
	}
	it, first, ok := c.interactionFor(msg)
	if !ok {
		if main, has := c.state.Main(); has && msg.Type == tea.KeyEnter && main.Key != session.KeyConfirm && len(c.live()) > 0 {
			// Enter is not the answer now: say what is.
			c.note, c.failed, c.warned = fmt.Sprintf("enter does nothing here: %s (%s)", main.Prompt, keyName(main.Key)), false, true
		}
		return nil
	}
	d, end := openDialog(it, first, c.width)
	c.dialog = d
	return c.dialogEnded(end)
}

// interactionFor is the live interaction a key starts, and the answer the
// key itself gives (a card's number).
func (c *Console) interactionFor(msg tea.KeyMsg) (session.Interaction, []string, bool) {
	for _, it := range c.live() {
		b, ok := c.keys.byInteraction[it.Key]
		if !ok || !b.Enabled() || !key.Matches(msg, *b) {
			continue
		}
		if it.Key == session.KeyCard {
			return it, []string{msg.String()}, true
		}
		return it, nil, true
	}
	return session.Interaction{}, nil, false
}

// live is what people can do now; nothing while an operation runs, after
// the close, or in a rehearsal that plays itself.
func (c *Console) live() []session.Interaction {
	if c.busy != "" || c.closed || c.opts.Auto {
		return nil
	}
	return c.state.Interactions()
}

// dialogEnded acts on how the dialog in progress went: a question is
// still asked, or it sends its operation, or it shows why it stopped.
func (c *Console) dialogEnded(end dialogEnd) tea.Cmd {
	if end.note != "" {
		c.note, c.failed, c.warned = end.note, end.failed, end.warned
	}
	if !end.cleared {
		return nil
	}
	c.dialog = nil
	if end.op == nil {
		return nil
	}
	return c.run(end.op)
}

// run starts an operation in a command; its result comes back as
// opDoneMsg.
func (c *Console) run(op session.Op) tea.Cmd {
	if c.busy != "" {
		return nil
	}
	c.busy = op.Busy()
	ctx, d := c.ctx, c.drv
	return func() tea.Msg { return opDoneMsg{d.Do(ctx, op)} }
}

func (c *Console) opDone(msg opDoneMsg) tea.Cmd {
	c.busy = ""
	res := msg.res
	before, was := c.state.Current()
	if errors.Is(res.Err, session.ErrDriverClosed) {
		c.note, c.failed = res.Err.Error(), true
		return tea.Quit
	}
	c.adopt(res)
	if now, is := c.state.Current(); was && (!is || now.Act != before.Act) && c.page == pageCeremony && c.dialog == nil && c.opts.Splash > 0 {
		// An act is over: its checkpoint has the screen for a moment, for
		// the room to read and the stream to carry.
		c.showCheckpoint(c.opts.Splash)
	}
	for _, e := range res.Logged {
		c.recent = append(c.recent, logLine{time: e.Time, index: e.Seq, text: event.Describe(e), kind: e.Kind()})
	}
	if len(c.recent) > 50 {
		c.recent = c.recent[len(c.recent)-50:]
	}
	c.warned = false
	var re *quorum.RejectedError
	var wp *quorum.WrongPINError
	if errors.As(res.Err, &wp) {
		if c.wrong == nil {
			c.wrong = map[string]int{}
		}
		c.wrong[wp.Card] = wp.Tries
	}
	switch {
	case errors.As(res.Err, &re):
		c.note, c.failed = fmt.Sprintf("card %s REJECTED: %s", c.state.Script.Quorum.Named(re.Card), re.Reason), true
	case res.Err != nil:
		c.note, c.failed = res.Err.Error(), true
	case len(res.Logged) > 0:
		last := res.Logged[len(res.Logged)-1]
		c.note, c.failed, c.warned = event.Describe(last), false, deviation(last.Kind())
	default:
		c.note, c.failed = res.Did, false
	}
	cmds := []tea.Cmd{c.awaitCheckpoint()}
	switch {
	case c.state.Awaiting() == session.NextDone:
		if !c.closed && c.opts.Splash > 0 && c.dialog == nil && c.page != pageQuit {
			// Closed and cosigned: the final checkpoint, with the
			// officers' cosignatures, has the screen for the stream.
			c.showCheckpoint(c.opts.Splash)
		}
		c.closed = true
		if c.opts.Auto {
			cmds = append(cmds, autoNext(1500*time.Millisecond))
		}
	case c.opts.Auto:
		if res.Err != nil && !errors.As(res.Err, &re) {
			c.fatal = res.Err
			return tea.Quit
		}
		cmds = append(cmds, autoNext(250*time.Millisecond))
	case res.Err == nil && c.state.Continues():
		// Once confirmed, every bundle is signed in one go, with progress.
		cmds = append(cmds, c.run(session.Confirm{What: "signing the next bundle"}))
	}
	return tea.Batch(cmds...)
}

// stop logs the stop (an active HSM logged out first), unless the ceremony
// is closed, and quits once it is logged. A stop that cannot be logged
// still quits: the next resume then says the console stopped unlogged.
func (c *Console) stop() tea.Cmd {
	if c.closed {
		return tea.Quit
	}
	c.busy = session.Stop{}.Busy()
	ctx, d := c.ctx, c.drv
	return func() tea.Msg {
		d.Do(ctx, session.Stop{})
		return closeMsg{}
	}
}

// awaitCheckpoint waits, in a command, for the checkpoint that covers the
// whole log as shown; it reads the first checkpoint too until it has it,
// and after the close the final one as archived, with its cosignatures.
func (c *Console) awaitCheckpoint() tea.Cmd {
	size := c.state.LogSize
	if size == 0 {
		return nil
	}
	ctx, l := c.ctx, c.drv.Log()
	needFirst, final := c.first == nil, uint64(0)
	if c.state.Closed {
		final = c.state.FinalSize
	}
	return func() tea.Msg {
		m := checkpointMsg{}
		m.cp, m.err = l.AwaitCheckpoint(ctx, size-1)
		if m.err == nil && needFirst {
			m.first, _ = l.Archived(1)
		}
		if m.err == nil && final > 0 {
			m.final, _ = l.Archived(final)
		}
		return m
	}
}

func (c *Console) autoStep() tea.Cmd {
	if c.page == pageQuit {
		return nil
	}
	if c.closed {
		if c.page == pageCheckpoint && !c.splashUntil.IsZero() {
			// The final checkpoint's codes have the screen until its
			// splash is over.
			return autoNext(max(c.splashUntil.Sub(c.opts.Now()), 100*time.Millisecond))
		}
		return func() tea.Msg { return closeMsg{} }
	}
	if !c.fits() {
		// The rehearsal, like the keys, waits for a screen that shows it.
		return autoNext(250 * time.Millisecond)
	}
	if c.page == pageCheckpoint && !c.splashUntil.IsZero() {
		// The rehearsal waits while the act's checkpoint is shown.
		return autoNext(max(c.splashUntil.Sub(c.opts.Now()), 100*time.Millisecond))
	}
	return c.run(session.AutoStep{})
}

// keyName is how the console names an interaction's key.
func keyName(k string) string {
	if k == session.KeyCard {
		return "the card's number"
	}
	return "key " + k
}

func (c *Console) current() ceremony.Step { return c.state.CurrentStep() }
