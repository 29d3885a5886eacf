// Package ceremony holds ceremony scripts as data and the ceremony engine.
//
// A script is a YAML file, read strictly, naming the roles, the crypto
// officers' quorum and the acts of numbered steps, each with its acting role,
// the text read aloud, the roles that witness it and optionally an action
// bound to code. The engine is a pure state machine over log entries:
// Apply(state, entry) gives the next state or says why the entry breaks the
// script. The console's state is the fold of the log, so resuming after a
// crash, verifying a published log and showing it to viewers all run the same
// code. This package does no I/O.
package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/keyceremony/keyceremony/internal/safetext"

	"github.com/keyceremony/keyceremony/hsm/quorum"
	"gopkg.in/yaml.v3"
)

// Actions a step can bind to code.
const (
	ActionQuorum    = "quorum.collect"      // crypto officers present their cards
	ActionHSMLogin  = "hsm.login"           // activate the token with the recovered secret
	ActionKSRLoad   = "ksr.load"            // load the KSR and confirm its hash out of band
	ActionKSRCheck  = "ksr.check"           // run the policy checks
	ActionKSRSign   = "ksr.sign"            // sign every bundle (irreversible)
	ActionSKRWrite  = "skr.write"           // write the SKR
	ActionHSMLogout = "hsm.logout"          // deactivate the token
	ActionKeyGen    = "key.generate"        // generate a KSK in the token (irreversible)
	ActionReshare   = "cards.reshare"       // deal the quorum's secret to new officers' cards (irreversible)
	ActionSignIn    = "participants.signin" // record who is present in each role
	ActionZeroize   = "hsm.zeroize"         // destroy every key in the token (irreversible)
	ActionChoose    = "contingency.choose"  // record which of the script's contingencies apply
	ActionBagOpen   = "custody.open"        // open an item's tamper-evident bag, its serial compared with the register
	ActionBagSeal   = "custody.seal"        // seal an item in a new tamper-evident bag
	ActionBackup    = "key.backup"          // wrap the token's keys under a new storage master key dealt to the recovery holders (irreversible)
	ActionRecovery  = "recovery.collect"    // the recovery key share holders present their cards
	ActionRestore   = "key.restore"         // unwrap the backup on record into the token (irreversible)
)

// What a step can show for people to read aloud (a step's show:).
const (
	ShowLogKey          = "log-key"          // the log key's fingerprint, hex and words
	ShowFirstCheckpoint = "first-checkpoint" // the first checkpoint: size and root, hex and words
)

var knownShows = map[string]bool{ShowLogKey: true, ShowFirstCheckpoint: true}

// Shows reports whether the step shows what.
func (st Step) Shows(what string) bool {
	for _, s := range st.Show {
		if s == what {
			return true
		}
	}
	return false
}

// ksrActions answer one KSR, in this order; a script may answer several
// KSRs, each with the four in turn.
var ksrActions = map[string]bool{ActionKSRLoad: true, ActionKSRCheck: true, ActionKSRSign: true, ActionSKRWrite: true}

// actionParams are the parameters each action takes; an action not listed
// takes none.
var actionParams = map[string]map[string]bool{
	ActionKeyGen:  {"label": true, "algorithm": true, "bits": true},
	ActionReshare: {"threshold": true, "secret": true},
	ActionBagOpen: {"item": true},
	ActionBackup:  {"threshold": true},
	ActionBagSeal: {"item": true},
}

// Values of cards.reshare's secret parameter.
const (
	SecretSame = "same" // the recovered secret, re-dealt (officer replacement); the default
	SecretNew  = "new"  // a fresh secret, and the token's PIN changed to it (provisioning)
)

// ReshareSecret is what a cards.reshare step deals: SecretSame or SecretNew.
func ReshareSecret(st Step) string {
	if st.Params["secret"] == SecretNew {
		return SecretNew
	}
	return SecretSame
}

// irreversible actions need a typed confirmation in the script.
var knownActions = map[string]bool{
	ActionQuorum: false, ActionHSMLogin: false, ActionKSRLoad: false, ActionKSRCheck: false,
	ActionKSRSign: true, ActionSKRWrite: false, ActionHSMLogout: false, ActionKeyGen: true, ActionReshare: true, ActionSignIn: false, ActionZeroize: true, ActionChoose: false,
	ActionBagOpen: false, ActionBagSeal: false, ActionBackup: true, ActionRecovery: false, ActionRestore: true,
}

// Actions are the step actions a script may name, each with whether it is
// irreversible (its step must ask a typed confirmation).
func Actions() map[string]bool { return maps.Clone(knownActions) }

