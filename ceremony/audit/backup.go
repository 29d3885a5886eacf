package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm/backup"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/transparency"
)

// CheckBackup checks a log's KSK backup entries against the backup file
// they cite: what the log says was backed up, rebuilt and restored is what
// the file holds.
const CheckBackup = "ceremony.backup"

// checkBackup holds the log's backup, recovery and restore entries to the
// backup on record: the keys backed up are the file's, with their key tags
// and DS; the recovery holders' roster is the file's, and the threshold and
// cards of the recovery quorum are its; the check values are the file's;
// every key restored is one of the file's, by key tag and DS, and the
// count restored is the file's.
func checkBackup(fsys fs.FS, rep *transparency.Report) {
	c, err := ReadCeremony(fsys, rep)
	if err != nil || c.State.Backup == "" {
		return
	}
	st := c.State
	if st.BackedUp == nil && !st.Recovery.Reached && len(st.Restored) == 0 {
		return
	}
	fail := func(format string, args ...any) {
		rep.Checks = append(rep.Checks, transparency.Check{ID: CheckBackup, Detail: fmt.Sprintf(format, args...)})
		rep.OK = false
	}
	data, err := readBounded(fsys, "artefacts/sha256/"+st.Backup, backup.MaxSize)
	if err != nil {
		fail("the KSK backup on record (%.16s…): %v", st.Backup, err)
		return
	}
	b, err := backup.Parse(data)
	if err != nil {
		fail("the KSK backup on record (%.16s…): %v", st.Backup, err)
		return
	}
	roster, err := quorum.ParseRosterFile([]byte(b.Roster))
	if err != nil {
		fail("the KSK backup on record: its recovery holders' roster: %v", err)
		return
	}
	// Each key of the file, as its DNSKEY in the zone makes it known.
	type known struct {
		tag int
		ds  string
	}
	keys := map[string]known{}
	for _, k := range b.Keys {
		pub, _ := k.PublicKey() // ParseBackup read each
		dk, err := dnssec.NewDNSKEY(c.Script.Zone, pub, dnssec.FlagZone|dnssec.FlagSEP, 0)
		if err != nil {
			fail("the KSK backup on record: key %s: %v", k.Label, err)
			return
		}
		tag, _ := dnssec.KeyTags(dk)
		keys[k.Label] = known{int(tag), strings.ToLower(dnssec.DS(dk).Digest)}
	}
	var ids []string
	for _, card := range roster.Cards {
		ids = append(ids, card.ID)
	}
	if bu := st.BackedUp; bu != nil {
		rs := sha256.Sum256([]byte(b.Roster))
		switch {
		case bu.SMKCheck != b.SMKCheck:
			fail("key.backed_up says check value %s, the backup file %s", bu.SMKCheck, b.SMKCheck)
			return
		case bu.RosterSHA256 != hex.EncodeToString(rs[:]):
			fail("key.backed_up cites a recovery holders' roster that is not the one in the backup file")
			return
		case bu.Threshold != roster.Threshold || !slices.Equal(bu.Holders, ids):
			fail("key.backed_up deals %d of %v, but the backup file's roster says %d of %v", bu.Threshold, bu.Holders, roster.Threshold, ids)
			return
		case len(bu.Keys) != len(b.Keys):
			fail("key.backed_up names %d keys, the backup file holds %d", len(bu.Keys), len(b.Keys))
			return
		}
		for _, k := range bu.Keys {
			if f, ok := keys[k.Label]; !ok || f.tag != k.KeyTag || f.ds != k.DSSHA256 {
				fail("key.backed_up names KSK %s (key tag %d), which the backup file does not hold as such", k.Label, k.KeyTag)
				return
			}
		}
	}
	if r := st.Recovery; r.Reached {
		if r.SMKCheck != b.SMKCheck {
			fail("recovery.reached says check value %s, the backup file %s", r.SMKCheck, b.SMKCheck)
			return
		}
		if len(r.Cards) < roster.Threshold {
			fail("recovery.reached with %d cards; the backup's roster needs %d", len(r.Cards), roster.Threshold)
			return
		}
		for _, id := range r.Cards {
			if info, ok := roster.Card(id); !ok || info.Revoked {
				fail("recovery.reached counts card %s, which is not one of the backup's recovery holders", id)
				return
			}
		}
	}
	for _, r := range st.Restored {
		f, ok := keys[r.Label]
		switch {
		case r.Of != len(b.Keys):
			fail("key.restored says the backup holds %d keys; it holds %d", r.Of, len(b.Keys))
			return
		case !ok || f.tag != r.KeyTag || f.ds != r.DSSHA256:
			fail("key.restored names KSK %s (key tag %d), which the backup file does not hold as such", r.Label, r.KeyTag)
			return
		}
	}
	what := []string{}
	if st.BackedUp != nil {
		what = append(what, fmt.Sprintf("%d keys backed up", len(st.BackedUp.Keys)))
	}
	if st.Recovery.Reached {
		what = append(what, fmt.Sprintf("the recovery quorum (%d cards, %d needed)", len(st.Recovery.Cards), roster.Threshold))
	}
	if len(st.Restored) > 0 {
		what = append(what, fmt.Sprintf("%d keys restored", len(st.Restored)))
	}
	rep.Checks = append(rep.Checks, transparency.Check{ID: CheckBackup, OK: true,
		Detail: fmt.Sprintf("%s: as the backup file on record (%.16s…) holds them", strings.Join(what, ", "), st.Backup)})
}
