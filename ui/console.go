package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm"
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
func RunConsole(ctx context.Context, s *session.Session, opts ConsoleOptions) error {
	m, err := NewConsole(ctx, s, opts)
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

type mode int

const (
	modeNormal mode = iota
	modeException
	modeTyped
	modeQuit
	modeHelp
	modeSecret         // a card's holder types its passphrase or PIN, never echoed
	modeSerial         // witnessed quorum: the operator types the serial of a card the HSM accepted
	modeWitnessConfirm // the witness confirms that card with their own key
	modeNewPass        // a new officer types their new card's passphrase, twice, never echoed
	modeSkipReason     // why the step is skipped
	modeAbortReason    // why the ceremony is aborted
	modeAbortTyped     // ABORT, typed exactly
	modeSignIn         // a participant's name, role by role
	modeRepeatReason   // why the step just done is done again
	modeChoose         // the contingencies that apply, by id
	modeAbsent         // the number of an officer absent at the final cosignature
	modeCheckpoint     // the latest signed checkpoint, full screen, as a QR code and text
	modeExceptions     // every exception and deviation so far
)

// actSplash is how long the checkpoint is shown on its own when an act
// ends (any key returns at once).
const actSplash = 5 * time.Second

// Console is the root model of the operator console. It owns resize, global
// keys and the dialogs; the ceremony's work runs in commands that return
// opDoneMsg, and the screen is drawn from the session's state (the log's).
type Console struct {
	ctx    context.Context
	sess   *session.Session
	opts   ConsoleOptions
	st     Styles
	keys   keyMap
	help   help.Model
	input  textinput.Model
	width  int
	height int
	clock  time.Time
	mode   mode
	busy   string // what is running, or ""
	note   string // result of the last action
	failed bool   // the note is an error
	warned bool   // the note is a deviation from the script
	recent []logLine
	cp     *transparency.Checkpoint
	quit   bool
	fatal  error
	closed bool
	// state is the session's state as of the last finished operation: the
	// session changes it in the operation's goroutine, the screen reads this.
	state session.Snapshot
	// inserted are the cards in their readers now, for readers that can
	// tell (nil otherwise); secretCard is the card whose secret is typed.
	inserted   map[string]bool
	secretCard string
	// wrong counts each card's mistyped passphrases or PINs, as shown.
	wrong map[string]int
	// token is the HSM's identity and PIN flags, read before login.
	token *hsm.TokenInfo
	// serial is the card serial typed in a witnessed quorum, awaiting the
	// witness's confirmation.
	serial string
	// newPass holds the new officers' passphrases typed so far in a
	// cards.reshare step; newFirst the first typing of the current one.
	newPass  map[string]string
	newFirst string
	// names are the participants typed so far in a sign-in, by role;
	// nameRole the role being asked for.
	names    map[string]string
	nameRole int
	// pending is the reason typed for a skip (awaiting the witness's key)
	// or an abort (awaiting the typed ABORT).
	pending string
	// repeating: the pending reason is for a repeat, not a skip.
	repeating bool
	// splashUntil is when the checkpoint shown at an act boundary gives
	// the screen back; zero when the checkpoint view was asked for.
	splashUntil time.Time
	// quitFrom is the mode the quit question interrupted.
	quitFrom mode
}

type (
	opDoneMsg struct {
		did     string
		err     error
		entries []logLine
		state   session.Snapshot
	}
	checkpointMsg struct {
		cp  *transparency.Checkpoint
		err error
	}
	tickMsg     time.Time
	presenceMsg map[string]bool
	tokenMsg    hsm.TokenInfo
	autoMsg     struct{}
	closeMsg    struct{}
)

// NewConsole builds the console's model.
func NewConsole(ctx context.Context, s *session.Session, opts ConsoleOptions) (*Console, error) {
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
	in := textinput.New()
	in.CharLimit = 500
	in.Cursor.SetMode(cursor.CursorStatic) // no blinking on a projected screen
	c := &Console{ctx: ctx, sess: s, opts: opts, st: newStyles(r, theme), keys: newKeys(), help: help.New(),
		input: in, width: MinWidth, height: MinHeight, clock: opts.Now(), cp: s.Log().Latest(), state: s.Snapshot()}
	if st := s.State(); st.Resumes > 0 {
		if cur, ok := st.Current(); ok {
			c.note = fmt.Sprintf("RESUMED at step %s (resume %d): every earlier step is in the log", cur.ID, st.Resumes)
		}
	}
	c.help.Styles.ShortKey = c.st.Focus
	c.help.Styles.ShortDesc = c.st.Help
	return c, nil
}

func (c *Console) Init() tea.Cmd {
	cmds := []tea.Cmd{tick(), c.pollCards(), c.pollToken()}
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

// Update handles window and global events and hands keys to the current mode.
func (c *Console) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.width, c.height = msg.Width, msg.Height
		return c, nil
	case tickMsg:
		return c, tea.Batch(tick(), c.onTick())
	case tokenMsg:
		info := hsm.TokenInfo(msg)
		c.token = &info
		return c, nil
	case presenceMsg:
		c.inserted = msg
		return c, nil
	case opDoneMsg:
		return c, c.opDone(msg)
	case checkpointMsg:
		if msg.err == nil {
			c.cp = msg.cp
		}
		return c, nil
	case autoMsg:
		return c, c.autoStep()
	case closeMsg:
		return c, tea.Quit
	case tea.KeyMsg:
		return c, c.key(msg)
	}
	if c.mode == modeException || c.mode == modeTyped || c.mode == modeSecret || c.mode == modeSerial || c.mode == modeNewPass ||
		c.mode == modeSkipReason || c.mode == modeAbortReason || c.mode == modeAbortTyped || c.mode == modeSignIn || c.mode == modeRepeatReason ||
		c.mode == modeChoose {
		var cmd tea.Cmd
		c.input, cmd = c.input.Update(msg)
		return c, cmd
	}
	return c, nil
}