// MaxScriptSize is the largest script (or roster it includes) loaded.
const MaxScriptSize = 1 << 20

// Script is a ceremony script.
type Script struct {
	Ceremony string         `yaml:"ceremony"`
	Zone     string         `yaml:"zone"`
	Roles    []Role         `yaml:"roles"`
	Quorum   *quorum.Roster `yaml:"quorum"`
	// Contingencies are the situations the script plans for; a
	// contingency.choose step records which apply, and steps marked
	// when: or unless: one of them run or are passed over accordingly.
	Contingencies []Contingency `yaml:"contingencies"`
	// Custody are the items the ceremony takes out of, or puts into,
	// tamper-evident bags (custody.open and custody.seal steps).
	Custody []Item `yaml:"custody"`
	Acts    []Act  `yaml:"acts"`
	// AfterClose is what people do once the officers have cosigned the
	// final checkpoint (sealing the cards, stopping the stream): said on
	// the screen and printed, never logged, for the log ends at the close.
	AfterClose []string `yaml:"after_close"`

	// Name is where the script came from (a file name), for messages.
	Name string `yaml:"-"`
	// Digest is the SHA-256 of the script's bytes, hex.
	Digest string `yaml:"-"`
	// Raw are the script's bytes.
	Raw []byte `yaml:"-"`
	// RosterFile is the roster file the script names (quorum: FILE) instead
	// of holding the quorum: block itself, and RosterRaw its bytes: the
	// ceremony logs them beside the script, so the log holds both.
	RosterFile string `yaml:"-"`
	RosterRaw  []byte `yaml:"-"`
	// RosterMissing: the roster file is not there yet (a script checked
	// before the cards are provisioned); Quorum is nil.
	RosterMissing bool `yaml:"-"`
}

// Include reads a file a script names (its roster), from beside the script
// or, for a logged ceremony, from the log's artefacts.
type Include func(name string) ([]byte, error)

// scriptWithRosterFile is a script whose quorum: names a roster file.
type scriptWithRosterFile struct {
	Ceremony      string        `yaml:"ceremony"`
	Zone          string        `yaml:"zone"`
	Roles         []Role        `yaml:"roles"`
	Quorum        string        `yaml:"quorum"`
	Contingencies []Contingency `yaml:"contingencies"`
	Custody       []Item        `yaml:"custody"`
	Acts          []Act         `yaml:"acts"`
	AfterClose    []string      `yaml:"after_close"`
}

var rosterFileRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$`) })

// Role is a participant's role in the ceremony.
type Role struct {
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
}

// Act is a group of steps with a title.
type Act struct {
	Title string `yaml:"title"`
	// Always marks an act that runs even after the ceremony is aborted:
	// securing the equipment and closing the ceremony.
	Always bool   `yaml:"always"`
	Steps  []Step `yaml:"steps"`
}

// Step is one numbered step.
type Step struct {
	ID        string   `yaml:"id"`
	Role      string   `yaml:"role"`
	Text      string   `yaml:"text"`
	Witnesses []string `yaml:"witnesses"`
	Action    string   `yaml:"action"`
	// Confirm is the text the operator must type before an irreversible
	// action ("Yes", as IANA's signer asks).
	Confirm string `yaml:"confirm"`
	// Params are the action's parameters (key.generate: label, algorithm
	// 8 or 13, bits).
	Params map[string]string `yaml:"params"`
	// When and Unless tie the step to a contingency: it runs only if the
	// contingency was chosen (when), or is passed over if it was (unless).
	When   string `yaml:"when"`
	Unless string `yaml:"unless"`
	// Expect is the artefact the step's action must produce, when known in
	// advance: for ksr.load, the KSR's SHA-256 that the zone operator sent
	// out of band (IANA's hash#1).
	Expect *Expect `yaml:"expect"`
	// Show names what the screen shows at the step for people to read
	// aloud: ShowLogKey, ShowFirstCheckpoint.
	Show []string `yaml:"show"`

	Act  int `yaml:"-"` // index of the act
	Line int `yaml:"-"` // line in the script file
}

// Contingency is a situation a script plans for. One chosen at a
// contingency.choose step ties steps to it (when:, unless:); one with a
// Trigger is offered by the console when the log shows its condition, and
// its Then says what taking it does.
type Contingency struct {
	ID   string `yaml:"id"`
	Text string `yaml:"text"`
	// Trigger is the condition, evaluated by the engine from the log:
	// TriggerCustody (a bag not as sealed, or an item out of reach),
	// TriggerQuorumShort (fewer officers signed in than the quorum needs) or
	// TriggerHSMFailure (the HSM refused its activation).
	Trigger string `yaml:"trigger"`
	// Items narrows a custody trigger to these items.
	Items []string `yaml:"items"`
	// Then is ThenAbort (postpone: the ceremony goes to the acts that
	// always run) or ThenContinue (the step goes on, the incident logged).
	Then string `yaml:"then"`
}

// The triggers a contingency can name, and what taking it does.
const (
	TriggerCustody     = "custody.incident"
	TriggerQuorumShort = "quorum.short"
	TriggerHSMFailure  = "hsm.failure"
	ThenAbort          = "abort"
	ThenContinue       = "continue"
)

// Item is a thing in the ceremony's custody: an HSM, a laptop, OS media,
// officers' cards, a safe deposit box. Bag is the serial of the
// tamper-evident bag it is in when no earlier ceremony on record sealed it
// (new equipment as delivered).
type Item struct {
	ID     string `yaml:"id"`
	Kind   string `yaml:"kind"`
	What   string `yaml:"what"`
	Serial string `yaml:"serial"`
	Bag    string `yaml:"bag"`
}

// ItemKinds are the kinds of item a script declares.
var ItemKinds = []string{"hsm", "laptop", "os-media", "cards", "safe-deposit-box", "transfer-media", "other"}

// Item finds a declared item by id.
func (s *Script) Item(id string) (Item, bool) {
	for _, it := range s.Custody {
		if it.ID == id {
			return it, true
		}
	}
	return Item{}, false
}

// eachText calls f with every text of the script that a person reads, and
// where it is.
func (s *Script) eachText(f func(line int, where, text string)) {
	f(1, "ceremony", s.Ceremony)
	f(1, "zone", s.Zone)
	for _, r := range s.Roles {
		f(1, "role "+r.ID, r.ID+" "+r.Title)
	}
	for _, c := range s.Contingencies {
		f(1, "contingency "+c.ID, strings.Join(append([]string{c.ID, c.Text, c.Trigger, c.Then}, c.Items...), " "))
	}
	for _, it := range s.Custody {
		f(1, "custody item "+it.ID, strings.Join([]string{it.ID, it.Kind, it.What, it.Serial, it.Bag}, " "))
	}
	for i, a := range s.Acts {
		f(1, fmt.Sprintf("act %d", i+1), a.Title)
		for _, st := range a.Steps {
			f(st.Line, "step "+st.ID, strings.Join(append([]string{st.ID, st.Role, st.Text, st.Confirm, st.When, st.Unless}, st.Witnesses...), " "))
		}
	}
	for i, t := range s.AfterClose {
		f(1, fmt.Sprintf("after_close line %d", i+1), t)
	}
}

// Applies reports whether a step runs, given the contingencies chosen (nil:
// none chosen yet, so every step runs).
func (st Step) Applies(chosen map[string]bool) bool {
	if st.When != "" && !chosen[st.When] {
		return chosen == nil
	}
	return st.Unless == "" || !chosen[st.Unless]
}

// Expect names an artefact and its SHA-256 (hex), known in advance.
type Expect struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// ErrScript reports a script that does not load or breaks the rules.
var ErrScript = errors.New("invalid ceremony script")

// ScriptError lists every problem found in a script, each as file:line.
type ScriptError struct {
	Problems []string
}

func (e *ScriptError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%s (and %d more problems)", e.Problems[0], len(e.Problems)-1)
}

func (e *ScriptError) Unwrap() error { return ErrScript }

// The script's patterns, compiled on first use rather than at every
// command's start.
var (
	validKeyLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })
	validRSABits  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(2048|3072|4096)$`) })
	stepIDRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([1-9][0-9]*)\.([1-9][0-9]*)$`) })
)

// LoadScript parses and validates a script strictly: unknown or duplicate
// keys are errors, and so is anything the rules below forbid.
func LoadScript(name string, data []byte) (*Script, error) {
	return LoadScriptWith(name, data, nil)
}

// LoadScriptWith is LoadScript for a script whose quorum: may name a roster
// file (as `cards provision` writes it) in the script's folder: include
// reads it. A nil include refuses such a script.
func LoadScriptWith(name string, data []byte, include Include) (*Script, error) {
	if len(data) > MaxScriptSize {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than %d; a ceremony script is a few tens of KB", ErrScript, name, len(data), MaxScriptSize)
	}
	var s Script
	var probe struct {
		Quorum yaml.Node `yaml:"quorum"`
	}
	if err := yaml.Unmarshal(data, &probe); err == nil && probe.Quorum.Kind == yaml.ScalarNode && probe.Quorum.Tag == "!!str" {
		file := probe.Quorum.Value
		at := fmt.Sprintf("%s:%d", name, probe.Quorum.Line)
		if !rosterFileRE().MatchString(file) {
			return nil, &ScriptError{Problems: []string{fmt.Sprintf("%s: quorum: %q: name a roster file (.yaml) in the script's folder", at, file)}}
		}
		if include == nil {
			return nil, &ScriptError{Problems: []string{fmt.Sprintf("%s: quorum: %s: the roster file cannot be read here; give the script as a file beside it", at, file)}}
		}
		raw, err := include(file)
		if len(raw) > MaxScriptSize {
			return nil, &ScriptError{Problems: []string{fmt.Sprintf("%s: quorum: %s: %d bytes, more than %d; a roster is a few KB", at, file, len(raw), MaxScriptSize)}}
		}
		missing := errors.Is(err, fs.ErrNotExist)
		if err != nil && !missing {
			return nil, &ScriptError{Problems: []string{fmt.Sprintf("%s: quorum: %s: %v", at, file, err)}}
		}
		var sf scriptWithRosterFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&sf); err != nil {
			return nil, &ScriptError{Problems: yamlProblems(name, err)}
		}
		var roster *quorum.Roster
		if !missing {
			r, err := quorum.ParseRosterFile(raw)
			switch {
			case errors.Is(err, quorum.ErrNotRoster):
				return nil, &ScriptError{Problems: []string{fmt.Sprintf("%s: %v", file, err)}}
			case err != nil:
				return nil, &ScriptError{Problems: yamlProblems(file, err)}
			}
			roster = r
		}
		s = Script{Ceremony: sf.Ceremony, Zone: sf.Zone, Roles: sf.Roles, Quorum: roster, Contingencies: sf.Contingencies, Custody: sf.Custody, Acts: sf.Acts, AfterClose: sf.AfterClose,
			RosterFile: file, RosterRaw: bytes.Clone(raw), RosterMissing: missing}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			return nil, &ScriptError{Problems: yamlProblems(name, err)}
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		setLines(&s, &root)
	}
	d := sha256.Sum256(data)
	s.Name, s.Digest, s.Raw = name, hex.EncodeToString(d[:]), bytes.Clone(data)
	for ai := range s.Acts {
		for si := range s.Acts[ai].Steps {
			s.Acts[ai].Steps[si].Act = ai
		}
	}
	if probs := s.validate(); len(probs) > 0 {
		return nil, &ScriptError{Problems: probs}
	}
	return &s, nil
}

func yamlProblems(name string, err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []string
		for _, e := range te.Errors {
			out = append(out, fmt.Sprintf("%s:%s", name, strings.TrimPrefix(e, "line ")))
		}
		return out
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		return []string{fmt.Sprintf("%s:%s", name, strings.TrimPrefix(msg, "line "))}
	}
	return []string{fmt.Sprintf("%s: %s", name, msg)}
}

// setLines records each step's line from the YAML node tree.
func setLines(s *Script, root *yaml.Node) {
	if len(root.Content) == 0 {
		return
	}
	acts := mapValue(root.Content[0], "acts")
	if acts == nil {
		return
	}
	for ai, an := range acts.Content {
		if ai >= len(s.Acts) {
			return
		}
		steps := mapValue(an, "steps")
		if steps == nil {
			continue
		}
		for si, sn := range steps.Content {
			if si < len(s.Acts[ai].Steps) {
				s.Acts[ai].Steps[si].Line = sn.Line
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Steps returns every step in order.
func (s *Script) Steps() []Step {
	var out []Step
	for _, a := range s.Acts {
		out = append(out, a.Steps...)
	}
	return out
}

// HasRole reports whether the script declares a role.
func (s *Script) HasRole(id string) bool {
	for _, r := range s.Roles {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Role returns a role's title, or the id itself.
func (s *Script) RoleTitle(id string) string {
	for _, r := range s.Roles {
		if r.ID == id {
			return r.Title
		}
	}
	return id
}

func (s *Script) validate() []string {
	var probs []string
	add := func(line int, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%s:%d: %s", s.Name, line, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(s.Ceremony) == "" {
		add(1, "the script names no ceremony (ceremony:)")
	}
	if strings.TrimSpace(s.Zone) == "" {
		add(1, "the script names no zone (zone:)")
	}
	s.eachText(func(line int, where, text string) {
		// A script is plain text: what it says reaches the room's screen,
		// the viewers' terminals and the transcripts as it is.
		plain := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return r
		}, text)
		if p := safetext.Printable(plain); p != plain {
			add(line, "%s: holds a control, format or invalid character (%s); a script is plain text", where, safetext.Printable(text))
		}
	})
	roles := map[string]bool{}
	for _, r := range s.Roles {
		if r.ID == "" || roles[r.ID] {
			add(1, "role %q is empty or declared twice", r.ID)
		}
		roles[r.ID] = true
	}
	if len(s.Acts) == 0 {
		add(1, "the script has no acts")
	}
	for i, t := range s.AfterClose {
		if strings.TrimSpace(t) == "" {
			add(1, "after_close: line %d is empty", i+1)
		}
	}
	seen := map[string]int{}
	first := map[string]Step{} // first step of each action
	var keygens, provisions, custodySteps []Step
	prevAct, prevNum := 0, 0
	for ai, a := range s.Acts {
		if strings.TrimSpace(a.Title) == "" {
			add(1, "act %d has no title", ai+1)
		}
		if len(a.Steps) == 0 {
			add(1, "act %d (%s) has no steps", ai+1, a.Title)
		}
		for _, st := range a.Steps {
			m := stepIDRE().FindStringSubmatch(st.ID)
			switch {
			case m == nil:
				add(st.Line, "step id %q is not act.step (e.g. 3.2)", st.ID)
			case m[1] != fmt.Sprint(ai+1):
				add(st.Line, "step %s is in act %d; its number must start with %d.", st.ID, ai+1, ai+1)
			default:
				var n int
				fmt.Sscan(m[2], &n)
				if ai+1 == prevAct && n <= prevNum {
					add(st.Line, "step %s comes after step %d.%d; steps are numbered in order", st.ID, prevAct, prevNum)
				}
				prevAct, prevNum = ai+1, n
			}
			if l, dup := seen[st.ID]; dup {
				add(st.Line, "step %s is numbered twice (first at line %d)", st.ID, l)
			}
			seen[st.ID] = st.Line
			if !roles[st.Role] {
				add(st.Line, "step %s: role %q is not declared under roles:", st.ID, st.Role)
			}
			for _, w := range st.Witnesses {
				if !roles[w] {
					add(st.Line, "step %s: witness %q is not declared under roles:", st.ID, w)
				}
				if w == st.Role {
					add(st.Line, "step %s: %s cannot witness its own step", st.ID, w)
				}
			}
			if strings.TrimSpace(st.Text) == "" {
				add(st.Line, "step %s has no text to read aloud", st.ID)
			}
			if st.Action != "" {
				irreversible, ok := knownActions[st.Action]
				switch {
				case !ok:
					add(st.Line, "step %s: unknown action %q", st.ID, st.Action)
				case irreversible && st.Confirm == "":
					add(st.Line, "step %s: action %s is irreversible and needs a typed confirmation (confirm: \"Yes\")", st.ID, st.Action)
				}
				if _, dup := first[st.Action]; dup && st.Action != ActionKeyGen && !ksrActions[st.Action] && st.Action != ActionBagOpen && st.Action != ActionBagSeal {
					add(st.Line, "step %s: action %s appears twice", st.ID, st.Action)
				} else if !dup {
					first[st.Action] = st
				}
			}
			for k := range st.Params {
				if !actionParams[st.Action][k] {
					add(st.Line, "step %s: action %q takes no parameter %q", st.ID, st.Action, k)
				}
			}
			for _, sh := range st.Show {
				if !knownShows[sh] {
					add(st.Line, "step %s: show: %q is not something the screen shows; use %s or %s", st.ID, sh, ShowLogKey, ShowFirstCheckpoint)
				}
			}
			if st.Expect != nil {
				d, err := hex.DecodeString(st.Expect.SHA256)
				switch {
				case st.Action != ActionKSRLoad:
					add(st.Line, "step %s: expect: applies to a ksr.load step (the KSR's hash#1)", st.ID)
				case err != nil || len(d) != 32:
					add(st.Line, "step %s: expect: sha256 must be the 64 hex digits of the KSR's SHA-256", st.ID)
				}
			}
			if st.Action == ActionKeyGen {
				p := st.Params
				if !validKeyLabel().MatchString(p["label"]) {
					add(st.Line, "step %s: key.generate needs params: {label: …}, a plain label such as KSK-2027", st.ID)
				}
				if a := p["algorithm"]; a != "" && a != "8" && a != "13" {
					add(st.Line, "step %s: algorithm %q: want 8 (RSA/SHA-256) or 13 (ECDSA P-256)", st.ID, a)
				}
				if b := p["bits"]; b != "" && (p["algorithm"] == "13" || !validRSABits().MatchString(b)) {
					add(st.Line, "step %s: bits %q: an RSA modulus of 2048, 3072 or 4096 bits (none for algorithm 13)", st.ID, b)
				}
				keygens = append(keygens, st)
			}
			if st.Action == ActionBagOpen || st.Action == ActionBagSeal {
				custodySteps = append(custodySteps, st)
			}
			if st.Action == ActionReshare {
				var n int
				if _, err := fmt.Sscan(st.Params["threshold"], &n); err != nil || n < 1 || fmt.Sprint(n) != st.Params["threshold"] {
					add(st.Line, "step %s: cards.reshare needs params: {threshold: \"N\"}, how many new cards open the HSM", st.ID)
				}
				if s.Quorum.Witnessed() {
					add(st.Line, "step %s: a witnessed quorum holds no shares to deal again; the HSM re-issues its own cards", st.ID)
				}
				if v := st.Params["secret"]; v != "" && v != SecretSame && v != SecretNew {
					add(st.Line, "step %s: secret %q: want same (the officers' secret, re-dealt) or new (a fresh secret; the HSM's PIN changes)", st.ID, v)
				}
				if ReshareSecret(st) == SecretNew {
					provisions = append(provisions, st)
				}
			}
		}
	}
	order := map[string]int{}
	for i, st := range s.Steps() {
		order[st.ID] = i
	}
	// Contingencies: declared once each, chosen in a step before any step
	// that depends on them.
	declared := map[string]bool{}
	for _, c := range s.Contingencies {
		if !validKeyLabel().MatchString(c.ID) || declared[c.ID] || strings.TrimSpace(c.Text) == "" {
			add(1, "contingency %q: give each a plain id, used once, and its text", c.ID)
		}
		declared[c.ID] = true
	}
	probs = append(probs, s.validateCustody(custodySteps)...)
	choose, hasChoose := first[ActionChoose]
	if slices.ContainsFunc(s.Contingencies, func(c Contingency) bool { return c.Trigger == "" }) && !hasChoose {
		add(1, "the script declares contingencies but has no contingency.choose step to record which apply")
	}
	for _, st := range s.Steps() {
		for _, ref := range []string{st.When, st.Unless} {
			switch {
			case ref == "":
			case !declared[ref]:
				add(st.Line, "step %s: contingency %q is not declared under contingencies:", st.ID, ref)
			case !hasChoose || order[choose.ID] >= order[st.ID]:
				add(st.Line, "step %s depends on contingency %s, which is chosen only later (or never)", st.ID, ref)
			}
		}
		if st.When != "" && st.Unless != "" {
			add(st.Line, "step %s: give when: or unless:, not both", st.ID)
		}
		if (st.When != "" || st.Unless != "") && st.Action != "" {
			add(st.Line, "step %s: a step with an action (%s) runs in every case; tie only plain steps to a contingency", st.ID, st.Action)
		}
	}
	// KSRs answered one after another: load, check, sign, write.
	seq := []string{ActionKSRLoad, ActionKSRCheck, ActionKSRSign, ActionSKRWrite}
	at := 0
	for _, st := range s.Steps() {
		if !ksrActions[st.Action] {
			continue
		}
		if st.Action == ActionKSRLoad && at != 0 && at != len(seq) {
			add(st.Line, "step %s loads a KSR before the last one is answered (%s comes first)", st.ID, seq[at])
		}
		if st.Action == ActionKSRLoad {
			at = 0
		}
		if at < len(seq) && st.Action == seq[at] {
			at++
		} else if st.Action != ActionKSRLoad && at > 0 {
			add(st.Line, "step %s (%s) is out of order: a KSR is loaded, checked, signed and written, in that order", st.ID, st.Action)
		}
	}
	// A new card set changes the HSM's PIN: between its login and logout.
	for _, st := range provisions {
		login, ok := first[ActionHSMLogin]
		if !ok || order[login.ID] > order[st.ID] {
			add(st.Line, "step %s (cards.reshare, secret: new) changes the HSM's PIN: it needs an hsm.login step before it", st.ID)
		}
		if out, ok := first[ActionHSMLogout]; ok && order[out.ID] < order[st.ID] {
			add(st.Line, "step %s (cards.reshare, secret: new) comes after the HSM is logged out (step %s)", st.ID, out.ID)
		}
		for _, later := range s.Steps()[order[st.ID]+1:] {
			if later.Action == ActionHSMLogin {
				add(later.Line, "step %s (hsm.login) follows step %s, whose new card set changes the HSM's PIN: this ceremony's roster no longer opens it", later.ID, st.ID)
			}
		}
	}
	// Every key generation between the HSM's login and its logout.
	for _, kg := range keygens {
		login, ok := first[ActionHSMLogin]
		if !ok || order[login.ID] > order[kg.ID] {
			add(kg.Line, "step %s (key.generate) needs an hsm.login step before it", kg.ID)
		}
		if out, ok := first[ActionHSMLogout]; ok && order[out.ID] < order[kg.ID] {
			add(kg.Line, "step %s (key.generate) comes after the HSM is logged out (step %s)", kg.ID, out.ID)
		}
	}
	// Actions that need others before them.
	// (optional: only their order is checked when both are there).
	before := []struct {
		earlier, later string
		optional       bool
	}{
		{ActionQuorum, ActionHSMLogin, false}, {ActionHSMLogin, ActionKSRSign, false}, {ActionKSRLoad, ActionKSRCheck, false},
		{ActionKSRCheck, ActionKSRSign, false}, {ActionKSRSign, ActionSKRWrite, false}, {ActionHSMLogin, ActionHSMLogout, false},
		{ActionKSRSign, ActionHSMLogout, true}, {ActionQuorum, ActionReshare, false}, {ActionHSMLogin, ActionZeroize, false},
		{ActionZeroize, ActionHSMLogout, true},
		{ActionHSMLogin, ActionBackup, false}, {ActionBackup, ActionHSMLogout, true}, {ActionRecovery, ActionRestore, false},
		{ActionHSMLogin, ActionRestore, false}, {ActionRestore, ActionHSMLogout, true}, {ActionRestore, ActionKSRSign, true},
	}
	if st, ok := first[ActionRecovery]; ok {
		if _, restores := first[ActionRestore]; !restores {
			add(st.Line, "step %s collects the recovery holders' cards, but no key.restore step uses them", st.ID)
		}
	}
	if st, ok := first[ActionBackup]; ok {
		var n int
		if t := st.Params["threshold"]; t != "" {
			if _, err := fmt.Sscan(t, &n); err != nil || n < 2 || fmt.Sprint(n) != t {
				add(st.Line, "step %s: key.backup: threshold %q: how many recovery holders' cards rebuild the storage master key, 2 or more (default 5)", st.ID, t)
			}
		}
		for _, kg := range keygens {
			if order[kg.ID] > order[st.ID] {
				add(st.Line, "step %s backs the keys up before step %s generates one: back up after key generation", st.ID, kg.ID)
			}
		}
	}
	for _, b := range before {
		later, ok := first[b.later]
		if !ok {
			continue
		}
		earlier, ok := first[b.earlier]
		if !ok && !b.optional {
			add(later.Line, "step %s (%s) needs a %s step before it", later.ID, b.later, b.earlier)
		} else if ok && order[earlier.ID] > order[later.ID] {
			add(later.Line, "step %s (%s) comes before step %s (%s)", later.ID, b.later, earlier.ID, b.earlier)
		}
	}
	if st, ok := first[ActionQuorum]; ok {
		if s.Quorum == nil && !s.RosterMissing {
			add(st.Line, "step %s collects the quorum, but the script has no quorum: roster", st.ID)
		}
		if s.Quorum.Witnessed() && len(st.Witnesses) == 0 {
			add(st.Line, "step %s collects a witnessed quorum: name the witness who confirms each card the HSM accepts", st.ID)
		}
	}
	if s.Quorum != nil {
		if err := s.Quorum.Validate(); err != nil {
			add(1, "quorum: %v", err)
		}
		for _, c := range s.Quorum.Cards {
			if !roles[c.ID] {
				add(1, "quorum card %s: role %s is not declared under roles:", c.ID, c.ID)
			}
		}
	}
	return probs
}

var bagSerialRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{2,31}$`) })

