// Package session runs a ceremony: it does what the script's steps ask (read
// cards, log in to the HSM, load, check and sign the KSR, write the SKR) and
// records every fact in the log before anyone sees it as done. The state is
// always the engine's fold of the log, so a session opened on an unfinished
// log resumes at its next step. The operator console, the line-by-line mode
// and the unattended rehearsal all drive a Session; none of them touch the
// log, the HSM or the cards directly.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/internal/durable"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// Input is a file given to the ceremony.
type Input struct {
	Name string
	Data []byte
}

// Config is what a session needs: the script, the open log and the devices.
type Config struct {
	Script *ceremony.Script
	Log    *transparency.Log
	// Resume is set when the log existed before: the session logs that the
	// ceremony resumes.
	Resume bool
	Token  hsm.Token
	Cards  quorum.Reader
	KSR    Input
	// More are the further KSRs, and MoreSKRPaths where their SKRs go, of
	// a script that answers more than one, in the order it loads them.
	More         []Input
	MoreSKRPaths []string
	// SKRPath is where the SKR is written.
	SKRPath string
	// Policy is the KSR signing policy; CheckTime the "now" it is checked at
	// (zero: the clock). Historical KSRs need an earlier one.
	Policy    dnssec.CheckPolicy
	CheckTime time.Time
	// Profile says how a KSR is signed, as `ksr sign` does, in a rehearsal
	// as in a ceremony: the profile's schema (Schema, "" for its default)
	// and KSK inventory, the signer-side checks logged with the KSR's, its
	// TTL and KSK policy, and the previous SKR (Previous, optional) for the
	// chain and safety checks. A script that signs needs one.
	Profile  *ceremony.Profile
	Schema   string
	Previous *dnssec.Document
	// ClockJumps logs, as an exception at the current step, a wall clock
	// that moves more than 2 s further or less than the time elapsed between
	// two entries (the commands set it; tests with a fixed clock do not).
	ClockJumps bool
	// Reshare is where a cards.reshare step deals the new officers' cards.
	Reshare ReshareConfig
	// RecoveryDeal is where a key.backup step deals the recovery key share
	// holders' cards; RecoveryCards reads them at a recovery.
	RecoveryDeal  ReshareConfig
	RecoveryCards quorum.Reader
	// TextOptions cut a Knot or BIND text KSR into bundles (nil: the
	// format's defaults).
	TextOptions *dnssec.TextOptions
	// KSRHash1 is the KSR's SHA-256 (hex) that the zone operator sent out
	// of band, when given to the console: a KSR that differs is not
	// loaded, and the one loaded is logged with it.
	KSRHash1 string
	// OnAppend, if set, is called after each entry is durable and applied.
	OnAppend func(a transparency.Appended)
	// Disk is where the SKR and a new roster are written; its zero value
	// is the machine's. Tests inject failing fsyncs and renames through it.
	Disk durable.Disk
}

// Session is a ceremony in progress. It is not safe for concurrent use: the
// console runs one operation at a time.
type Session struct {
	cfg       Config
	state     ceremony.State
	resumed   string // the resume logged at the opening, in words
	collector *quorum.Collector
	// recovery collects the recovery holders' cards; smk is the storage
	// master key they rebuilt, held until the keys are restored.
	recovery *quorum.Collector
	smk      []byte
	backup   *backup.File
	pin      []byte // derived at the quorum, wiped at the HSM login
	ksr      *dnssec.Document
	signed   []dnssec.Bundle
	last     *transparency.Appended
	plan     *Plan
	prevSKR  *dnssec.Document // the SKR the current KSR follows, once read
	// lastWall and lastMono are the wall clock (no monotonic reading) and
	// the monotonic clock at the last entry, for checkClock.
	lastWall, lastMono time.Time
	// secret is the recovered activation secret, kept from the quorum to
	// a cards.reshare step ahead and wiped there.
	secret []byte
	// held are the accepted cards' cosigning keys, until the quorum's
	// checkpoint is cosigned, or the cards read for the final one.
	held map[string]quorum.Cosigner
	// absent are the officers recorded as gone at the final cosignature.
	absent map[string]bool
	// final is who has cosigned the final checkpoint, and who will not.
	final Final
	// inserted and token are what the devices said when last polled.
	inserted map[string]bool
	token    *hsm.TokenInfo
	setup    *Setup
	// auto is the unattended rehearsal's own progress.
	auto autoPlayer
}

