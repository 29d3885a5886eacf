package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/ui"
)

func runDemo(ctx context.Context, h hooks, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "", stderr)
	logDir := fs.String("log", "", "the log folder: a new one, or one holding an unfinished demo to resume (default: a new folder under the system's temporary directory)")
	auto := fs.Bool("auto", false, "play the whole ceremony unattended and exit at the end")
	plain := fs.Bool("plain", false, "line-by-line prompts instead of the full-screen console (also when stdout is not a terminal)")
	theme := fs.String("theme", "dark", "colours of the console: dark, light or mono")
	anchorKey := fs.String("anchor-key", "", "the key (PEM) that will anchor the rehearsal's log in Rekor: the opening entry announces it")
	prevLog := fs.String("previous-log", "", "the log folder of the rehearsal this one follows: its final checkpoint is cited by the opening entry, and the SKR it wrote continues the chain")
	cardsDir := fs.String("cards", "", "the officers' card files, for a rehearsal that follows one which dealt new cards (default: beside the log followed, DIR-cards-2)")
	recCards := fs.String("recovery-cards", "", "recovery: the folder of the recovery holders' card files (default: beside the log of the rehearsal followed, DIR-recovery-cards)")
	scriptName := fs.String("script", "demo", "the built-in script to rehearse ("+strings.Join(scripts.Names(), ", ")+") on the demo's software token and simulated cards, or "+YearScript+": a KSK's year, each ceremony on the previous one's log, ending with verify --history")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("demo: unexpected argument %q", pos[0])
	}
	if !ui.ValidTheme(*theme) {
		return usageErr("demo: --theme %q: use dark, light or mono", *theme)
	}
	if *logDir == "" {
		base, err := os.MkdirTemp("", "keyceremony-demo-")
		if err != nil {
			return operational(fmt.Errorf("demo: %w", err))
		}
		*logDir = filepath.Join(base, "log")
	}
	dir, err := filepath.Abs(*logDir)
	if err != nil {
		return operational(err)
	}
	if *scriptName == YearScript {
		var pass []string
		if *auto {
			pass = append(pass, "--auto")
		}
		if *plain {
			pass = append(pass, "--plain")
		}
		if *theme != "dark" {
			pass = append(pass, "--theme", *theme)
		}
		if *prevLog != "" || *cardsDir != "" || *recCards != "" || *anchorKey != "" {
			return usageErr("demo --script %s rehearses a whole chain from its first ceremony: no --previous-log, --cards, --recovery-cards or --anchor-key", YearScript)
		}
		return runYear(ctx, h, dir, pass, stdin, stdout, stderr)
	}
	existing, _ := os.ReadDir(dir)
	resume := len(existing) > 0
	var previous *previousCeremony
	if *prevLog != "" {
		if previous, err = readPrevious(*prevLog); err != nil {
			return err
		}
	}
	// A rehearsal goes on with the roster the one it follows ended with:
	// after new cards were dealt, those cards (their files, with the
	// rehearsal's passphrases) activate the HSM.
	roster := scripts.DemoRoster()
	if previous != nil && previous.Roster != nil {
		roster = previous.Roster
	}
	script, err := rehearsalScript(*scriptName, roster)
	if err != nil {
		return err
	}
	ownCards := script.RosterFile != "" && !sameRoster(roster, scripts.DemoRoster())
	if ownCards && *cardsDir == "" {
		*cardsDir = previous.dir + "-cards-2"
		if _, err := os.Stat(*cardsDir); err != nil {
			return usageErr("demo: %s ended with new officers' cards: give --cards DIR, the folder they were dealt to", previous.dir)
		}
	}
	announced := ""
	if *anchorKey != "" {
		if announced, err = anchorKeyArg(*anchorKey); err != nil {
			return usageErr("demo: --anchor-key %s: %v", *anchorKey, err)
		}
	}
	need := session.NeedsOf(script)
	if need.Recovery && !resume && (previous == nil || previous.Backup == nil) {
		return usageErr("demo: --script %s restores the KSK backup on record: give --previous-log DIR, a rehearsal that made one (demo --script keygen) or followed one that did", *scriptName)
	}
	if need.Recovery && *recCards == "" {
		if previous == nil {
			return usageErr("demo: --script %s: give --recovery-cards DIR, the folder the backup's rehearsal dealt them to", *scriptName)
		}
		*recCards = previous.dir + "-recovery-cards"
	}
	restore, attach := quietLibraries()
	defer restore()

	l, err := openDemoLog(ctx, dir, resume, script, announced, previous, h)
	if err != nil {
		return err
	}
	attach(dir)
	closeLog := closer(l)
	defer closeLog()
	cfg, err := session.DemoConfig(script, l, resume, dir+"-skr.xml")
	if err != nil {
		return operational(err)
	}
	cfg.ClockJumps, cfg.Disk = true, h.disk
	if ownCards {
		cards := &quorum.CardFiles{Dir: *cardsDir}
		tok, err := session.RehearsalToken(cfg.Profile, script.Quorum, cards)
		if err != nil {
			return usageErr("demo: the officers' cards in %s: %v", *cardsDir, err)
		}
		cfg.Cards, cfg.Token = cards, tok
	}
	// The rehearsal's parts for what other scripts do: a second KSR
	// (2010Q2) for a script that signs two quarters, and three new officers
	// whose card files and roster go beside the log.
	cfg.More, cfg.MoreSKRPaths = []session.Input{{Name: scripts.DemoKSR2Name, Data: scripts.DemoKSR2()}}, []string{dir + "-skr-2.xml"}
	cfg.Reshare = session.ReshareConfig{Holders: demoNewOfficers(script.Quorum), RosterPath: dir + "-roster-2.yaml", CardsDir: dir + "-cards-2", WorkFactor: 12}
	// Seven recovery key share holders for a script that backs the keys
	// up, their card files and roster beside the log; a recovery reads
	// them back, and restores onto a second HSM: a SoftHSM2 token of its
	// own, activated by the officers' cards as the first one is.
	cfg.RecoveryDeal = session.ReshareConfig{Holders: demoRecoveryHolders(), RosterPath: dir + "-recovery-roster.yaml", CardsDir: dir + "-recovery-cards", WorkFactor: 12}
	if need.Recovery {
		cfg.RecoveryCards = &quorum.CardFiles{Dir: *recCards}
		tok, closeTok, err := demoSoftHSM(dir+"-softhsm", script.Quorum, cfg.Cards)
		if err != nil {
			return err
		}
		defer closeTok()
		cfg.Token = tok
	}
	if cfg.Previous, err = previous.previousSKR(); err != nil {
		return err
	}
	if cfg.Previous != nil {
		// The rehearsal that follows one which answered the 2010 Q1 KSR
		// signs the next quarter's, as the next ceremony would.
		if q1, err := dnssec.ParseAny(scripts.DemoKSR(), nil); err == nil && q1.ID == cfg.Previous.ID {
			cfg.KSR, cfg.More, cfg.MoreSKRPaths = session.Input{Name: scripts.DemoKSR2Name, Data: scripts.DemoKSR2()}, nil, nil
		}
	}
	sess, err := session.Open(ctx, cfg)
	if errors.Is(err, session.ErrClosed) {
		return usageErr("demo: %s holds a closed ceremony; a closed log is never reopened: verify it with keyceremony verify %s, or start a new demo", dir, dir)
	}
	if err != nil {
		return badInput(fmt.Errorf("demo: %s: %w", dir, err))
	}
	// The rehearsal's roster, as cards provision would publish it before a
	// ceremony: what an auditor pins (verify --roster) rather than trust
	// the copy inside the log.
	rosterOut := ""
	if script.Quorum != nil {
		rosterOut = dir + "-roster.yaml"
		if b, err := quorum.MarshalRosterFile(script.Quorum); err != nil {
			return operational(err)
		} else if err := h.disk.WriteFile(rosterOut, b, 0o644, durable.Same); err != nil {
			return operational(fmt.Errorf("demo: %w", err))
		}
	}
	if resume {
		fmt.Fprintf(stdout, "REHEARSAL · resuming the ceremony logged in %s\n", dir)
	} else {
		fmt.Fprintf(stdout, "REHEARSAL · new log %s\n", dir)
	}
	final, err := play(ctx, sess, playOptions{plain: *plain, auto: *auto, rehearsal: true, theme: *theme}, stdin, stdout)
	if errors.Is(err, ui.ErrQuit) {
		again := ""
		if *scriptName != "demo" {
			again = " --script " + *scriptName
		}
		fmt.Fprintf(stdout, "\nStopped before the end. The log is safe; resume with:\n  keyceremony demo%s --log %s\n", again, dir)
		return nil
	}
	if err != nil {
		return operational(fmt.Errorf("demo: %w", storageHint(err)))
	}
	closeLog()
	cp := l.Latest()
	fmt.Fprintf(stdout, "\nLog folder: %s\n", dir)
	if session.NeedsOf(script).KSRs > 0 {
		fmt.Fprintf(stdout, "SKR: %s\n", final.SKRPath)
	}
	pin := ""
	if rosterOut != "" {
		pin = " --roster " + rosterOut
	}
	fmt.Fprintf(stdout, "Final checkpoint: size %d, root %s\nVerify it with: keyceremony verify %s%s\n", cp.Size, dnssec.GroupHex(cp.RootHex()), dir, pin)
	return nil
}

