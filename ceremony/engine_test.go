package ceremony

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// entries builds log entries for engine tests.
type entries struct {
	list []*event.Entry
}

// add appends an entry of the kind with the given fields, decoded as the
// log decodes them.
func (b *entries) add(kind string, fields map[string]any, arts ...event.Artefact) {
	raw, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	ev, err := event.Decode(kind, raw)
	if err != nil {
		panic(fmt.Sprintf("entry %d: %v", len(b.list), err))
	}
	b.list = append(b.list, &event.Entry{Seq: uint64(len(b.list)), Time: time.Date(2026, 11, 28, 14, 0, len(b.list), 0, time.UTC),
		Event: ev, Artefacts: arts})
}

const ksrHash = "ba59909495d5ad643509ac9bc5e7cf0114c50888e9b39288475b6e191588c6ea"

// backupHash is the KSK backup's SHA-256 in the entries happyPath writes.
var backupHash = strings.Repeat("ef", 32)

// happyPath writes the entries of a whole demo ceremony, calling hook (if
// set) before each step's entries so that a test can insert or replace some.
func happyPath(s *Script, hook func(b *entries, st Step) bool) []*event.Entry {
	b := &entries{}
	b.add(event.KindOpen, map[string]any{"script_sha256": s.Digest})
	for _, st := range s.Steps() {
		if hook != nil && hook(b, st) {
			continue
		}
		f := map[string]any{"step": st.ID}
		done := map[string]any{"step": st.ID, "role": st.Role, "witnesses": st.Witnesses}
		with := func(extra map[string]any) map[string]any {
			m := map[string]any{"step": st.ID}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		switch st.Action {
		case ActionSignIn:
			names := map[string]string{}
			for _, r := range s.Roles {
				names[r.ID] = "Person " + r.ID
			}
			b.add(event.KindSignedIn, with(map[string]any{"participants": names}))
		case ActionZeroize:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			b.add(event.KindZeroized, with(map[string]any{"token": "t", "destroyed": []string{"KSK1"}, "remaining": 0}))
		case ActionQuorum:
			for _, c := range []string{"CO1", "CO2", "CO3"} {
				b.add(event.KindCardPresented, with(map[string]any{"card": c}))
			}
			b.add(event.KindQuorumReached, with(map[string]any{"cards": []string{"CO1", "CO2", "CO3"}}))
			b.add(event.KindCosigned, with(map[string]any{"size": len(b.list), "point": "quorum", "cosigners": []string{"CO1", "CO2", "CO3"}}))
		case ActionHSMLogin:
			b.add(event.KindHSMLogin, f)
		case ActionKSRLoad:
			b.add(event.KindKSRLoaded, with(map[string]any{"sha256": ksrHash, "bundles": 2}),
				event.Artefact{Name: "ksr.xml", SHA256: ksrHash, Size: 10})
		case ActionKSRCheck:
			b.add(event.KindKSRChecked, with(map[string]any{"sha256": ksrHash, "results": []event.CheckResult{{ID: "KSR-DOMAIN", Status: "pass"}}}))
		case ActionKSRSign:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			b.add(event.KindBundleSigned, with(map[string]any{"bundle": 1, "bundle_id": "b1", "sig_sha256": strings.Repeat("1", 64)}))
			b.add(event.KindBundleSigned, with(map[string]any{"bundle": 2, "bundle_id": "b2", "sig_sha256": strings.Repeat("2", 64)}))
		case ActionSKRWrite:
			b.add(event.KindSKRWritten, f, event.Artefact{Name: "skr.xml", SHA256: strings.Repeat("ab", 32), Size: 10})
		case ActionHSMLogout:
			b.add(event.KindHSMLogout, f)
		case ActionBackup:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			st0, _ := Replay(s, b.list)
			keys := []event.BackedUpKey{{Label: "KSK1", KeyTag: 19036, DSSHA256: strings.Repeat("49", 32)}}
			for _, k := range st0.Keys {
				keys = append(keys, event.BackedUpKey{Label: k.Label, KeyTag: k.KeyTag, DSSHA256: k.DS})
			}
			b.add(event.KindBackedUp, with(map[string]any{"token": "t", "keys": keys, "backup_sha256": backupHash, "smk_check": "ABC123",
				"threshold": BackupThreshold(st), "holders": []string{"RK1", "RK2", "RK3", "RK4", "RK5", "RK6", "RK7"}, "roster_sha256": strings.Repeat("fe", 32)}),
				event.Artefact{Name: "ksk-backup.json", SHA256: backupHash, Size: 10}, event.Artefact{Name: "recovery-roster.yaml", SHA256: strings.Repeat("fe", 32), Size: 10})
		case ActionRecovery:
			cards := []string{"RK1", "RK2", "RK3", "RK4", "RK5"}
			for _, c := range cards {
				b.add(event.KindRecoveryCard, with(map[string]any{"card": c, "holder": "Holder " + c}))
			}
			b.add(event.KindRecoveryReached, with(map[string]any{"cards": cards, "threshold": 5, "smk_check": "ABC123"}))
		case ActionRestore:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			b.add(event.KindRestored, with(map[string]any{"token": "t", "label": "KSK1", "key_tag": 19036, "ds_sha256": strings.Repeat("49", 32), "backup_sha256": backupHash, "of": 1}))
		case ActionBagOpen:
			b.add(event.KindBagOpened, with(map[string]any{"item": st.Params["item"], "bag": "BAG-" + st.Params["item"] + "-1", "witness": st.Witnesses[0]}))
		case ActionBagSeal:
			b.add(event.KindBagSealed, with(map[string]any{"item": st.Params["item"], "bag": "BAG-" + st.Params["item"] + "-2"}))
		case ActionKeyGen:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			b.add(event.KindKeyGenerated, keyFields(st, nil))
		case ActionReshare:
			b.add(event.KindStepConfirmed, with(map[string]any{"typed": "Yes"}))
			commitment, secret := s.Quorum.Commitments[0], ReshareSecret(st)
			if secret == SecretNew {
				commitment = "bmV3IHNlY3JldA=="
			}
			var old []string
			for _, c := range s.Quorum.Cards {
				old = append(old, c.ID)
			}
			b.add(event.KindCardsReshared, with(map[string]any{"threshold": 3, "cards": []string{"CO8", "CO9", "CO10"}, "revoked": old,
				"commitment": commitment, "roster_sha256": strings.Repeat("cd", 32), "secret": secret}),
				event.Artefact{Name: "roster-2.yaml", SHA256: strings.Repeat("cd", 32), Size: 10})
		}
		for _, w := range st.Witnesses {
			b.add(event.KindStepWitnessed, map[string]any{"step": st.ID, "witness": w})
		}
		b.add(event.KindStepDone, done)
	}
	b.add(event.KindClose, closeFields(s, b.list))
	return b.list
}

// closeFields names every officer of the ceremony so far as present to
// cosign the final checkpoint, as the console does when all are there.
func closeFields(s *Script, list []*event.Entry) map[string]any {
	st, err := Replay(s, list)
	if err != nil || len(st.CosignExpected()) == 0 {
		return nil
	}
	return map[string]any{"cosigners": st.CosignExpected(), "absent": []string{}}
}

// finish writes a step's witnesses' confirmations and its step.done.
func finish(b *entries, st Step) {
	for _, w := range st.Witnesses {
		b.add(event.KindStepWitnessed, map[string]any{"step": st.ID, "witness": w})
	}
	b.add(event.KindStepDone, map[string]any{"step": st.ID, "role": st.Role, "witnesses": st.Witnesses})
}

func TestReplayHappyPath(t *testing.T) {
	s := demoScript(t)
	st, err := Replay(s, happyPath(s, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Closed || st.Next != len(s.Steps()) || st.Signed != 2 || st.HSM || !st.Quorum {
		t.Fatalf("final state: %+v", st)
	}
}

// TestReplayStopAndResume: a logged stop, then a resume, goes on.
func TestReplayStopAndResume(t *testing.T) {
	s := demoScript(t)
	list := happyPath(s, func(b *entries, st Step) bool {
		if st.ID == "1.2" {
			b.add(event.KindStopped, map[string]any{"at_step": st.ID})
			b.add(event.KindResumed, map[string]any{"at_step": st.ID})
		}
		return false
	})
	st, err := Replay(s, list)
	if err != nil || st.Stops != 1 || st.Resumes != 1 || !st.StoppedAt.IsZero() || !st.Closed {
		t.Fatalf("stop and resume: %v, %d stops, %d resumes", err, st.Stops, st.Resumes)
	}
}

func TestReplayRefuses(t *testing.T) {
	s := demoScript(t)
	cases := map[string]func(b *entries, st Step) bool{
		"a step skipped": func(b *entries, st Step) bool { return st.ID == "1.3" },
		"signing before the quorum": func(b *entries, st Step) bool {
			if st.Action == ActionQuorum {
				b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			}
			return false
		},
		"a card accepted twice": func(b *entries, st Step) bool {
			if st.Action == ActionQuorum {
				b.add(event.KindCardPresented, map[string]any{"step": st.ID, "card": "CO1"})
				b.add(event.KindCardPresented, map[string]any{"step": st.ID, "card": "CO1"})
			}
			return false
		},
		"an unknown card accepted": func(b *entries, st Step) bool {
			if st.Action == ActionQuorum {
				b.add(event.KindCardPresented, map[string]any{"step": st.ID, "card": "CO9"})
			}
			return false
		},
		"the HSM used before the quorum": func(b *entries, st Step) bool {
			if st.Action == ActionQuorum {
				b.add(event.KindHSMLogin, map[string]any{"step": st.ID})
			}
			return false
		},
		"signing without the typed Yes": func(b *entries, st Step) bool {
			if st.Action == ActionKSRSign {
				b.add(event.KindBundleSigned, map[string]any{"step": st.ID, "bundle": 1})
			}
			return false
		},
		"a wrong typed confirmation": func(b *entries, st Step) bool {
			if st.Action == ActionKSRSign {
				b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "yes"})
			}
			return false
		},
		"a step confirmed before its action": func(b *entries, st Step) bool {
			if st.Action == ActionHSMLogin {
				b.add(event.KindStepDone, map[string]any{"step": st.ID})
			}
			return false
		},
		"an entry after the close": func(b *entries, st Step) bool { return false },
		"a step done without its witnesses": func(b *entries, st Step) bool {
			if st.ID == "1.1" {
				b.add(event.KindStepDone, map[string]any{"step": st.ID, "role": st.Role})
				return true
			}
			return false
		},
		"a fourth card in a quorum of three": func(b *entries, st Step) bool {
			if st.Action == ActionQuorum {
				for _, c := range []string{"CO4", "CO5", "CO6", "CO7"} {
					b.add(event.KindCardPresented, map[string]any{"step": st.ID, "card": c})
				}
				return true
			}
			return false
		},
		"a check with an unknown status": func(b *entries, st Step) bool {
			if st.Action == ActionKSRCheck {
				b.add(event.KindKSRChecked, map[string]any{"step": st.ID, "sha256": ksrHash, "results": []event.CheckResult{{ID: "KSR-X", Status: "FAILED"}}})
			}
			return false
		},
		"a stop with the HSM active that does not log it out": func(b *entries, st Step) bool {
			if st.Action == ActionKSRLoad {
				b.add(event.KindStopped, map[string]any{"at_step": st.ID})
			}
			return false
		},
		"a stop saying the HSM was logged out when it was not active": func(b *entries, st Step) bool {
			if st.ID == "1.2" {
				b.add(event.KindStopped, map[string]any{"at_step": st.ID, "hsm_logged_out": true})
			}
			return false
		},
		"a step after a stop, with no resume": func(b *entries, st Step) bool {
			if st.ID == "1.2" {
				b.add(event.KindStopped, map[string]any{"at_step": st.ID})
			}
			return false
		},
		"a resume claiming an unlogged stop after a logged one": func(b *entries, st Step) bool {
			if st.ID == "1.2" {
				b.add(event.KindStopped, map[string]any{"at_step": st.ID})
				b.add(event.KindResumed, map[string]any{"at_step": st.ID, "unclean": true})
			}
			return false
		},
		"a resume claiming a lost HSM session that was not active": func(b *entries, st Step) bool {
			if st.ID == "1.2" {
				b.add(event.KindResumed, map[string]any{"at_step": st.ID, "unclean": true, "hsm_lost": true})
			}
			return false
		},
		"a login twice": func(b *entries, st Step) bool {
			if st.Action == ActionHSMLogin {
				b.add(event.KindHSMLogin, map[string]any{"step": st.ID})
			}
			return false
		},
	}
	for name, hook := range cases {
		t.Run(name, func(t *testing.T) {
			list := happyPath(s, hook)
			if name == "an entry after the close" {
				b := &entries{list: list}
				b.add(event.KindStepDone, map[string]any{"step": "5.2", "role": "CA", "witnesses": []string{"IW"}})
				list = b.list
			}
			_, err := Replay(s, list)
			if !errors.Is(err, ErrOutOfScript) {
				t.Fatalf("err = %v, want ErrOutOfScript", err)
			}
			t.Log(err)
		})
	}
}

func TestRejectedCardsAndExceptions(t *testing.T) {
	s := demoScript(t)
	list := happyPath(s, func(b *entries, st Step) bool {
		if st.Action == ActionQuorum {
			b.add(event.KindCardRejected, map[string]any{"step": st.ID, "card": "CO4", "reason": "forged"})
			b.add(event.KindException, map[string]any{"step": st.ID, "text": "CO4's card refused; CO4 steps aside"})
		}
		return false
	})
	st, err := Replay(s, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Exceptions) != 1 || len(st.Cards) != 4 || st.Cards[0].Accepted || st.Cards[0].Reason != "forged" {
		t.Fatalf("cards %+v exceptions %+v", st.Cards, st.Exceptions)
	}
}

// TestPreviousCitation: an opening cites the ceremony it follows whole, or
// not at all.
func TestPreviousCitation(t *testing.T) {
	h := strings.Repeat("ab", 32)
	whole := event.Open{PreviousOrigin: "o", PreviousVKey: "o+1+A", PreviousSize: 9, PreviousRoot: h, PreviousCheckpoint: h}
	if err := checkPreviousCitation(whole); err != nil {
		t.Fatal(err)
	}
	if err := checkPreviousCitation(event.Open{}); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(o *event.Open){
		"no origin":    func(o *event.Open) { o.PreviousOrigin = "" },
		"no size":      func(o *event.Open) { o.PreviousSize = 0 },
		"short root":   func(o *event.Open) { o.PreviousRoot = "ab" },
		"upper-case":   func(o *event.Open) { o.PreviousCheckpoint = strings.ToUpper(h) },
		"bad SKR":      func(o *event.Open) { o.PreviousSKR = "x" },
		"only the SKR": func(o *event.Open) { *o = event.Open{PreviousSKR: h} },
	} {
		o := whole
		change(&o)
		if checkPreviousCitation(o) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRulesCoverEveryKind: the engine has a rule for every kind of entry
// the log format defines, and none for a kind it does not: a kind added to
// the format without its rule would be refused by every replay.
func TestRulesCoverEveryKind(t *testing.T) {
	known := map[string]bool{}
	for _, k := range event.Kinds {
		known[k.Kind] = true
		if rules[k.Kind] == nil {
			t.Errorf("no rule applies %s", k.Kind)
		}
	}
	for kind := range rules {
		if !known[kind] {
			t.Errorf("a rule for %s, which is not a kind of entry", kind)
		}
	}
}
