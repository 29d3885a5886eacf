package event

import "reflect"

// Event is what an entry records: a value of one of the types below, one per
// kind. Each type's JSON tags are the entry's field names; a field that is
// optional is tagged omitempty.
type Event interface {
	// Kind is the entry's kind, e.g. step.done.
	Kind() string
	isEvent()
}

// The kinds, in the order a ceremony usually writes them.
const (
	KindOpen            = "ceremony.open"
	KindResumed         = "ceremony.resumed"
	KindStopped         = "ceremony.stopped"
	KindSignedIn        = "participants.signed_in"
	KindChosen          = "contingency.chosen"
	KindStepWitnessed   = "step.witnessed"
	KindStepConfirmed   = "step.confirmed"
	KindStepDone        = "step.done"
	KindException       = "step.exception"
	KindStepSkipped     = "step.skipped"
	KindStepRepeated    = "step.repeated"
	KindNotApplicable   = "step.not_applicable"
	KindAborted         = "ceremony.aborted"
	KindCardPresented   = "card.presented"
	KindCardRejected    = "card.rejected"
	KindCardWitnessed   = "card.witnessed"
	KindQuorumReached   = "quorum.reached"
	KindQuorumExpired   = "quorum.expired"
	KindCosigned        = "log.cosigned"
	KindHSMLogin        = "hsm.login"
	KindHSMLoginFailed  = "hsm.login_failed"
	KindHSMLogout       = "hsm.logout"
	KindKeyGenerated    = "key.generated"
	KindCardsReshared   = "cards.reshared"
	KindZeroized        = "hsm.zeroized"
	KindKSRLoaded       = "ksr.loaded"
	KindKSRChecked      = "ksr.checked"
	KindBundleSigned    = "bundle.signed"
	KindSKRWritten      = "skr.written"
	KindClose           = "ceremony.close"
	KindBagOpened       = "custody.opened"
	KindBagSealed       = "custody.sealed"
	KindIncident        = "custody.incident"
	KindInvoked         = "contingency.invoked"
	KindBackedUp        = "key.backed_up"
	KindRecoveryCard    = "recovery.card_presented"
	KindRecoveryRefused = "recovery.card_rejected"
	KindRecoveryReached = "recovery.reached"
	KindRestored        = "key.restored"
)

// Open starts a log: entry 0. The log writes Origin and LogVKey; the
// ceremony the rest. It cites the script (and its roster, and the profile)
// as artefacts.
type Open struct {
	Origin        string            `json:"origin"`
	LogVKey       string            `json:"log_vkey"`
	Ceremony      string            `json:"ceremony,omitempty"`
	Zone          string            `json:"zone,omitempty"`
	ScriptSHA256  string            `json:"script_sha256,omitempty"`
	Tool          string            `json:"tool,omitempty"`
	Rehearsal     bool              `json:"rehearsal,omitempty"`
	OfficerKeys   map[string]string `json:"officer_keys,omitempty"` // card id → cosignature/v1 verifier key
	ProfileSHA256 string            `json:"profile_sha256,omitempty"`
	// QuorumThreshold is how many officers' cards activate the HSM, for
	// viewers from the opening on.
	QuorumThreshold int    `json:"quorum_threshold,omitempty"`
	Token           string `json:"token,omitempty"`
	// AnchorKey is the SHA-256 (hex) of the public key that will anchor
	// this log's checkpoints in Rekor, announced at the opening: an anchor
	// by any other key counts for nothing.
	AnchorKey string `json:"anchor_key,omitempty"`
	// The ceremony this one follows (run --previous-log), cited by its
	// final checkpoint: the previous log's origin, its verifier key, the
	// checkpoint's size and root (hex), and the SHA-256 of that checkpoint
	// as it was published, with the officers' cosignatures, which is an
	// artefact of this log. PreviousSKR is the SHA-256 of the SKR the
	// previous ceremony wrote, if it wrote one: the chain this ceremony's
	// safety checks continue.
	PreviousOrigin     string `json:"previous_origin,omitempty"`
	PreviousVKey       string `json:"previous_vkey,omitempty"`
	PreviousSize       uint64 `json:"previous_size,omitempty"`
	PreviousRoot       string `json:"previous_root,omitempty"`
	PreviousCheckpoint string `json:"previous_checkpoint,omitempty"`
	PreviousSKR        string `json:"previous_skr,omitempty"`
	// Custody is the register of sealed items at the opening: each item's
	// id and the serial of the tamper-evident bag it was sealed in, as the
	// previous ceremony left it (or, for an item no ceremony sealed yet,
	// as the script records it). Each bag opened is compared with it.
	Custody map[string]string `json:"custody,omitempty"`
	// Backup is the SHA-256 of the KSK backup on record, carried over from
	// the previous ceremony: an artefact of this log, the one a recovery
	// restores from.
	Backup string `json:"backup,omitempty"`
}

