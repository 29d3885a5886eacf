package ceremony

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
)

func shippedScript(t *testing.T, name string) *Script {
	t.Helper()
	raw, _ := scripts.Get(name)
	s, err := LoadScriptWith(name+".yaml", raw, func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withBackup opens a log with a KSK backup on record, cited.
func withBackup(s *Script, list []*event.Entry, sha string) []*event.Entry {
	open := list[0].Event.(event.Open)
	open.Backup = sha
	list[0].Event = open
	list[0].Artefacts = append(list[0].Artefacts, event.Artefact{Name: "ksk-backup.json", SHA256: sha, Size: 10})
	reclose(s, list)
	return list
}

// TestRecoveryReplay: the recovery script restores the backup on record
// after the recovery holders' quorum; a key restored from another backup,
// before the quorum, or readable outside the HSM, a crypto officer's card
// among the recovery cards, or a quorum other than the cards accepted, is
// out of script.
func TestRecoveryReplay(t *testing.T) {
	s := shippedScript(t, "recovery")
	st, err := Replay(s, withBackup(s, happyPath(s, nil), backupHash))
	if err != nil || !st.Closed || !st.Recovery.Reached || len(st.Restored) != 1 || st.Backup != backupHash {
		t.Fatalf("a recovery: %v (%+v)", err, st.Recovery)
	}
	at := func(id string, f func(b *entries, st Step)) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.ID != id {
				return false
			}
			f(b, st)
			return true
		}
	}
	restored := func(fields map[string]any) func(b *entries, st Step) {
		return func(b *entries, st Step) {
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			m := map[string]any{"step": st.ID, "token": "t", "label": "KSK1", "key_tag": 19036, "ds_sha256": strings.Repeat("49", 32), "backup_sha256": backupHash, "of": 1}
			for k, v := range fields {
				m[k] = v
			}
			b.add(event.KindRestored, m)
		}
	}
	for name, c := range map[string]struct {
		hook   func(b *entries, st Step) bool
		backup string
		want   string
	}{
		"no backup on record": {nil, "", "but the backup on record is"},
		"another backup":      {at("3.2", restored(map[string]any{"backup_sha256": strings.Repeat("aa", 32)})), backupHash, "but the backup on record is"},
		"readable outside":    {at("3.2", restored(map[string]any{"extractable": true})), backupHash, "restored readable outside the HSM"},
		"before the quorum":   {at("3.1", func(b *entries, st Step) { finish(b, st) }), backupHash, "witnessed before its action is done"},
		"an officer's card": {at("3.1", func(b *entries, st Step) {
			b.add(event.KindRecoveryCard, map[string]any{"step": "3.1", "card": "CO1", "holder": "x"})
		}), backupHash, "is a crypto officer's, not a recovery holder's"},
		"a quorum misstated": {at("3.1", func(b *entries, st Step) {
			b.add(event.KindRecoveryCard, map[string]any{"step": "3.1", "card": "RK1", "holder": "x"})
			b.add(event.KindRecoveryReached, map[string]any{"step": "3.1", "cards": []string{"RK1", "RK2"}, "threshold": 2, "smk_check": "ABC123"})
		}), backupHash, "were accepted"},
	} {
		t.Run(name, func(t *testing.T) {
			list := happyPath(s, c.hook)
			if c.backup != "" {
				list = withBackup(s, list, c.backup)
			}
			if _, err := Replay(s, list); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestBackupReplay: a key generation backs up every key it generated, to
// recovery holders who are not crypto officers, citing the backup and the
// holders' roster; the backup becomes the one on record.
func TestBackupReplay(t *testing.T) {
	s := shippedScript(t, "keygen")
	st, err := Replay(s, happyPath(s, nil))
	if err != nil || st.BackedUp == nil || st.Backup != backupHash {
		t.Fatalf("a key generation with its backup: %v", err)
	}
	backup := func(fields map[string]any, arts ...event.Artefact) func(b *entries, st Step) bool {
		return func(b *entries, st Step) bool {
			if st.Action != ActionBackup {
				return false
			}
			b.add(event.KindStepConfirmed, map[string]any{"step": st.ID, "typed": "Yes"})
			m := map[string]any{"step": st.ID, "token": "t", "keys": []event.BackedUpKey{{Label: "KSK-NEW", KeyTag: 5017, DSSHA256: "f40facfd24ebf0ba0665356b13a568631bb46d01d7c079d65cecd4286057b2f0"}},
				"backup_sha256": backupHash, "smk_check": "ABC123", "threshold": 5, "holders": []string{"RK1", "RK2", "RK3", "RK4", "RK5", "RK6", "RK7"}, "roster_sha256": strings.Repeat("fe", 32)}
			for k, v := range fields {
				m[k] = v
			}
			if arts == nil {
				arts = []event.Artefact{{Name: "ksk-backup.json", SHA256: backupHash, Size: 10}, {Name: "r.yaml", SHA256: strings.Repeat("fe", 32), Size: 10}}
			}
			b.add(event.KindBackedUp, m, arts...)
			finish(b, st)
			return true
		}
	}
	for name, c := range map[string]struct {
		hook func(b *entries, st Step) bool
		want string
	}{
		"the new key left out":      {backup(map[string]any{"keys": []event.BackedUpKey{{Label: "KSK1", KeyTag: 1, DSSHA256: strings.Repeat("1", 64)}}}), "KSK KSK-NEW, generated at step 4.1, is not in the backup"},
		"an officer as a holder":    {backup(map[string]any{"holders": []string{"RK1", "RK2", "RK3", "RK4", "CO2"}}), "is a crypto officer's card"},
		"fewer holders than needed": {backup(map[string]any{"holders": []string{"RK1", "RK2"}}), "2 recovery holders for a threshold of 5"},
		"another threshold":         {backup(map[string]any{"threshold": 3}), "but the step says 5"},
		"the backup not cited":      {backup(nil, event.Artefact{Name: "r.yaml", SHA256: strings.Repeat("fe", 32), Size: 10}), "does not cite the backup file"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Replay(s, happyPath(s, c.hook)); !errors.Is(err, ErrOutOfScript) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestRecoveryAfterStop: a stop while the recovery cards come in, or after
// some keys are restored, loses the shares and the rebuilt key: the cards
// in so far are forgotten and the holders present theirs again.
func TestRecoveryAfterStop(t *testing.T) {
	s := shippedScript(t, "recovery")
	// A stop logs the HSM out; after the resume the officers activate it
	// again.
	stopResume := func(b *entries, step string) {
		b.add(event.KindStopped, map[string]any{"at_step": step, "hsm_logged_out": true})
		b.add(event.KindResumed, map[string]any{"at_step": step})
		for _, c := range []string{"CO1", "CO2", "CO3"} {
			b.add(event.KindCardPresented, map[string]any{"step": step, "card": c})
		}
		b.add(event.KindQuorumReached, map[string]any{"step": step, "cards": []string{"CO1", "CO2", "CO3"}})
		b.add(event.KindCosigned, map[string]any{"step": step, "size": len(b.list), "point": "quorum", "cosigners": []string{"CO1", "CO2", "CO3"}})
		b.add(event.KindHSMLogin, map[string]any{"step": step})
	}
	cards := []string{"RK1", "RK2", "RK3", "RK4", "RK5"}
	present := func(b *entries, step string) {
		for _, c := range cards {
			b.add(event.KindRecoveryCard, map[string]any{"step": step, "card": c, "holder": "H"})
		}
		b.add(event.KindRecoveryReached, map[string]any{"step": step, "cards": cards, "threshold": 5, "smk_check": "ABC123"})
	}
	list := happyPath(s, func(b *entries, st Step) bool {
		if st.ID != "3.1" {
			return false
		}
		b.add(event.KindRecoveryCard, map[string]any{"step": "3.1", "card": "RK1", "holder": "H"})
		b.add(event.KindRecoveryCard, map[string]any{"step": "3.1", "card": "RK2", "holder": "H"})
		stopResume(b, "3.1")
		present(b, "3.1") // RK1 and RK2 again, with the others
		finish(b, st)
		return true
	})
	if st, err := Replay(s, withBackup(s, list, backupHash)); err != nil || !st.Closed {
		t.Fatalf("cards again after a stop: %v", err)
	}
	// Two keys in the backup; a stop after the first is restored.
	list = happyPath(s, func(b *entries, st Step) bool {
		if st.ID != "3.2" {
			return false
		}
		b.add(event.KindStepConfirmed, map[string]any{"step": "3.2", "typed": "Yes"})
		restored := func(label string, tag int) {
			b.add(event.KindRestored, map[string]any{"step": "3.2", "token": "t", "label": label, "key_tag": tag, "ds_sha256": strings.Repeat("49", 32), "backup_sha256": backupHash, "of": 2})
		}
		restored("KSK1", 19036)
		stopResume(b, "3.2")
		present(b, "3.2")
		restored("KSK2", 20326)
		finish(b, st)
		return true
	})
	if st, err := Replay(s, withBackup(s, list, backupHash)); err != nil || !st.Closed || len(st.Restored) != 2 {
		t.Fatalf("the second key after a stop: %v", err)
	}
}