// onTick is the work of each clock tick: the header's clock; a partial
// quorum past the roster's timeout expires on screen without waiting for
// the next card; the cards and the HSM are polled.
func (c *Console) onTick() tea.Cmd {
	c.clock = c.opts.Now()
	if c.mode == modeCheckpoint && !c.splashUntil.IsZero() && !c.clock.Before(c.splashUntil) {
		c.mode, c.splashUntil = modeNormal, time.Time{}
	}
	if d := c.sess.Script().Quorum.ExpiresAfter(); d > 0 && c.busy == "" && !c.state.Quorum && len(c.state.Accepted) > 0 &&
		c.state.CollectingCards() && c.clock.Sub(c.state.PartialSince) > d {
		return c.run("partial quorum expiring", func(ctx context.Context) (string, error) {
			if expired, err := c.sess.ExpireQuorum(ctx); expired || err != nil {
				return "partial quorum expired", err
			}
			return "", nil
		})
	}
	return tea.Batch(c.pollCards(), c.pollToken())
}

// pollToken reads the HSM's flags while its login is the next thing to do.
func (c *Console) pollToken() tea.Cmd {
	cur, ok := c.state.Current()
	if !ok || c.busy != "" || (cur.Action != ceremony.ActionHSMLogin && !c.state.NeedActivation) {
		return nil
	}
	sess := c.sess
	return func() tea.Msg {
		if info, ok := sess.TokenInfo(); ok {
			return tokenMsg(info)
		}
		return nil
	}
}

// pollCards asks a reader that can tell which cards are inserted, while
// cards are collected and nothing else runs.
func (c *Console) pollCards() tea.Cmd {
	p, ok := c.sess.Cards().(quorum.Presence)
	if !ok || c.busy != "" || !c.state.CollectingCards() {
		return nil
	}
	ctx := c.ctx
	return func() tea.Msg {
		in, err := p.Inserted(ctx)
		if err != nil {
			return nil
		}
		return presenceMsg(in)
	}
}