// ValidBag reports whether s reads as a tamper-evident bag's serial:
// letters, digits and dashes, 3 to 32 of them.
func ValidBag(s string) bool { return bagSerialRE().MatchString(s) }

// validateCustody checks the items, the steps that open and seal them, and
// the contingencies with triggers.
func (s *Script) validateCustody(steps []Step) []string {
	var probs []string
	add := func(line int, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%s:%d: %s", s.Name, line, fmt.Sprintf(format, args...)))
	}
	items := map[string]bool{}
	for _, it := range s.Custody {
		switch {
		case !validKeyLabel().MatchString(it.ID) || items[it.ID]:
			add(1, "custody item %q: give each a plain id, used once", it.ID)
		case !slices.Contains(ItemKinds, it.Kind):
			add(1, "custody item %s: kind %q: want one of %s", it.ID, it.Kind, strings.Join(ItemKinds, ", "))
		case strings.TrimSpace(it.What) == "":
			add(1, "custody item %s: say what it is (what: …), as the room hears it", it.ID)
		case it.Bag != "" && !ValidBag(it.Bag):
			add(1, "custody item %s: bag %q: a bag's serial is 3 to 32 letters, digits and dashes", it.ID, it.Bag)
		}
		items[it.ID] = true
	}
	opened, sealed := map[string]Step{}, map[string]Step{}
	for _, st := range steps {
		id := st.Params["item"]
		if !items[id] {
			add(st.Line, "step %s: %s needs params: {item: …}, an item declared under custody:", st.ID, st.Action)
			continue
		}
		seen := opened
		if st.Action == ActionBagSeal {
			seen = sealed
		}
		if first, dup := seen[id]; dup {
			add(st.Line, "step %s: %s of %s again (first at step %s): a ceremony opens and seals each item once", st.ID, st.Action, id, first.ID)
		}
		seen[id] = st
		if st.Action == ActionBagOpen && len(st.Witnesses) == 0 {
			add(st.Line, "step %s: custody.open needs a witness, who confirms the bag's condition", st.ID)
		}
		if st.Action == ActionBagSeal {
			if _, ok := opened[id]; !ok {
				if i := slices.IndexFunc(steps, func(x Step) bool { return x.Action == ActionBagOpen && x.Params["item"] == id }); i >= 0 {
					add(st.Line, "step %s seals %s before step %s opens it", st.ID, id, steps[i].ID)
				}
			}
		}
	}
	triggered := map[string]bool{}
	for _, c := range s.Contingencies {
		switch c.Trigger {
		case "":
			if c.Then != "" || len(c.Items) > 0 {
				add(1, "contingency %s: then: and items: go with a trigger:", c.ID)
			}
			continue
		case TriggerCustody, TriggerQuorumShort, TriggerHSMFailure:
		default:
			add(1, "contingency %s: trigger %q: want %s, %s or %s", c.ID, c.Trigger, TriggerCustody, TriggerQuorumShort, TriggerHSMFailure)
		}
		triggered[c.ID] = true
		if c.Then != ThenAbort && c.Then != ThenContinue {
			add(1, "contingency %s: then %q: want %s (postpone: the ceremony goes to the acts that always run) or %s", c.ID, c.Then, ThenAbort, ThenContinue)
		}
		for _, it := range c.Items {
			if !items[it] || c.Trigger != TriggerCustody {
				add(1, "contingency %s: items: %q: name items declared under custody:, for a %s trigger", c.ID, it, TriggerCustody)
			}
		}
		if c.Trigger == TriggerQuorumShort && (s.Quorum == nil && !s.RosterMissing || !slices.ContainsFunc(s.Steps(), func(st Step) bool { return st.Action == ActionSignIn })) {
			add(1, "contingency %s: %s is judged at the sign-in (participants.signin) against the quorum", c.ID, TriggerQuorumShort)
		}
	}
	for _, st := range s.Steps() {
		for _, ref := range []string{st.When, st.Unless} {
			if triggered[ref] {
				add(st.Line, "step %s: contingency %s is taken by its trigger, not chosen: tie steps only to contingencies without one", st.ID, ref)
			}
		}
	}
	for _, st := range steps {
		if id := st.Params["item"]; st.Action == ActionBagOpen && items[id] && len(s.Planned(TriggerCustody, id)) == 0 {
			add(st.Line, "step %s opens %s's bag, but no contingency plans for a custody incident with it (trigger: %s)", st.ID, id, TriggerCustody)
		}
	}
	return probs
}

// Planned are the contingencies the script plans for a trigger (for a
// custody incident, with the item).
func (s *Script) Planned(trigger, item string) []Contingency {
	var out []Contingency
	for _, c := range s.Contingencies {
		if c.Trigger == trigger && (len(c.Items) == 0 || slices.Contains(c.Items, item)) {
			out = append(out, c)
		}
	}
	return out
}