// Resumed: the console started again on an unfinished log. After a stop
// that was not logged (a crash, a power cut), it records what the log
// says was held then and is gone now: an active HSM session, the cards of a
// quorum. The officers present their cards again to re-establish them.
type Resumed struct {
	AtStep string `json:"at_step"` // the step it resumes at, or "end"
	// Unclean: no stop entry came before; the console stopped unlogged.
	Unclean bool `json:"unclean,omitempty"`
	// HSMLost: the HSM was active when the console stopped unlogged.
	HSMLost bool `json:"hsm_lost,omitempty"`
	// CardsLost are the cards a quorum held then, to present again.
	CardsLost []string `json:"cards_lost,omitempty"`
}

// Stopped: the console was stopped on purpose (quit) before the close, at
// a step. An HSM active then was logged out first (HSMLoggedOut); the same
// command resumes the ceremony.
type Stopped struct {
	AtStep       string `json:"at_step"` // the current step, or "end"
	HSMLoggedOut bool   `json:"hsm_logged_out,omitempty"`
}

// SignedIn records who is present, by role; a role left out is absent.
type SignedIn struct {
	Step         string            `json:"step"`
	Participants map[string]string `json:"participants"` // role → name
	Absent       []string          `json:"absent"`
}

// ContingencyChosen records which of the script's contingencies apply
// (none is a choice).
type ContingencyChosen struct {
	Step   string   `json:"step"`
	Chosen []string `json:"chosen"`
}

// StepWitnessed: one of the step's witnesses confirms it, with their own key.
type StepWitnessed struct {
	Step    string `json:"step"`
	Witness string `json:"witness"`
}

// StepConfirmed is the typed confirmation of an irreversible action.
type StepConfirmed struct {
	Step  string `json:"step"`
	Typed string `json:"typed"`
}

// StepDone: the step's acting role did it, its witnesses saw it.
type StepDone struct {
	Step      string   `json:"step"`
	Role      string   `json:"role"`
	Witnesses []string `json:"witnesses"`
}

// Exception is a deviation recorded at a step; the step stays open.
type Exception struct {
	Step string `json:"step"`
	Text string `json:"text"`
}

// StepSkipped: a step passed over, with the reason and a witness's
// confirmation.
type StepSkipped struct {
	Step    string `json:"step"`
	Reason  string `json:"reason"`
	Witness string `json:"witness"`
}

// StepRepeated: the step just done (Repeat) is done again, recorded at the
// current step.
type StepRepeated struct {
	Step    string `json:"step"`
	Repeat  string `json:"repeat"`
	Reason  string `json:"reason"`
	Witness string `json:"witness"`
}

// NotApplicable: a step passed over because of the contingencies chosen.
type NotApplicable struct {
	Step string `json:"step"`
}

// Aborted: the ceremony goes straight to its acts that always run.
type Aborted struct {
	Step   string `json:"step"`
	Reason string `json:"reason"`
}

// CardPresented: an officer's card was checked against the roster and
// accepted into the quorum.
type CardPresented struct {
	Step   string `json:"step"`
	Card   string `json:"card"`
	Holder string `json:"holder"`
}

// CardRejected: a card was refused, by name, with the reason.
type CardRejected struct {
	Step   string `json:"step"`
	Card   string `json:"card"`
	Reason string `json:"reason"`
	// Holder is the name the roster gives the card's id: the officer a
	// forged or refused card claimed to be.
	Holder string `json:"holder,omitempty"`
}

// CardWitnessed: in a witnessed quorum, the HSM accepted a card and a
// witness confirms it.
type CardWitnessed struct {
	Step    string `json:"step"`
	Card    string `json:"card"`
	Holder  string `json:"holder"`
	Serial  string `json:"serial"`
	Witness string `json:"witness"`
}

// QuorumReached: the threshold of cards was accepted.
type QuorumReached struct {
	Step      string   `json:"step"`
	Cards     []string `json:"cards"`
	Threshold int      `json:"threshold"`
}

// QuorumExpired: a partial quorum timed out; the officers start again.
type QuorumExpired struct {
	Step    string   `json:"step"`
	Cards   []string `json:"cards"`
	Timeout string   `json:"timeout"`
}