func (c *Console) key(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC {
		if c.mode != modeQuit {
			c.quitFrom, c.mode = c.mode, modeQuit
		}
		return nil
	}
	switch c.mode {
	case modeQuit:
		switch {
		case key.Matches(msg, c.keys.Yes):
			c.quit = true
			return tea.Quit
		case key.Matches(msg, c.keys.No):
			// Back to where the question interrupted: a dialog keeps what
			// was typed in it.
			c.mode = c.quitFrom
		}
		return nil
	case modeHelp, modeCheckpoint, modeExceptions:
		// Any key gives the screen back; it does nothing else.
		c.mode, c.splashUntil = modeNormal, time.Time{}
		return nil
	case modeWitnessConfirm:
		switch {
		case msg.String() == "w" && c.pending != "" && c.repeating:
			c.mode = modeNormal
			reason := c.pending
			c.pending, c.repeating = "", false
			return c.run("repeating the step", func(ctx context.Context) (string, error) {
				return "step repeated", c.sess.Repeat(ctx, reason)
			})
		case msg.String() == "w" && c.pending != "":
			c.mode = modeNormal
			reason := c.pending
			c.pending = ""
			return c.run("skipping the step", func(ctx context.Context) (string, error) {
				return "step skipped", c.sess.Skip(ctx, reason)
			})
		case msg.String() == "w":
			c.mode = modeNormal
			id, serial := c.secretCard, c.serial
			return c.run("recording card "+id, func(ctx context.Context) (string, error) {
				return "card " + id + " recorded", c.sess.WitnessCard(ctx, id, serial)
			})
		case msg.Type == tea.KeyEsc:
			c.mode, c.pending, c.repeating = modeNormal, "", false
		}
		return nil
	case modeException, modeTyped, modeSecret, modeSerial, modeNewPass, modeSkipReason, modeAbortReason, modeAbortTyped, modeSignIn, modeRepeatReason, modeChoose, modeAbsent:
		switch msg.Type {
		case tea.KeyEsc:
			c.closeInput()
			c.newPass, c.newFirst = nil, ""
			return nil
		case tea.KeyEnter:
			m := c.mode
			text := c.input.Value() // a typed confirmation must match exactly
			switch m {
			case modeAbsent:
				c.closeInput()
				cards := c.sess.Script().Quorum.Cards
				n := cardNumber(strings.TrimSpace(text), len(cards))
				if n == 0 {
					c.note, c.failed = fmt.Sprintf("%q is not a card number; nobody was recorded absent", strings.TrimSpace(text)), true
					return nil
				}
				id := cards[n-1].ID
				return c.run("recording "+id+" absent", func(ctx context.Context) (string, error) {
					return id + " marked", c.sess.MarkAbsent(ctx, id)
				})
			case modeChoose:
				c.closeInput()
				ids := strings.Fields(text)
				return c.run("recording the contingencies", func(ctx context.Context) (string, error) {
					return "contingencies chosen", c.sess.Choose(ctx, ids)
				})
			case modeSignIn:
				return c.nameEntered(text)
			case modeNewPass:
				return c.newPassEntered(text)
			case modeSkipReason, modeAbortReason, modeRepeatReason:
				c.closeInput()
				if c.pending = strings.TrimSpace(text); c.pending == "" {
					return nil
				}
				c.repeating = m == modeRepeatReason
				if m != modeAbortReason {
					c.mode = modeWitnessConfirm
				} else {
					c.openInput(modeAbortTyped, "Type ABORT to abort the ceremony")
				}
				return nil
			case modeAbortTyped:
				c.closeInput()
				reason := c.pending
				c.pending = ""
				if text != "ABORT" {
					c.note, c.failed = fmt.Sprintf("typed %q; nothing was aborted", text), true
					return nil
				}
				return c.run("aborting the ceremony", func(ctx context.Context) (string, error) {
					return "ceremony aborted", c.sess.Abort(ctx, reason)
				})
			}
			if m == modeSerial {
				c.closeInput()
				if c.serial = strings.TrimSpace(text); c.serial != "" {
					c.mode = modeWitnessConfirm
				}
				return nil
			}
			if m == modeSecret {
				c.closeInput()
				id := c.secretCard
				if c.state.Awaiting() == session.NextCosign {
					return c.run("reading card "+id+" to cosign", func(ctx context.Context) (string, error) {
						return "card " + id + " cosigned the final checkpoint", c.sess.PresentCosigner(quorum.WithSecret(ctx, text), id)
					})
				}
				return c.run("reading card "+id, func(ctx context.Context) (string, error) {
					return "card " + id + " accepted", c.sess.PresentCard(quorum.WithSecret(ctx, text), id)
				})
			}
			if m == modeException {
				text = strings.TrimSpace(text)
			}
			c.closeInput()
			if text == "" && m == modeException {
				return nil
			}
			if m == modeException {
				return c.run("recording the exception", func(ctx context.Context) (string, error) {
					return "exception recorded", c.sess.Exception(ctx, text)
				})
			}
			return c.run("checking the confirmation", func(ctx context.Context) (string, error) {
				return "confirmed", c.sess.Type(ctx, text)
			})
		}
		var cmd tea.Cmd
		c.input, cmd = c.input.Update(msg)
		return cmd
	}
	c.updateKeys()
	switch {
	case key.Matches(msg, c.keys.Quit):
		c.quitFrom, c.mode = modeNormal, modeQuit
	case key.Matches(msg, c.keys.Help):
		c.mode = modeHelp
	case key.Matches(msg, c.keys.Checkpoint):
		c.mode, c.splashUntil = modeCheckpoint, time.Time{}
	case key.Matches(msg, c.keys.Exceptions):
		c.mode = modeExceptions
	case key.Matches(msg, c.keys.Exception):
		c.openInput(modeException, "What happened, and what was done")
	case key.Matches(msg, c.keys.Witness):
		w := c.sess.NextWitnessRole()
		return c.run(w+" confirming", func(ctx context.Context) (string, error) {
			return w + " confirmed", c.sess.WitnessStep(ctx)
		})
	case key.Matches(msg, c.keys.Skip):
		c.openInput(modeSkipReason, fmt.Sprintf("Why step %s is skipped", c.current().ID))
	case key.Matches(msg, c.keys.Repeat):
		c.openInput(modeRepeatReason, "Why the step just done is done again")
	case key.Matches(msg, c.keys.Abort):
		c.openInput(modeAbortReason, "Why the ceremony is aborted")
	case key.Matches(msg, c.keys.Card):
		n := int(msg.Runes[0] - '0')
		cards := c.sess.Script().Quorum.Cards
		if n < 1 || n > len(cards) {
			return nil
		}
		id := cards[n-1].ID
		if c.sess.Script().Quorum.Witnessed() {
			c.secretCard = id
			c.openInput(modeSerial, fmt.Sprintf("Serial of card %s (%s) as the HSM shows it", id, cards[n-1].Holder))
			return nil
		}
		if sr, ok := c.sess.Cards().(quorum.SecretReader); ok {
			c.secretCard = id
			c.openInput(modeSecret, fmt.Sprintf("%s of card %s (%s)", sr.SecretName(), id, cards[n-1].Holder))
			c.input.EchoMode = textinput.EchoNone
			return nil
		}
		if c.state.Awaiting() == session.NextCosign {
			return c.run("reading card "+id+" to cosign", func(ctx context.Context) (string, error) {
				return "card " + id + " cosigned the final checkpoint", c.sess.PresentCosigner(ctx, id)
			})
		}
		return c.run("reading card "+id, func(ctx context.Context) (string, error) {
			return "card " + id + " accepted", c.sess.PresentCard(ctx, id)
		})
	case key.Matches(msg, c.keys.Absent):
		what := "who has gone (again: is back)"
		if c.state.Closed {
			what = "who will not cosign"
		}
		c.openInput(modeAbsent, "Number of the officer "+what)
	case key.Matches(msg, c.keys.Forged):
		return c.run("reading a card", func(ctx context.Context) (string, error) {
			return "card accepted", c.sess.PresentForged(ctx)
		})
	case key.Matches(msg, c.keys.Confirm):
		if c.state.Awaiting() == session.NextCosign {
			return c.run("closing the ceremony", func(ctx context.Context) (string, error) {
				return "ceremony closed: the officers present cosign its final checkpoint", c.sess.CloseForCosign(ctx)
			})
		}
		if c.state.Awaiting() == session.NextChoose {
			c.openInput(modeChoose, "The ids of the contingencies that apply, separated by spaces; enter alone: none")
			return nil
		}
		if c.state.Awaiting() == session.NextSignIn {
			c.names, c.nameRole = map[string]string{}, 0
			c.askName()
			return nil
		}
		if c.state.Awaiting() == session.NextReshare {
			c.newPass, c.newFirst = map[string]string{}, ""
			c.askNewPass("")
			return nil
		}
		if c.state.Awaiting() == session.NextTyped {
			cur, _ := c.state.Current()
			what := "sign every bundle"
			switch cur.Action {
			case ceremony.ActionKeyGen:
				what = "generate " + cur.Params["label"]
			case ceremony.ActionReshare:
				what = "deal new cards"
			case ceremony.ActionZeroize:
				what = "destroy every key in the HSM"
			}
			c.openInput(modeTyped, fmt.Sprintf("Type %s to %s", cur.Confirm, what))
			return nil
		}
		verb := actionVerb(c.current().Action, c.state.State)
		if c.state.Awaiting() == session.NextConfirm {
			verb = "confirming the step"
		}
		return c.run(verb, func(ctx context.Context) (string, error) { return "", c.sess.Confirm(ctx) })
	}
	return nil
}