// Open starts a session on the log. On a log that already holds entries it
// replays them; if the ceremony is not closed it logs that it resumes.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Script == nil || cfg.Log == nil {
		return nil, errors.New("session: script and log are required")
	}
	if needs := NeedsOf(cfg.Script); (needs.Token && cfg.Token == nil) || (needs.Cards && cfg.Cards == nil) {
		return nil, errors.New("session: the script's actions need a token and card reader")
	}
	logged, err := readEntries(cfg.Log.Dir())
	if err != nil {
		return nil, err
	}
	st, err := ceremony.Replay(cfg.Script, logged)
	if err != nil {
		return nil, fmt.Errorf("replay the log: %w", err)
	}
	s := &Session{cfg: cfg, state: st, setup: &Setup{NewHolders: cfg.Reshare.Holders, RecoveryHolders: cfg.RecoveryDeal.Holders, Origin: cfg.Log.Origin()}}
	if err := s.readBackup(); err != nil {
		return nil, err
	}
	if sr, ok := cfg.Cards.(quorum.SecretReader); ok {
		s.setup.SecretName = sr.SecretName()
	}
	_, s.setup.Simulated = cfg.Cards.(*quorum.Simulated)
	if st.Closed {
		// A console stopped after the close but before every officer
		// present cosigned the final checkpoint: that is what is left.
		s.readFinalCosigned()
		if s.Next() != NextCosign {
			return nil, ErrClosed
		}
		return s, nil
	}
	if s.state.KSR != nil {
		data, err := os.ReadFile(filepath.Join(cfg.Log.Dir(), "artefacts", "sha256", s.state.KSR.SHA256))
		if err != nil {
			return nil, fmt.Errorf("resume: the loaded KSR is not in the log's artefacts: %w", err)
		}
		if s.ksr, err = dnssec.ParseAny(data, cfg.TextOptions); err != nil {
			return nil, fmt.Errorf("resume: the logged KSR: %w", err)
		}
	}
	if cfg.Resume {
		at := "end"
		if cur, ok := st.Current(); ok {
			at = cur.ID
		}
		r := event.Resumed{AtStep: at}
		if st.StoppedAt.IsZero() {
			// No stop was logged: say what the log held then and is gone.
			r.Unclean, r.HSMLost = true, st.HSM
			if len(st.Accepted) > 0 && (!st.HSMUsed || st.HSM || st.NeedActivation) {
				r.CardsLost = slices.Clone(st.Accepted)
			}
		}
		s.resumed = event.Describe(&event.Entry{Event: r})
		if err := s.append(ctx, r); err != nil {
			return nil, err
		}
		// A crash between the last step's done and the close: every step is
		// in the log, and the close is what is left to write.
		if err := s.closeCeremony(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Needs says what a script's actions need besides the log.
type Needs struct {
	Token   bool // an HSM (login, signing, key generation, zeroizing, or a quorum's PIN)
	Cards   bool // a card reader (a quorum of shares)
	KSRs    int  // the KSRs it loads
	Reshare bool // new officers' cards are dealt
	// Backup: the keys are backed up, recovery holders' cards dealt;
	// Recovery: the recovery holders' cards are read.
	Backup, Recovery bool
}

// NeedsOf reads a script's actions.
func NeedsOf(script *ceremony.Script) Needs {
	var n Needs
	for _, st := range script.Steps() {
		if needs := actions[st.Action].needs; needs != nil {
			needs(&n, script)
		}
	}
	return n
}

// readEntries reads the entries of an open log from its folder, verified.
func readEntries(dir string) ([]*event.Entry, error) {
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	if f := rep.FirstFailure(); f != nil {
		return nil, fmt.Errorf("%s: %s: %s", dir, f.ID, f.Detail)
	}
	return rep.Events, nil
}

// ErrClosed: the log holds a closed ceremony; nothing more can be done in it.
var ErrClosed = errors.New("the ceremony in this log is closed")

// SKRPath is where the SKR is written.
func (s *Session) SKRPath() string {
	_, path := s.ksrInput(len(s.state.Answered))
	return path
}

// ksrInput is the i-th KSR the script loads (from 0), and where its SKR
// goes.
func (s *Session) ksrInput(i int) (Input, string) {
	if i == 0 || i > len(s.cfg.More) {
		return s.cfg.KSR, s.cfg.SKRPath
	}
	path := ""
	if i-1 < len(s.cfg.MoreSKRPaths) {
		path = s.cfg.MoreSKRPaths[i-1]
	}
	return s.cfg.More[i-1], path
}

// Log returns the ceremony's log.
func (s *Session) Log() *transparency.Log { return s.cfg.Log }

// State returns the ceremony's state as the log says it is.
func (s *Session) State() ceremony.State { return s.state }

// append checks an entry against the engine, appends it (returning once it is
// durable) and applies it: nothing is logged that the script does not allow.
func (s *Session) append(ctx context.Context, ev event.Event, arts ...event.Artefact) error {
	e := &event.Entry{Seq: s.cfg.Log.Size(), Time: s.cfg.Log.Now().UTC().Truncate(time.Millisecond), Event: ev, Artefacts: arts}
	if _, err := ceremony.Apply(s.state, e); err != nil {
		return err
	}
	a, err := s.cfg.Log.Append(ctx, ev, arts...)
	if err != nil {
		return fmt.Errorf("log %s: %w", ev.Kind(), err)
	}
	// The state follows the bytes logged, read back as any reader will.
	if a.Entry, err = event.Parse(a.Data); err != nil {
		return err
	}
	next, err := ceremony.Apply(s.state, a.Entry)
	if err != nil {
		return err // cannot happen: checked above
	}
	s.state, s.last = next, &a
	if s.cfg.OnAppend != nil {
		s.cfg.OnAppend(a)
	}
	if s.cfg.ClockJumps {
		if err := s.checkClock(ctx, a.Index); err != nil {
			return err
		}
	}
	// Steps that do not apply with the contingencies chosen are passed
	// over in the log at once, and a ceremony whose last steps do not
	// apply closes.
	if cur, ok := s.state.Current(); ok && !s.state.Closed && !cur.Applies(s.state.Chosen) {
		if err := s.append(ctx, event.NotApplicable{Step: cur.ID}); err != nil {
			return err
		}
		return s.closeCeremony(ctx)
	}
	return nil
}

// clockJump is how far the wall clock may move against the time elapsed
// between two entries before the difference is logged.
const clockJump = 2 * time.Second

// checkClock compares how far the log's wall clock moved since the last
// entry with the time that really elapsed (the monotonic clock), and logs a
// jump as an exception at the current step. Entry times never go back
// whatever the clock does (the log keeps them in order); the exception
// says why they may not match the room's clocks.
func (s *Session) checkClock(ctx context.Context, index uint64) error {
	wall, mono := s.cfg.Log.Now().Round(0), time.Now()
	lastWall, lastMono := s.lastWall, s.lastMono
	s.lastWall, s.lastMono = wall, mono
	if lastMono.IsZero() {
		return nil
	}
	drift := wall.Sub(lastWall) - mono.Sub(lastMono)
	if drift <= clockJump && drift >= -clockJump {
		return nil
	}
	cur, ok := s.state.Current()
	if !ok || s.state.Closed {
		return nil
	}
	way := "forward"
	if drift < 0 {
		way, drift = "back", -drift
	}
	return s.append(ctx, event.Exception{Step: cur.ID,
		Text: fmt.Sprintf("the laptop's clock jumped %s by %s after entry %d (the time elapsed says otherwise); the log keeps entry times in order", way, drift.Round(time.Second), index)})
}

// Confirm is the operator's enter key: it starts the current step's action
// if it has one still to do, or else records the step as done (and closes the
// ceremony after the last step).
func (s *Session) Confirm(ctx context.Context) error {
	cur, ok := s.state.Current()
	if !ok {
		return errors.New("every step is done")
	}
	switch s.Next() {
	case NextConfirm:
		return s.done(ctx, cur)
	case NextWitness:
		return fmt.Errorf("step %s: %s confirms it, with their own key", cur.ID, s.NextWitnessRole())
	case NextChoose:
		return fmt.Errorf("step %s: choose the contingencies that apply first (none is a choice)", cur.ID)
	case NextCards:
		return fmt.Errorf("step %s: %d of %d crypto officers' cards so far; present the others first", cur.ID, len(s.state.Accepted), s.cfg.Script.Quorum.Threshold)
	case NextTyped:
		return fmt.Errorf("step %s: type %q to confirm", cur.ID, cur.Confirm)
	case NextSign:
		return s.SignNext(ctx)
	case NextForged:
		return fmt.Errorf("step %s: a forged card bearing %s's name was refused; record an exception (x) first", cur.ID, s.state.Forged)
	case NextCheckFailed:
		return fmt.Errorf("step %s: the KSR failed its checks; record an exception (x) and stop the signing", cur.ID)
	case NextReshare:
		return fmt.Errorf("step %s: each new officer types their card's passphrase first", cur.ID)
	case NextSignIn:
		return fmt.Errorf("step %s: type each participant's name first", cur.ID)
	case NextBackup:
		return fmt.Errorf("step %s: each recovery holder types their new card's passphrase first", cur.ID)
	case NextRecoveryCards:
		return fmt.Errorf("step %s: the recovery holders present their cards first", cur.ID)
	case NextBagOpen, NextBagSeal:
		return fmt.Errorf("step %s: type the bag's serial first", cur.ID)
	case NextTrigger:
		return fmt.Errorf("step %s: %s; take one of the contingencies the script plans for it first", cur.ID, s.view().TriggerWords())
	}
	if s.state.NeedActivation {
		return s.login(ctx, cur)
	}
	if run := actions[cur.Action].run; run != nil {
		return run(s, ctx, cur)
	}
	return fmt.Errorf("step %s: nothing to do", cur.ID)
}

func expectSHA256(st ceremony.Step) string {
	if st.Expect == nil {
		return ""
	}
	return st.Expect.SHA256
}

func (s *Session) loadKSR(ctx context.Context, cur ceremony.Step) error {
	i := len(s.state.Answered)
	if s.state.SKR != nil {
		i++ // the last KSR is answered: this is the next one
	}
	if i > len(s.cfg.More) {
		return fmt.Errorf("step %s loads KSR number %d, but %d were given: give one --ksr per KSR the script loads", cur.ID, i+1, len(s.cfg.More)+1)
	}
	in, _ := s.ksrInput(i)
	if in.Data == nil {
		return fmt.Errorf("step %s loads a KSR, but none was given for it: give one --ksr per KSR the script loads", cur.ID)
	}
	doc, err := dnssec.ParseAny(in.Data, s.cfg.TextOptions)
	if err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	got := dnssec.DigestOf(in.Data).Hex()
	for _, want := range []string{s.cfg.KSRHash1, expectSHA256(cur)} {
		if want != "" && !strings.EqualFold(want, got) {
			return fmt.Errorf("%s has SHA-256 %s, but hash#1 is %s: this is not the KSR the zone operator sent; do not sign it, record an exception", in.Name, got, strings.ToLower(want))
		}
	}
	ref, err := s.cfg.Log.StoreArtefact(in.Name, in.Data)
	if err != nil {
		return err
	}
	ev := event.KSRLoaded{Step: cur.ID, SHA256: ref.SHA256, KSRID: doc.ID, Bundles: len(doc.Bundles()), Domain: doc.Domain,
		ExpectedSHA256: strings.ToLower(s.cfg.KSRHash1)}
	if err := s.append(ctx, ev, ref); err != nil {
		return err
	}
	s.ksr, s.signed, s.plan, s.prevSKR = doc, nil, nil, nil
	return nil
}

func (s *Session) checkKSR(ctx context.Context, cur ceremony.Step) error {
	now := s.checkTime()
	prev, err := s.previous()
	if err != nil {
		return err
	}
	results := dnssec.CheckKSR(s.ksr, s.cfg.Policy, now, prev)
	if s.cfg.Profile != nil && dnssec.Passed(results) {
		plan, res, err := PlanSigning(ctx, s.signRequest())
		results = append(results, res...)
		if err != nil && dnssec.Passed(results) {
			results = append(results, dnssec.Result{ID: "SIGNER-SCHEMA", Status: dnssec.Fail, Detail: err.Error()})
		}
		s.plan = plan
	}
	ev := event.KSRChecked{Step: cur.ID, SHA256: s.state.KSR.SHA256, CheckTime: now.UTC().Format(time.RFC3339)}
	for _, r := range results {
		ev.Results = append(ev.Results, event.CheckResult{ID: r.ID, Status: r.Status, Detail: r.Detail})
	}
	if prev != nil {
		ev.PreviousSKR = prev.ID
	}
	return s.append(ctx, ev)
}

// previous is the SKR the current KSR follows: for the first KSR the one
// given (Config.Previous); for each further KSR of the ceremony the SKR
// just answered, read back from the log's artefacts, so that a ceremony
// signing two quarters checks the second against the first's response.
func (s *Session) previous() (*dnssec.Document, error) {
	if s.prevSKR != nil {
		return s.prevSKR, nil
	}
	n := len(s.state.Answered)
	if n == 0 {
		return s.cfg.Previous, nil
	}
	last := s.state.Answered[n-1].SKR
	data, err := s.cfg.Log.ReadArtefact(last.SHA256)
	if err != nil {
		return nil, fmt.Errorf("the SKR answered before this KSR (%s): %w", last.Name, err)
	}
	doc, err := dnssec.ParseAny(data, nil)
	if err != nil {
		return nil, fmt.Errorf("the SKR answered before this KSR (%s): %w", last.Name, err)
	}
	s.prevSKR = doc
	return doc, nil
}

func (s *Session) checkTime() time.Time {
	if s.cfg.CheckTime.IsZero() {
		return s.cfg.Log.Now()
	}
	return s.cfg.CheckTime
}

func (s *Session) signRequest() SignRequest {
	prev, err := s.previous()
	if err != nil {
		prev = s.cfg.Previous // checkKSR refused the KSR on this error already
	}
	return SignRequest{Profile: s.cfg.Profile, Token: s.cfg.Token, KSR: s.ksr, Previous: prev,
		Schema: s.cfg.Schema, Policy: s.cfg.Policy, Now: s.checkTime()}
}

// signBundle signs bundle i as the profile's schema says: the rehearsal
// and a ceremony sign through the same functions as ksr sign.
func (s *Session) signBundle(ctx context.Context, i int) (dnssec.Bundle, error) {
	if s.cfg.Profile == nil {
		return dnssec.Bundle{}, errors.New("the script signs a KSR, but no profile says how: give --profile")
	}
	if s.plan == nil { // resumed after the checks were logged
		plan, res, err := PlanSigning(ctx, s.signRequest())
		if err != nil {
			for _, r := range res {
				if r.Status == dnssec.Fail {
					return dnssec.Bundle{}, fmt.Errorf("%s: %s", r.ID, r.Detail)
				}
			}
			return dnssec.Bundle{}, err
		}
		s.plan = plan
	}
	return dnssec.SignSlot(s.ksr, i, s.plan.Slots[i], s.plan.KSKs, s.cfg.Profile.TTL)
}

// SignNext signs the next bundle of the KSR and logs it. After a restart it
// first signs again, in memory, the bundles already logged, and checks that
// each signature is the one logged (RSA PKCS #1 v1.5 is deterministic).
func (s *Session) SignNext(ctx context.Context) error {
	cur, _ := s.state.Current()
	if err := s.resign(ctx); err != nil {
		return err
	}
	i := len(s.signed)
	if i >= s.state.KSR.Bundles {
		return errors.New("every bundle is signed")
	}
	b, err := s.signBundle(ctx, i)
	if err != nil {
		return fmt.Errorf("bundle #%d: %w; nothing was logged for it, sign again", i+1, err)
	}
	rb := s.ksr.Request.Bundles[i]
	if err := s.append(ctx, event.BundleSigned{Step: cur.ID, Bundle: i + 1, BundleID: rb.ID,
		KeyTag: int(b.Signatures[0].KeyTag), Inception: rb.Inception.Format(time.RFC3339), Expiration: rb.Expiration.Format(time.RFC3339),
		SigSHA256: sigDigest(b)}); err != nil {
		return err
	}
	s.signed = append(s.signed, b)
	return nil
}

// sigDigest is the SHA-256 of a bundle's signatures, one after another.
func sigDigest(b dnssec.Bundle) string {
	h := sha256.New()
	for _, sig := range b.Signatures {
		raw, _ := base64.StdEncoding.DecodeString(sig.SignatureData)
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Session) writeSKR(ctx context.Context, cur ceremony.Step) error {
	if err := s.resign(ctx); err != nil {
		return err
	}
	// Its timestamp is the last signature's, from the log: written again after
	// a restart, the SKR is the same file.
	skr, results := FinishSKR(s.signRequest(), s.plan, s.signed, s.state.SignedAt)
	for _, r := range results {
		if r.Status == dnssec.Fail {
			return fmt.Errorf("the SKR fails %s: %s; nothing was written: record an exception", r.ID, r.Detail)
		}
	}
	data, err := skr.Marshal()
	if err != nil {
		return err
	}
	// The SKR goes out only if it parses again and every signature verifies.
	again, err := dnssec.ParseAny(data, nil)
	if err != nil {
		return fmt.Errorf("the SKR just made does not parse: %w", err)
	}
	for i, b := range again.Response.Bundles {
		for _, sig := range b.Signatures {
			if err := b.VerifySignature(again.Domain, sig); err != nil {
				return fmt.Errorf("SKR bundle #%d: %w", i+1, err)
			}
		}
	}
	_, skrPath := s.ksrInput(len(s.state.Answered))
	ref, err := s.cfg.Log.StoreArtefact(filepath.Base(skrPath), data)
	if err != nil {
		return err
	}
	if err := s.cfg.Disk.WriteFile(skrPath, data, 0o644, durable.Same); err != nil {
		return fmt.Errorf("write the SKR to %s: %w; try again", skrPath, err)
	}
	return s.append(ctx, event.SKRWritten{Step: cur.ID, SHA256: ref.SHA256, Path: skrPath}, ref)
}

// resign signs again, in memory, bundles logged before a restart, and
// checks that each signature is the one logged (RSA PKCS #1 v1.5 is
// deterministic).
func (s *Session) resign(ctx context.Context) error {
	if len(s.signed) == s.state.Signed {
		return nil
	}
	if !s.cfg.Token.LoggedIn() {
		return errors.New("the HSM must be logged in to rebuild the signed bundles")
	}
	for len(s.signed) < s.state.Signed {
		i := len(s.signed)
		b, err := s.signBundle(ctx, i)
		if err != nil {
			return err
		}
		if sigDigest(b) != s.state.SigDigests[i] {
			return fmt.Errorf("bundle #%d signed again differs from the signature logged before the restart", i+1)
		}
		s.signed = append(s.signed, b)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Stop logs the operator's quitting before the close: an active HSM is
// logged out first, and the entry says so. A closed ceremony, or one not
// yet opened, logs nothing.
func (s *Session) Stop(ctx context.Context) error {
	st := s.state
	if st.Closed || !st.Opened || !st.StoppedAt.IsZero() {
		return nil
	}
	at := "end"
	if cur, ok := st.Current(); ok {
		at = cur.ID
	}
	if st.HSM {
		if err := s.cfg.Token.Logout(ctx); err != nil {
			return fmt.Errorf("log out of token %q before stopping: %w; try again", s.cfg.Token.Label(), err)
		}
	}
	s.wipeRecovery()
	return s.append(ctx, event.Stopped{AtStep: at, HSMLoggedOut: st.HSM})
}