// Cosigned: the officers of the quorum cosigned the checkpoint (of Size)
// that records it.
type Cosigned struct {
	Step      string   `json:"step"`
	Size      uint64   `json:"size"`
	Point     string   `json:"point"`
	Cosigners []string `json:"cosigners"`
}

// HSMLogin: the token was logged in with the PIN the quorum derived.
type HSMLogin struct {
	Step   string   `json:"step"`
	Token  string   `json:"token"`
	Serial string   `json:"serial,omitempty"`
	Flags  []string `json:"flags,omitempty"` // the token's PIN warnings at login
}

// HSMLoginFailed: the token refused the PIN derived from the cards.
type HSMLoginFailed struct {
	Step   string `json:"step"`
	Token  string `json:"token"`
	Reason string `json:"reason"`
}

// HSMLogout: the token was logged out.
type HSMLogout struct {
	Step  string `json:"step"`
	Token string `json:"token"`
}

// KeyGenerated: a KSK made in the token, with its DNSKEY, key tags and DS.
// It cites the DNSKEY and DS records and the trust anchor.
type KeyGenerated struct {
	Step          string `json:"step"`
	Label         string `json:"label"`
	Algorithm     int    `json:"algorithm"`
	KeyTag        int    `json:"key_tag"`
	KeyTagRevoked int    `json:"key_tag_revoked"`
	DSSHA256      string `json:"ds_sha256"`
	DNSKEY        string `json:"dnskey"`
	// Sensitive and Extractable are the private key's attributes, for
	// tokens that tell.
	Sensitive   *bool `json:"sensitive,omitempty"`
	Extractable *bool `json:"extractable,omitempty"`
}

// CardsReshared: the quorum's secret (Secret "same") or a new one ("new")
// dealt to new officers' cards, every old card revoked. It cites the new
// roster.
type CardsReshared struct {
	Step         string   `json:"step"`
	Threshold    int      `json:"threshold"`
	Cards        []string `json:"cards"`
	Revoked      []string `json:"revoked"`
	Commitment   string   `json:"commitment"`
	RosterSHA256 string   `json:"roster_sha256"`
	Secret       string   `json:"secret"`
}

// Zeroized: every key of the token destroyed, and the token read back.
type Zeroized struct {
	Step      string   `json:"step"`
	Token     string   `json:"token"`
	Destroyed []string `json:"destroyed"`
	Remaining int      `json:"remaining"`
}

// KSRLoaded: a KSR read from the transfer medium. It cites the KSR.
type KSRLoaded struct {
	Step    string `json:"step"`
	SHA256  string `json:"sha256"`
	KSRID   string `json:"ksr_id"`
	Bundles int    `json:"bundles"`
	Domain  string `json:"domain"`
	// ExpectedSHA256 is hash#1, the KSR's SHA-256 the zone operator sent
	// out of band, when it was given to the console.
	ExpectedSHA256 string `json:"expected_sha256,omitempty"`
}

// KSRChecked: the KSR's policy checks and their results.
type KSRChecked struct {
	Step        string        `json:"step"`
	SHA256      string        `json:"sha256"`
	CheckTime   string        `json:"check_time"`
	Results     []CheckResult `json:"results"`
	PreviousSKR string        `json:"previous_skr,omitempty"`
}

// CheckResult is one policy check's result as logged.
type CheckResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pass, warn or fail
	Detail string `json:"detail,omitempty"`
}

// BundleSigned: one bundle of the KSR signed; its signatures' SHA-256.
type BundleSigned struct {
	Step       string `json:"step"`
	Bundle     int    `json:"bundle"` // from 1
	BundleID   string `json:"bundle_id"`
	KeyTag     int    `json:"key_tag"`
	Inception  string `json:"inception"`
	Expiration string `json:"expiration"`
	SigSHA256  string `json:"sig_sha256"`
}

// SKRWritten: the SKR assembled, verified and written. It cites the SKR.
type SKRWritten struct {
	Step   string `json:"step"`
	SHA256 string `json:"sha256"`
	Path   string `json:"path"`
}

// BagOpened: an item's tamper-evident bag was opened. Its serial, as read
// aloud and typed, is the one on record (Expected; none for an item first
// seen here, whose serial was then typed twice), and the witness saw it
// intact.
type BagOpened struct {
	Step     string `json:"step"`
	Item     string `json:"item"`
	Bag      string `json:"bag"`
	Expected string `json:"expected,omitempty"`
	Witness  string `json:"witness"`
}