func (c *Console) current() ceremony.Step {
	cur, _ := c.state.Current()
	return cur
}

func (c *Console) openInput(m mode, placeholder string) {
	c.mode = m
	c.input.EchoMode = textinput.EchoNormal
	c.input.SetValue("")
	c.input.Placeholder = placeholder
	c.input.Focus()
}

// askName asks for the name of the participant in the next role.
func (c *Console) askName() {
	r := c.sess.Script().Roles[c.nameRole]
	c.openInput(modeSignIn, fmt.Sprintf("Name of the %s (%s), or enter if absent", r.Title, r.ID))
}

// nameEntered takes one role's name; after the last role, the sign-in is
// logged.
func (c *Console) nameEntered(text string) tea.Cmd {
	roles := c.sess.Script().Roles
	c.closeInput()
	if name := strings.TrimSpace(text); name != "" {
		c.names[roles[c.nameRole].ID] = name
	}
	if c.nameRole++; c.nameRole < len(roles) {
		c.askName()
		return nil
	}
	names := c.names
	c.names = nil
	return c.run("signing the participants in", func(ctx context.Context) (string, error) {
		return "participants signed in", c.sess.SignIn(ctx, names)
	})
}

// askNewPass opens the passphrase field for the next new officer who has
// none yet; problem, if set, says why the last typing was not taken.
func (c *Console) askNewPass(problem string) {
	for _, h := range c.sess.NewHolders() {
		if _, ok := c.newPass[h.ID]; ok {
			continue
		}
		what := fmt.Sprintf("passphrase for new card %s (%s)", h.ID, h.Holder)
		if c.newFirst != "" {
			what += ", again"
		}
		c.openInput(modeNewPass, what)
		c.input.EchoMode = textinput.EchoNone
		if problem != "" {
			c.note, c.failed = problem, true
		}
		return
	}
}

