package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/ui"
)

// runCeremony is `keyceremony run`: a signing ceremony on the profile's HSM,
// activated by the crypto officers' cards, in the console or line by line.
// A log folder that holds an unfinished ceremony resumes it.
func runCeremony(ctx context.Context, h hooks, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", "usage: keyceremony run --script FILE|NAME --profile FILE --log DIR --ksr KSR (--cards DIR | --card-module LIB) [--previous-log DIR] [--previous-skr SKR] [--skr OUT] [--plain]", stderr)
	scriptArg := fs.String("script", "", "the ceremony script: a file, or a built-in script by name (required)")
	profilePath := fs.String("profile", "", "the profile: HSM, KSK inventory, schemas, policies (required)")
	var ksrPaths, skrPaths stringList
	fs.Var(&ksrPaths, "ksr", "the KSR to sign, from the transfer medium (required when the script loads one; once per KSR it loads)")
	prevPath := fs.String("previous-skr", "", "the last SKR, for the chain and safety checks")
	prevLog := fs.String("previous-log", "", "the log folder of the ceremony this one follows: verified, closed; its final checkpoint, cosigned, is cited by the opening entry, and the SKR it wrote continues the chain (unless --previous-skr)")
	ksrUntil := fs.String("ksr-until", "", "a BIND KSR's period end (the -e of dnssec-ksr request): a BIND KSR does not carry it")
	hash1 := fs.String("hash1", "", "the KSR's SHA-256 (hex) the zone operator sent out of band: another KSR is not loaded")
	fs.Var(&skrPaths, "skr", "where to write the SKR (default: beside the KSR, its name with skr for ksr; once per KSR if given)")
	schema := fs.String("schema", "", "the signing schema (default: the profile's)")
	nowFlag := fs.String("now", "", "check the KSR as of this time (default: the clock)")
	logDir := fs.String("log", "", "the log folder: a new one, or one holding an unfinished ceremony to resume (required)")
	keyPath := fs.String("log-key", "", "the log's signing key, outside the folder; made on a new log when absent (default: DIR.key)")
	origin := fs.String("origin", "", "the log's origin line on a new log (default: keyceremony.invalid/<zone>/<time>)")
	rosterPath := fs.String("roster", "", "the roster file the script names (default: the file beside the script)")
	rehearsal := fs.Bool("rehearsal", false, "mark the ceremony a rehearsal: on screen, in the log and in its origin")
	anchorKey := fs.String("anchor-key", "", "the key (PEM, public or private ECDSA P-256) that will anchor the log in Rekor after the ceremony: the opening entry announces it, and anchors by any other key count for nothing")
	src := cardSource{}
	fs.StringVar(&src.dir, "cards", "", "the folder where the officers' card files appear (their media mounted)")
	fs.StringVar(&src.module, "card-module", "", "or the PKCS#11 library of the card readers: card CO1 is the token labelled CO1")
	witnessPolicy := fs.String("witness-policy", "", "a C2SP tlog-policy file: witnesses on this network that cosign each checkpoint before it is published (the ceremony never waits on them: unwitnessed checkpoints are published, and verify with the policy says so)")
	newHolders := fs.String("new-holders", "", "cards.reshare: the new officers (holders: [{id, holder}]), with ids the current roster does not use")
	newRoster := fs.String("new-roster", "", "cards.reshare: where to write the new roster (never overwritten)")
	newCards := fs.String("new-cards", "", "cards.reshare: where to write the new card files")
	workFactor := fs.Int("scrypt-work-factor", 0, "cards.reshare and key.backup: scrypt log2 N of the new card files (default 18)")
	recHolders := fs.String("recovery-holders", "", "key.backup: the recovery key share holders (holders: [{id, holder}]), none of them on the officers' roster")
	recRoster := fs.String("recovery-roster", "", "key.backup: where to write the recovery holders' roster (never overwritten)")
	recCards := fs.String("recovery-cards", "", "key.backup: where to write the recovery holders' card files; recovery.collect: the folder where they appear")
	plain := fs.Bool("plain", false, "line-by-line prompts instead of the full-screen console (also when stdout is not a terminal)")
	theme := fs.String("theme", "dark", "colours of the console: dark, light or mono")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("run: unexpected argument %q", pos[0])
	}
	if err := requireArgs("run", nil, "", req{"--script", *scriptArg}, req{"--log", *logDir}); err != nil {
		return err
	}
	if !ui.ValidTheme(*theme) {
		return usageErr("run: --theme %q: use dark, light or mono", *theme)
	}
	checkTime, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	script, err := loadScript(*scriptArg, *rosterPath)
	if err != nil {
		var se *ceremony.ScriptError
		if errors.As(err, &se) {
			return usageErr("run: %v; check it with keyceremony script check", err)
		}
		return err
	}
	if script.RosterMissing {
		return usageErr("run: %s names the roster %s, which is not beside it: give --roster FILE (cards provision wrote it)", script.Name, script.RosterFile)
	}
	need := session.NeedsOf(script)
	if need.Token && script.Quorum == nil {
		return usageErr("run: %s has no quorum: roster; a ceremony on an HSM is activated by the crypto officers' cards", script.Name)
	}
	if need.Cards && (src.dir == "") == (src.module == "") {
		return usageErr("run: give the crypto officers' cards: --cards DIR (card files) or --card-module LIB (smart cards)")
	}
	if !need.Cards && (src.dir != "" || src.module != "") {
		return usageErr("run: %s reads no cards here (a witnessed quorum, or no quorum): drop --cards and --card-module", script.Name)
	}
	cfg := session.Config{Script: script, CheckTime: checkTime, Schema: *schema, Policy: dnssec.DefaultPolicy()}

	if *prevPath != "" {
		if _, cfg.Previous, err = readSKR(*prevPath, "--previous-skr"); err != nil {
			return err
		}
	}
	var previous *previousCeremony
	if *prevLog != "" {
		if previous, err = readPrevious(*prevLog); err != nil {
			return err
		}
		if cfg.Previous == nil {
			if cfg.Previous, err = previous.previousSKR(); err != nil {
				return err
			}
		}
	}
	// What the previous ceremony left in custody, and the script's own
	// record, agree before anything else is opened.
	if _, _, err := (session.Opening{Script: script, Previous: previous.carried()}).Entry(); err != nil {
		return badInput(err)
	}

	var p *ceremony.Profile
	if need.Token && *profilePath == "" {
		return usageErr("run: %s uses an HSM: give --profile FILE", script.Name)
	}
	if *profilePath != "" {
		var tok hsm.Token
		var closeTok func()
		if p, tok, closeTok, err = loadProfile(ctx, *profilePath, false); err != nil {
			return err
		}
		defer closeTok()
		if p.Token.Backend != "pkcs11" && need.Token {
			return usageErr("run: %s: a ceremony activates its HSM with the officers' cards, and the software backend has no PIN: use the pkcs11 backend (SoftHSM for rehearsals)", *profilePath)
		}
		if script.Zone != "" && !strings.EqualFold(strings.TrimSuffix(script.Zone, ".")+".", strings.TrimSuffix(p.Zone, ".")+".") {
			return usageErr("run: the script is for zone %q, the profile for %q", script.Zone, p.Zone)
		}
		cfg.Profile, cfg.Token = p, tok
		if _, err = p.ResponsePolicy(); err != nil {
			return usageErr("%s: %v", *profilePath, err)
		}
		if cfg.Policy, err = profilePolicy(p, *profilePath); err != nil {
			return err
		}
	}

	dir, err := filepath.Abs(*logDir)
	if err != nil {
		return operational(err)
	}
	existing, _ := os.ReadDir(dir)
	resume := len(existing) > 0
	loads := need.KSRs
	if len(ksrPaths) != loads {
		return usageErr("run: %s loads %d KSRs: give --ksr FILE %d times (given %d)", script.Name, loads, loads, len(ksrPaths))
	}
	if len(skrPaths) != 0 && len(skrPaths) != loads {
		return usageErr("run: give --skr once per --ksr, or not at all")
	}
	if cfg.TextOptions, err = textOptions(p, *ksrUntil); err != nil {
		return err
	}
	for i, k := range ksrPaths {
		data, doc, err := readKSR(k, "--ksr", cfg.TextOptions)
		if err != nil {
			return err
		}
		if err := needUntil(k, "--ksr-until", doc, cfg.TextOptions); err != nil {
			return err
		}
		out := defaultSKRPath(k)
		if len(skrPaths) > 0 {
			out = skrPaths[i]
		}
		if _, err := os.Stat(out); err == nil && !resume {
			return usageErr("run: %s exists; an SKR is never overwritten: move it, or give --skr", out)
		}
		in := session.Input{Name: filepath.Base(k), Data: data}
		if i == 0 {
			cfg.KSR, cfg.SKRPath = in, out
		} else {
			cfg.More, cfg.MoreSKRPaths = append(cfg.More, in), append(cfg.MoreSKRPaths, out)
		}
	}
	if *hash1 != "" {
		h := strings.ToLower(strings.ReplaceAll(*hash1, " ", ""))
		if d, err := hex.DecodeString(h); err != nil || len(d) != 32 {
			return usageErr("run: --hash1 %q: give the 64 hex digits of the KSR's SHA-256 (spaces allowed)", *hash1)
		}
		cfg.KSRHash1 = h
	}
	// The holders a step deals new cards to: their file, where the roster
	// and cards go, and the ids they must not take.
	deal := func(holders, roster, cards string, threshold int, what string, taken func(id string) bool) (session.ReshareConfig, error) {
		if *workFactor < 0 || *workFactor > 22 {
			return session.ReshareConfig{}, usageErr("--scrypt-work-factor %d: want 1 to 22", *workFactor)
		}
		out, dir := roster, cards
		if resume { // a resumed ceremony may have dealt them already: the session checks
			out, dir = "", ""
		}
		doc, err := loadHolders(holders, threshold, out, dir)
		if err != nil {
			return session.ReshareConfig{}, err
		}
		for _, h := range doc.Holders {
			if taken(h.ID) {
				return session.ReshareConfig{}, usageErr("%s: card id %s %s", holders, h.ID, what)
			}
		}
		return session.ReshareConfig{Holders: doc.Holders, RosterPath: roster, CardsDir: cards, WorkFactor: *workFactor}, nil
	}
	onRoster := func(id string) bool { _, ok := script.Quorum.Card(id); return ok }
	if need.Reshare {
		if *newHolders == "" || *newRoster == "" || *newCards == "" {
			return usageErr("run: %s deals new officers' cards: give --new-holders FILE, --new-roster FILE and --new-cards DIR", script.Name)
		}
		threshold := 0
		for _, st := range script.Steps() {
			if st.Action == ceremony.ActionReshare {
				threshold = ceremony.ReshareThreshold(st)
			}
		}
		if cfg.Reshare, err = deal(*newHolders, *newRoster, *newCards, threshold, "is on the current roster; give each new card a new id", onRoster); err != nil {
			return err
		}
	}
	if need.Backup {
		if p == nil || !p.Token.BackupCapable {
			return usageErr("run: %s backs the keys up (key.backup): the profile's token must say backup_capable: true, so that the keys it generates can be wrapped for the backup", script.Name)
		}
		if *recHolders == "" || *recRoster == "" || *recCards == "" {
			return usageErr("run: %s backs the keys up: give --recovery-holders FILE, --recovery-roster FILE and --recovery-cards DIR", script.Name)
		}
		threshold := ceremony.DefaultRecoveryThreshold
		for _, st := range script.Steps() {
			if st.Action == ceremony.ActionBackup {
				threshold = ceremony.BackupThreshold(st)
			}
		}
		officer := func(id string) bool {
			return onRoster(id) || slices.ContainsFunc(cfg.Reshare.Holders, func(n quorum.CardInfo) bool { return n.ID == id })
		}
		if cfg.RecoveryDeal, err = deal(*recHolders, *recRoster, *recCards, threshold,
			"is a crypto officer's; the recovery key share holders are a quorum of their own: give them ids of their own", officer); err != nil {
			return err
		}
	}
	if need.Recovery {
		if *recCards == "" {
			return usageErr("run: %s collects the recovery holders' cards: give --recovery-cards DIR, where their card files appear", script.Name)
		}
		if !resume && (previous == nil || previous.Backup == nil) {
			return usageErr("run: %s restores the KSK backup on record: give --previous-log DIR, the ceremony that made it or one that carried it over", script.Name)
		}
		cfg.RecoveryCards = &quorum.CardFiles{Dir: *recCards}
	}
	if need.Cards {
		cfg.Cards = src.reader(script.Quorum, nil)
	}

	restore, attach := quietLibraries()
	defer restore()
	if *keyPath == "" {
		*keyPath = dir + ".key"
	}
	if *origin == "" {
		zone := strings.TrimSuffix(script.Zone, ".")
		if zone == "" {
			zone = "root"
		}
		*origin = "keyceremony.invalid/" + zone + "/" + time.Now().UTC().Format("20060102T150405Z")
	}
	if *rehearsal && !strings.Contains(*origin, "rehearsal") {
		*origin += "/rehearsal"
	}
	opening := session.Opening{Script: script, ScriptName: filepath.Base(script.Name), Rehearsal: *rehearsal, Tool: toolVersion(), Previous: previous.carried()}
	if *anchorKey != "" {
		if opening.AnchorKey, err = anchorKeyArg(*anchorKey); err != nil {
			return usageErr("run: --anchor-key %s: %v", *anchorKey, err)
		}
	}
	if p != nil {
		if opening.Profile, err = readInput(*profilePath); err != nil {
			return usageErr("--profile: %v", err)
		}
		opening.ProfileName, opening.Token = filepath.Base(*profilePath), p.Token.Label
	}
	open, arts, err := opening.Entry()
	if err != nil {
		return badInput(err)
	}
	var policy []byte
	if *witnessPolicy != "" {
		if policy, err = readInput(*witnessPolicy); err != nil {
			return usageErr("--witness-policy: %v", err)
		}
		if _, err := transparency.ParseWitnessPolicy(policy); err != nil {
			return usageErr("--witness-policy %s: %v", *witnessPolicy, err)
		}
	}
	l, err := openLog(ctx, logSpec{dir: dir, keyPath: *keyPath, origin: *origin, resume: resume, open: open, artefacts: arts, witnessPolicy: policy, hooks: h})
	if err != nil {
		return err
	}
	attach(dir)
	closeLog := closer(l)
	defer closeLog()
	cfg.Log, cfg.Resume, cfg.ClockJumps, cfg.Disk = l, resume, true, h.disk
	sess, err := session.Open(ctx, cfg)
	if errors.Is(err, session.ErrClosed) {
		return usageErr("run: %s holds a closed ceremony; a closed log is never reopened: verify it with keyceremony verify %s", dir, dir)
	}
	if err != nil {
		return badInput(fmt.Errorf("run: %s: %w", dir, err))
	}
	if resume {
		fmt.Fprintf(stdout, "resuming the ceremony logged in %s\n", dir)
	} else {
		fmt.Fprintf(stdout, "new log %s · origin %s · key %s\n", dir, l.Origin(), *keyPath)
	}
	final, err := play(ctx, sess, playOptions{plain: *plain, rehearsal: *rehearsal, theme: *theme}, stdin, stdout)
	if errors.Is(err, ui.ErrQuit) {
		fmt.Fprintf(stdout, "\nStopped before the end. The log is safe; the same command resumes at the next step:\n  keyceremony %s\n", strings.Join(append([]string{"run"}, args...), " "))
		return nil
	}
	if err != nil {
		return operational(fmt.Errorf("run: %w", storageHint(err)))
	}
	closeLog()
	cp := l.Latest()
	fmt.Fprintf(stdout, "\nLog folder: %s\n", dir)
	if final.SKR != nil {
		fmt.Fprintf(stdout, "SKR: %s\n", final.SKRPath)
	}
	// The auditor pins the roster that was published before the
	// ceremony, not the copy inside the log.
	pin := ""
	switch {
	case *rosterPath != "":
		pin = " --roster " + *rosterPath
	case script.RosterFile != "":
		pin = " --roster " + filepath.Join(filepath.Dir(*scriptArg), script.RosterFile)
	case script.Quorum != nil:
		pin = " --roster " + *scriptArg
	}
	fmt.Fprintf(stdout, "Final checkpoint: size %d, root %s\nVerify it with: keyceremony verify %s%s\n", cp.Size, dnssec.GroupHex(cp.RootHex()), dir, pin)
	return nil
}