// BagSealed: an item sealed in a new tamper-evident bag, its serial typed
// twice.
type BagSealed struct {
	Step string `json:"step"`
	Item string `json:"item"`
	Bag  string `json:"bag"`
}

// Incident: a bag to open was not as sealed: its serial differs from the
// one on record (typed twice alike), the witness found it not intact, or
// the item could not be reached (a safe that will not open). The step
// stops until a planned contingency is invoked.
type Incident struct {
	Step     string `json:"step"`
	Item     string `json:"item"`
	Expected string `json:"expected,omitempty"`
	Bag      string `json:"bag,omitempty"` // the serial read, "" if unreachable
	// What is "serial differs", "not intact" or "unreachable".
	What    string `json:"what"`
	Witness string `json:"witness"`
}

// Invoked: one of the script's contingencies, planned for the trigger the
// log shows (a custody incident, too few officers signed in), taken at a
// step, with what happened and the witness's confirmation. A contingency
// whose plan is to postpone aborts the ceremony.
type Invoked struct {
	Step        string `json:"step"`
	Contingency string `json:"contingency"`
	Trigger     string `json:"trigger"`
	Reason      string `json:"reason"`
	Witness     string `json:"witness"`
	Then        string `json:"then"` // "abort" or "continue", as the script plans
}

// BackedUpKey is one key of a backup, as the log names it.
type BackedUpKey struct {
	Label    string `json:"label"`
	KeyTag   int    `json:"key_tag"`
	DSSHA256 string `json:"ds_sha256"`
}

// BackedUp: every key of the token wrapped under a new storage master key,
// which was dealt to the recovery key share holders' cards (Threshold of
// Holders) and wiped. It cites the backup file and the holders' roster.
type BackedUp struct {
	Step         string        `json:"step"`
	Token        string        `json:"token"`
	Keys         []BackedUpKey `json:"keys"`
	BackupSHA256 string        `json:"backup_sha256"`
	SMKCheck     string        `json:"smk_check"`
	Threshold    int           `json:"threshold"`
	Holders      []string      `json:"holders"`
	RosterSHA256 string        `json:"roster_sha256"`
	// Kept are the keys of the token that are not in the backup: made
	// never to leave it (not backup-capable).
	Kept []string `json:"kept,omitempty"`
}

// RecoveryCard: a recovery key share holder's card was checked against the
// backup's roster and accepted.
type RecoveryCard struct {
	Step   string `json:"step"`
	Card   string `json:"card"`
	Holder string `json:"holder"`
}

// RecoveryRefused: a card offered to the recovery quorum was refused; with
// Reset, the cards accepted so far rebuilt a key that is not the backup's
// and are all dropped (Card is the last one).
type RecoveryRefused struct {
	Step   string `json:"step"`
	Card   string `json:"card"`
	Reason string `json:"reason"`
	Reset  bool   `json:"reset,omitempty"`
}

// RecoveryReached: the recovery holders' threshold was reached and the
// storage master key rebuilt, its check value the backup's.
type RecoveryReached struct {
	Step      string   `json:"step"`
	Cards     []string `json:"cards"`
	Threshold int      `json:"threshold"`
	SMKCheck  string   `json:"smk_check"`
}

// Restored: a key of the backup on record unwrapped into the token, its
// halves checked to be one pair, its key tag and DS the inventory's.
type Restored struct {
	Step         string `json:"step"`
	Token        string `json:"token"`
	Label        string `json:"label"`
	KeyTag       int    `json:"key_tag"`
	DSSHA256     string `json:"ds_sha256"`
	BackupSHA256 string `json:"backup_sha256"`
	// Of is how many keys the backup holds: the step is done when each is
	// restored.
	Of          int   `json:"of"`
	Sensitive   *bool `json:"sensitive,omitempty"`
	Extractable *bool `json:"extractable,omitempty"`
}

// Close ends the ceremony: the exceptions and resumes it had, and the
// officers present to cosign the final checkpoint (Cosigners) and absent.
type Close struct {
	Exceptions int      `json:"exceptions"`
	Resumes    int      `json:"resumes"`
	Cosigners  []string `json:"cosigners,omitempty"`
	Absent     []string `json:"absent,omitempty"`
}