// newPassEntered takes one typing of a new officer's passphrase: the first,
// then the same again; once every new officer has one, the cards are dealt.
func (c *Console) newPassEntered(text string) tea.Cmd {
	holders := c.sess.NewHolders()
	var h quorum.CardInfo
	for _, x := range holders {
		if _, ok := c.newPass[x.ID]; !ok {
			h = x
			break
		}
	}
	c.closeInput()
	switch {
	case c.newFirst == "" && len(text) < 8:
		c.askNewPass(fmt.Sprintf("card %s: at least 8 characters; type it again", h.ID))
		return nil
	case c.newFirst == "":
		c.newFirst = text
		c.askNewPass("")
		return nil
	case text != c.newFirst:
		c.newFirst = ""
		c.askNewPass(fmt.Sprintf("card %s: the two typings differ; type it again", h.ID))
		return nil
	}
	c.newPass[h.ID], c.newFirst = text, ""
	if len(c.newPass) < len(holders) {
		c.askNewPass("")
		return nil
	}
	passes := c.newPass
	c.newPass = nil
	return c.run("dealing the new cards", func(ctx context.Context) (string, error) {
		return "new cards dealt", c.sess.Reshare(ctx, passes)
	})
}

// closeInput leaves a dialog; what was typed is dropped.
func (c *Console) closeInput() {
	c.mode = modeNormal
	c.input.Blur()
	c.input.SetValue("")
	c.input.EchoMode = textinput.EchoNormal
}