// rehearsalScript loads a built-in script for the demo; one that names
// roster.yaml gets the roster given (the demo's, whose simulated cards the
// demo holds, or the one the rehearsal it follows ended with). Officers of
// that roster whom the script does not name get a role each, as an
// operator names the officers of the day in their script.
func rehearsalScript(name string, roster []byte) (*ceremony.Script, error) {
	script, err := session.RehearsalScript(name, roster)
	switch {
	case errors.Is(err, scripts.ErrUnknown):
		return nil, usageErr("demo: --script %q: built in are %s; rehearse a script of your own with keyceremony run --rehearsal", name, strings.Join(scripts.Names(), ", "))
	case err != nil:
		return nil, operational(err)
	}
	return script, nil
}

// openDemoLog opens the demo's log in dir: a new one with a new rehearsal key
// (kept beside the folder, never in it), or an existing one to resume.
func openDemoLog(ctx context.Context, dir string, resume bool, script *ceremony.Script, anchorKey string, previous *previousCeremony, h hooks) (*transparency.Log, error) {
	keyPath := dir + ".key"
	name := script.Ceremony
	if !strings.Contains(name, "rehearsal") {
		name += " (rehearsal)"
	}
	if !resume {
		os.Remove(keyPath) // a key left by a start that never created the log
	}
	// The demo's profile, its KSK inventory with it, as run cites its own.
	profile, err := ceremony.LoadProfile(scripts.DemoProfileName, scripts.DemoProfile())
	if err != nil {
		return nil, err
	}
	opening := session.Opening{Script: script, ScriptName: script.Name, Ceremony: name, Rehearsal: true, Tool: toolVersion(), AnchorKey: anchorKey,
		ProfileName: scripts.DemoProfileName, Profile: scripts.DemoProfile(), Token: profile.Token.Label, Previous: previous.carried()}
	if session.NeedsOf(script).Recovery {
		opening.Token = RecoveryTokenLabel // the second HSM the keys are restored onto
	}
	open, arts, err := opening.Entry()
	if err != nil && !resume { // a resumed log keeps the opening it has
		return nil, badInput(err)
	}
	return openLog(ctx, logSpec{dir: dir, keyPath: keyPath, resume: resume,
		origin:    "demo.keyceremony.invalid/" + time.Now().UTC().Format("20060102T150405Z") + "/rehearsal",
		open:      open,
		artefacts: arts,
		keyName:   "rehearsal key", keyHint: "choose a new folder", hooks: h})
}

// demoNewOfficers are the three new officers a rehearsal deals cards to:
// numbered after every card of the roster (CO8 to CO10 after the demo's).
func demoNewOfficers(r *quorum.Roster) []quorum.CardInfo {
	next := 1
	if r != nil {
		for _, c := range r.Cards {
			var n int
			if _, err := fmt.Sscanf(c.ID, "CO%d", &n); err == nil && n >= next {
				next = n + 1
			}
		}
	}
	var out []quorum.CardInfo
	for i := 0; i < 3; i++ {
		out = append(out, quorum.CardInfo{ID: fmt.Sprintf("CO%d", next+i), Holder: "Officer " + string(rune('A'+(next+i-1)%26))})
	}
	return out
}