func (Open) Kind() string              { return KindOpen }
func (Resumed) Kind() string           { return KindResumed }
func (Stopped) Kind() string           { return KindStopped }
func (SignedIn) Kind() string          { return KindSignedIn }
func (ContingencyChosen) Kind() string { return KindChosen }
func (StepWitnessed) Kind() string     { return KindStepWitnessed }
func (StepConfirmed) Kind() string     { return KindStepConfirmed }
func (StepDone) Kind() string          { return KindStepDone }
func (Exception) Kind() string         { return KindException }
func (StepSkipped) Kind() string       { return KindStepSkipped }
func (StepRepeated) Kind() string      { return KindStepRepeated }
func (NotApplicable) Kind() string     { return KindNotApplicable }
func (Aborted) Kind() string           { return KindAborted }
func (CardPresented) Kind() string     { return KindCardPresented }
func (CardRejected) Kind() string      { return KindCardRejected }
func (CardWitnessed) Kind() string     { return KindCardWitnessed }
func (QuorumReached) Kind() string     { return KindQuorumReached }
func (QuorumExpired) Kind() string     { return KindQuorumExpired }
func (Cosigned) Kind() string          { return KindCosigned }
func (HSMLogin) Kind() string          { return KindHSMLogin }
func (HSMLoginFailed) Kind() string    { return KindHSMLoginFailed }
func (HSMLogout) Kind() string         { return KindHSMLogout }
func (KeyGenerated) Kind() string      { return KindKeyGenerated }
func (CardsReshared) Kind() string     { return KindCardsReshared }
func (Zeroized) Kind() string          { return KindZeroized }
func (KSRLoaded) Kind() string         { return KindKSRLoaded }
func (KSRChecked) Kind() string        { return KindKSRChecked }
func (BundleSigned) Kind() string      { return KindBundleSigned }
func (SKRWritten) Kind() string        { return KindSKRWritten }
func (Close) Kind() string             { return KindClose }
func (BagOpened) Kind() string         { return KindBagOpened }
func (BagSealed) Kind() string         { return KindBagSealed }
func (Incident) Kind() string          { return KindIncident }
func (Invoked) Kind() string           { return KindInvoked }
func (BackedUp) Kind() string          { return KindBackedUp }
func (RecoveryCard) Kind() string      { return KindRecoveryCard }
func (RecoveryRefused) Kind() string   { return KindRecoveryRefused }
func (RecoveryReached) Kind() string   { return KindRecoveryReached }
func (Restored) Kind() string          { return KindRestored }

func (Open) isEvent()              {}
func (Resumed) isEvent()           {}
func (Stopped) isEvent()           {}
func (SignedIn) isEvent()          {}
func (ContingencyChosen) isEvent() {}
func (StepWitnessed) isEvent()     {}
func (StepConfirmed) isEvent()     {}
func (StepDone) isEvent()          {}
func (Exception) isEvent()         {}
func (StepSkipped) isEvent()       {}
func (StepRepeated) isEvent()      {}
func (NotApplicable) isEvent()     {}
func (Aborted) isEvent()           {}
func (CardPresented) isEvent()     {}
func (CardRejected) isEvent()      {}
func (CardWitnessed) isEvent()     {}
func (QuorumReached) isEvent()     {}
func (QuorumExpired) isEvent()     {}
func (Cosigned) isEvent()          {}
func (HSMLogin) isEvent()          {}
func (HSMLoginFailed) isEvent()    {}
func (HSMLogout) isEvent()         {}
func (KeyGenerated) isEvent()      {}
func (CardsReshared) isEvent()     {}
func (Zeroized) isEvent()          {}
func (KSRLoaded) isEvent()         {}
func (KSRChecked) isEvent()        {}
func (BundleSigned) isEvent()      {}
func (SKRWritten) isEvent()        {}
func (Close) isEvent()             {}
func (BagOpened) isEvent()         {}
func (BagSealed) isEvent()         {}
func (Incident) isEvent()          {}
func (Invoked) isEvent()           {}
func (BackedUp) isEvent()          {}
func (RecoveryCard) isEvent()      {}
func (RecoveryRefused) isEvent()   {}
func (RecoveryReached) isEvent()   {}
func (Restored) isEvent()          {}

// StepOf is the script step an entry records something at: its kind's
// step field, or "" for the kinds that belong to no step (the open, a
// resume, the close).
func StepOf(ev Event) string {
	v := reflect.ValueOf(ev)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	if f, ok := v.Type().FieldByName("Step"); ok && f.Type.Kind() == reflect.String && f.Tag.Get("json") == "step" {
		return v.FieldByIndex(f.Index).String()
	}
	return ""
}