// updateKeys enables exactly the keys that do something now.
func (c *Console) updateKeys() {
	idle := c.busy == "" && !c.closed && !c.opts.Auto
	next := c.state.Awaiting()
	cosign := next == session.NextCosign
	rollCall := cosign && !c.state.Closed
	c.keys.Confirm.SetEnabled(idle && next != session.NextCards && next != session.NextCheckFailed && next != session.NextDone && next != session.NextWitness && (!cosign || rollCall))
	c.keys.Absent.SetEnabled(idle && cosign)
	c.keys.Absent.SetHelp("o", "an officer has gone")
	if cosign && !rollCall {
		c.keys.Absent.SetHelp("o", "an officer will not cosign")
	}
	c.keys.Witness.SetEnabled(idle && next == session.NextWitness)
	if next == session.NextWitness {
		c.keys.Witness.SetHelp("w", c.sess.NextWitnessRole()+" confirms step "+c.current().ID)
	}
	c.keys.Card.SetEnabled(idle && (next == session.NextCards || (cosign && !rollCall)))
	c.keys.Card.SetHelp("1-7", "present card")
	if cosign {
		c.keys.Card.SetHelp("1-7", "card in to cosign")
	}
	_, simulated := c.sess.Cards().(*quorum.Simulated)
	c.keys.Forged.SetEnabled(idle && next == session.NextCards && simulated)
	step := next != session.NextDone && !cosign // there is a step to act on
	c.keys.Exception.SetEnabled(idle && step)
	c.keys.Skip.SetEnabled(idle && step && c.current().Action == "" && c.sess.SkipWitness() != "")
	c.keys.Repeat.SetEnabled(idle && step && c.state.Next > 0 && c.sess.Script().Steps()[c.state.Next-1].Action == "" &&
		!c.state.StepBegun() && c.sess.RepeatWitness() != "")
	c.keys.Abort.SetEnabled(idle && step && c.state.Aborted == nil && !c.sess.Script().Acts[c.current().Act].Always)
	c.keys.Help.SetEnabled(true)
	c.keys.Quit.SetEnabled(true)
	c.keys.Checkpoint.SetEnabled(c.cp != nil)
	c.keys.Exceptions.SetEnabled(true)
	switch {
	case rollCall:
		c.keys.Confirm.SetHelp("enter", "close the ceremony")
	case next == session.NextTyped:
		c.keys.Confirm.SetHelp("enter", "type the confirmation")
	case next == session.NextConfirm:
		c.keys.Confirm.SetHelp("enter", "confirm step "+c.current().ID)
	default:
		c.keys.Confirm.SetHelp("enter", actionVerb(c.current().Action, c.state.State))
	}
}

