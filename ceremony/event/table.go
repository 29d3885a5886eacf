package event

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// KindInfo is what the log knows of one kind of entry: how to decode it,
// how to describe it to people, and whether it marks a deviation from the
// script. The console, the line-by-line mode, the viewer, the transcript
// and the web page all describe entries from this table.
type KindInfo struct {
	Kind string
	// Describe are the ways an entry of the kind is described in one line,
	// tried in order (see Variant).
	Describe []Variant
	// Deviation: the ceremony goes on, but not as the script planned
	// (shown with a warning mark).
	Deviation bool
	decode    func(fields []byte) (Event, error)
	fast      *fastType // nil: only decode reads the kind
}

// def is the table row of kind type T.
func def[T Event](deviation bool, describe ...Variant) KindInfo {
	var zero T
	return KindInfo{Kind: zero.Kind(), Describe: describe, Deviation: deviation, fast: newFastType(reflect.TypeFor[T]()), decode: func(fields []byte) (Event, error) {
		var v T
		if err := strictUnmarshal(fields, &v); err != nil {
			return nil, err
		}
		return v, nil
	}}
}

// v is a variant: its text, shown when every condition holds.
func v(text string, conditions ...string) Variant { return Variant{If: conditions, Text: text} }

// Kinds is every kind of entry, in the order a ceremony usually writes them.
var Kinds = []KindInfo{
	def[Open](false, v("log opened: {ceremony}; it follows the ceremony logged as {previous_origin}, whose final checkpoint (size {previous_size}) it cites", "previous_origin"),
		v("log opened: {ceremony}")),
	def[Resumed](false,
		v("ceremony resumed at step {at_step} after an unlogged stop: the HSM's session and the cards {cards_lost|join} are gone; the officers present their cards again", "hsm_lost", "cards_lost"),
		v("ceremony resumed at step {at_step} after an unlogged stop: the HSM's session is gone; the officers present their cards again", "hsm_lost"),
		v("ceremony resumed at step {at_step} after an unlogged stop: the cards {cards_lost|join} are gone; the officers present them again", "cards_lost"),
		v("ceremony resumed at step {at_step} after an unlogged stop", "unclean"),
		v("ceremony resumed at step {at_step}")),
	def[Stopped](true,
		v("console STOPPED at step {at_step}; the HSM was logged out first", "hsm_logged_out"),
		v("console STOPPED at step {at_step}")),
	def[SignedIn](false,
		v("{participants|count} participants signed in; absent: {absent|join}", "absent"),
		v("{participants|count} participants signed in")),
	def[ContingencyChosen](false,
		v("contingencies chosen: {chosen|join}", "chosen"),
		v("contingencies chosen: none applies")),
	def[StepWitnessed](false, v("{witness} confirms step {step}")),
	def[StepConfirmed](false, v("step {step} confirmed: {typed|quote} typed")),
	def[StepDone](false, v("step {step} done")),
	def[Exception](true, v("EXCEPTION at step {step}: {text}")),
	def[StepSkipped](true, v("step {step} SKIPPED, confirmed by {witness}: {reason}")),
	def[StepRepeated](true, v("step {repeat} REPEATED, confirmed by {witness}: {reason}")),
	def[NotApplicable](true, v("step {step} does not apply with the contingencies chosen")),
	def[Aborted](true, v("ceremony ABORTED at step {step}: {reason}")),
	def[CardPresented](false, v("card {card} ({holder}) accepted")),
	def[CardRejected](false,
		v("card {card} ({holder}) REJECTED: {reason}", "holder"),
		v("card {card} REJECTED: {reason}")),
	def[CardWitnessed](false, v("card {card} ({holder}) accepted by the HSM, serial {serial}, confirmed by {witness}")),
	def[QuorumReached](false, v("quorum reached: {cards|join}")),
	def[QuorumExpired](true, v("partial quorum EXPIRED after {timeout}: {cards|join} present again")),
	def[Cosigned](false, v("checkpoint {size} cosigned by the officers {cosigners|join}")),
	def[HSMLogin](false, v("HSM logged in (token {token})")),
	def[HSMLoginFailed](true, v("HSM login REFUSED (token {token}): {reason}")),
	def[HSMLogout](false, v("HSM logged out (token {token})")),
	def[KeyGenerated](false, v("KSK {label} generated: algorithm {algorithm}, key tag {key_tag} ({key_tag_revoked} with REVOKE), DS {ds_sha256}")),
	def[CardsReshared](false,
		v("new card set {cards|join} ({threshold} of {cards|count}) with a new secret; the HSM's PIN changed; revoked {revoked|join}", "secret==new"),
		v("new cards {cards|join} ({threshold} of {cards|count}) dealt from the same secret; revoked {revoked|join}")),
	def[Zeroized](false, v("HSM {token} ZEROIZED: {destroyed|count} keys destroyed ({destroyed|join}), none left")),
	def[KSRLoaded](false, v("KSR loaded: {artefacts|names}, {bundles} bundles")),
	def[KSRChecked](false,
		v("KSR checked: {results|where:status:fail|count} of {results|count} checks FAILED", "results|where:status:fail"),
		v("KSR checked: {results|count} checks passed, {results|where:status:warn|count} of them with a warning", "results|where:status:warn"),
		v("KSR checked: {results|count} checks passed")),
	def[BundleSigned](false, v("bundle {bundle} signed (key {key_tag}, {inception} to {expiration})")),
	def[SKRWritten](false, v("SKR written: {artefacts|names}")),
	def[BagOpened](false,
		v("{item}: bag {bag} opened, the serial on record, intact as {witness} confirms", "expected"),
		v("{item}: bag {bag} opened, first recorded here, intact as {witness} confirms")),
	def[BagSealed](false, v("{item} sealed in bag {bag}")),
	def[Incident](true,
		v("CUSTODY INCIDENT at step {step}: {item} could not be reached (bag on record {expected}), as {witness} confirms", "what==unreachable"),
		v("CUSTODY INCIDENT at step {step}: {item}'s bag {bag} is NOT INTACT, as {witness} confirms", "what==not intact"),
		v("CUSTODY INCIDENT at step {step}: {item}'s bag reads {bag}, not {expected} as sealed, as {witness} confirms")),
	def[Invoked](true,
		v("contingency {contingency} taken at step {step} for {trigger}, confirmed by {witness}: {reason}; the ceremony is aborted", "then==abort"),
		v("contingency {contingency} taken at step {step} for {trigger}, confirmed by {witness}: {reason}")),
	def[BackedUp](false,
		v("token {token}'s keys backed up (count: {keys|count}) under a new storage master key (check value {smk_check}), dealt to the recovery holders {holders|join} ({threshold} of {holders|count}); kept out, not extractable: {kept|join}", "kept"),
		v("token {token}'s keys backed up (count: {keys|count}) under a new storage master key (check value {smk_check}), dealt to the recovery holders {holders|join} ({threshold} of {holders|count})")),
	def[RecoveryCard](false, v("recovery card {card} ({holder}) accepted")),
	def[RecoveryRefused](false,
		v("recovery cards DROPPED after card {card}: {reason}", "reset"),
		v("recovery card {card} REJECTED: {reason}")),
	def[RecoveryReached](false, v("recovery quorum reached: {cards|join}; the storage master key rebuilt (check value {smk_check})")),
	def[Restored](false, v("KSK {label} restored into token {token} from the backup: key tag {key_tag}, DS {ds_sha256}")),
	def[Close](false,
		v("ceremony closed; the officers here to cosign its final checkpoint: {cosigners|none}; absent: {absent|join}", "absent"),
		v("ceremony closed; the officers here to cosign its final checkpoint: {cosigners|none}", "cosigners"),
		v("ceremony closed")),
}

// byKind finds a kind's row.
var byKind = func() map[string]*KindInfo {
	m := make(map[string]*KindInfo, len(Kinds))
	for i := range Kinds {
		k := &Kinds[i]
		if _, dup := m[k.Kind]; dup {
			panic("event: kind " + k.Kind + " defined twice")
		}
		m[k.Kind] = k
	}
	return m
}()

// Info returns the table row of a kind.
func Info(kind string) (KindInfo, bool) {
	k, ok := byKind[kind]
	if !ok {
		return KindInfo{}, false
	}
	return *k, true
}

// DescriptionsJSON is the description table as the web page reads it:
// {"kind": [{"if": [...], "text": "..."}, ...], ...}.
func DescriptionsJSON() []byte {
	m := make(map[string][]Variant, len(Kinds))
	for _, k := range Kinds {
		m[k.Kind] = k.Describe
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("event: the description table does not marshal: %v", err))
	}
	return b
}

// Decode reads what an entry of a kind records from its fields, given as
// one JSON object, as strictly as Parse does.
func Decode(kind string, fields []byte) (Event, error) {
	k, ok := byKind[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	ev, err := k.decode(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEntry, kind, err)
	}
	return ev, nil
}