// defaultSKRPath is where the SKR answering a KSR goes: beside it, named as
// IANA names them (ksr-root-2017-q2-0.xml → skr-root-2017-q2-0.xml).
func defaultSKRPath(ksr string) string {
	base := filepath.Base(ksr)
	name := strings.Replace(base, "ksr", "skr", 1)
	if name == base {
		name = "skr-" + base
	}
	return filepath.Join(filepath.Dir(ksr), name)
}

// logSpec says which log to open: a new one (made with the key at keyPath,
// or a key made there) or an existing one to resume.
type logSpec struct {
	dir, keyPath, origin string
	resume               bool
	open                 event.Open
	artefacts            []transparency.Artefact
	// keyName and keyHint word the refusal of a log whose key is missing.
	keyName, keyHint string
	// witnessPolicy, when set, is the tlog-policy whose witnesses cosign
	// each checkpoint.
	witnessPolicy []byte
	// hooks are what a test injects.
	hooks hooks
}

// openLog opens a ceremony's log. A new log uses the key file when it exists
// and makes one when it does not; the key never lies inside the folder.
func openLog(ctx context.Context, spec logSpec) (*transparency.Log, error) {
	if rel, err := filepath.Rel(spec.dir, spec.keyPath); err == nil && !strings.HasPrefix(rel, "..") {
		return nil, usageErr("the log key %s lies inside the log folder %s, which is published; keep it outside", spec.keyPath, spec.dir)
	}
	made := false
	key, err := transparency.LoadKey(spec.keyPath)
	switch {
	case err == nil:
	case spec.resume:
		if spec.keyName == "" {
			spec.keyName, spec.keyHint = "key", "give --log-key"
		}
		return nil, usageErr("%s holds files, but its %s %s cannot be read (%v); %s", spec.dir, spec.keyName, spec.keyPath, err, spec.keyHint)
	case errors.Is(err, os.ErrNotExist):
		skey, _, gerr := transparency.GenerateKey(spec.origin)
		if gerr != nil {
			return nil, operational(gerr)
		}
		if key, err = transparency.ParseKey(skey); err != nil {
			return nil, operational(err)
		}
		if err := transparency.WriteKeyFile(spec.keyPath, skey); err != nil {
			return nil, operational(fmt.Errorf("log key: %w", err))
		}
		made = true
	default:
		return nil, usageErr("log key %s: %v", spec.keyPath, err)
	}
	l, err := transparency.Open(ctx, spec.dir, transparency.Options{Key: key, New: !spec.resume, Open: spec.open, OpenArtefacts: spec.artefacts,
		WitnessPolicy: spec.witnessPolicy, Disk: spec.hooks.disk, AfterDurable: spec.hooks.afterDurable})
	if err != nil {
		if made {
			os.Remove(spec.keyPath)
		}
		return nil, openErr(err)
	}
	return l, nil
}