// run starts a ceremony operation in a command; its entries are collected
// and shown when it returns.
func (c *Console) run(label string, op func(ctx context.Context) (string, error)) tea.Cmd {
	if c.busy != "" {
		return nil
	}
	c.busy = label
	ctx, sess := c.ctx, c.sess
	return func() tea.Msg {
		var entries []logLine
		sess.SetOnAppend(func(a transparency.Appended) {
			entries = append(entries, logLine{time: a.Entry.Time, index: a.Index, text: event.Describe(a.Entry), kind: a.Entry.Kind()})
		})
		did, err := op(ctx)
		sess.SetOnAppend(nil)
		return opDoneMsg{did: did, err: err, entries: entries, state: sess.Snapshot()}
	}
}

func (c *Console) opDone(msg opDoneMsg) tea.Cmd {
	c.busy = ""
	before, was := c.state.Current()
	c.state = msg.state
	if now, is := c.state.Current(); was && (!is || now.Act != before.Act) && c.mode == modeNormal && c.opts.Splash > 0 {
		// An act is over: its checkpoint has the screen for a moment, for
		// the room to read and the stream to carry.
		c.mode, c.splashUntil = modeCheckpoint, c.opts.Now().Add(c.opts.Splash)
	}
	c.recent = append(c.recent, msg.entries...)
	if len(c.recent) > 50 {
		c.recent = c.recent[len(c.recent)-50:]
	}
	c.warned = false
	var re *quorum.RejectedError
	var wp *quorum.WrongPINError
	if errors.As(msg.err, &wp) {
		if c.wrong == nil {
			c.wrong = map[string]int{}
		}
		c.wrong[wp.Card] = wp.Tries
	}
	switch {
	case errors.As(msg.err, &re):
		c.note, c.failed = fmt.Sprintf("card %s REJECTED: %s", re.Card, re.Reason), true
	case msg.err != nil:
		c.note, c.failed = msg.err.Error(), true
	case len(msg.entries) > 0:
		last := msg.entries[len(msg.entries)-1]
		c.note, c.failed, c.warned = last.text, false, deviation(last.kind)
	default:
		c.note, c.failed = msg.did, false
	}
	var cmds []tea.Cmd
	l := c.sess.Log()
	if size := l.Size(); size > 0 {
		cmds = append(cmds, func() tea.Msg {
			cp, err := l.AwaitCheckpoint(c.ctx, size-1)
			return checkpointMsg{cp, err}
		})
	}
	if c.state.Awaiting() == session.NextDone {
		c.closed = true
		if c.opts.Auto {
			cmds = append(cmds, tea.Tick(1500*time.Millisecond, func(time.Time) tea.Msg { return closeMsg{} }))
		}
	} else if c.opts.Auto {
		if msg.err != nil && !errors.As(msg.err, &re) {
			c.fatal = msg.err
			return tea.Quit
		}
		cmds = append(cmds, autoNext(250*time.Millisecond))
	} else if msg.err == nil && c.state.Awaiting() == session.NextSign {
		// Once confirmed, every bundle is signed in one go, with progress.
		cmds = append(cmds, c.run("signing the next bundle", func(ctx context.Context) (string, error) { return "", c.sess.SignNext(ctx) }))
	}
	return tea.Batch(cmds...)
}

func (c *Console) autoStep() tea.Cmd {
	if c.closed || c.mode == modeQuit {
		return nil
	}
	if c.mode == modeCheckpoint && !c.splashUntil.IsZero() {
		// The rehearsal waits while the act's checkpoint is shown.
		return autoNext(max(c.splashUntil.Sub(c.opts.Now()), 100*time.Millisecond))
	}
	return c.run("playing the ceremony", func(ctx context.Context) (string, error) { return c.sess.AutoStep(ctx) })
}
