package audit

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/words"
	"github.com/keyceremony/keyceremony/transparency"
)

// Ids of the checks VerifyHistory adds between consecutive ceremonies.
const (
	// CheckHistoryLink: a ceremony cites its predecessor's final
	// checkpoint, as that log published it.
	CheckHistoryLink = "history.link"
	// CheckHistorySKR: it continues the SKR chain from the SKR its
	// predecessor wrote.
	CheckHistorySKR = "history.skr"
	// CheckHistoryCustody: it opens with the custody register its
	// predecessor ended with, so every bag it opens is the bag sealed
	// last.
	CheckHistoryCustody = "history.custody"
	// CheckHistoryBackup: it carries over the KSK backup on record, the
	// one its predecessor made or carried.
	CheckHistoryBackup = "history.backup"
	// CheckHistoryInventory: every KSK its profile's inventory names was
	// held, generated or restored earlier in the chain.
	CheckHistoryInventory = "history.inventory"
)

// History is what VerifyHistory found: each ceremony's own report, in
// order, and the checks between consecutive ones.
type History struct {
	Names   []string
	Reports []*transparency.Report
	Links   []transparency.Check
	// Bags are each item's bags across the ceremonies, in order.
	Bags []BagChain
	OK   bool
}

// BagChain is one item's custody across the ceremonies: every bag opened
// and sealed, and every incident.
type BagChain struct {
	Item  string    `json:"item"`
	Links []BagLink `json:"links"`
}

// BagLink is one thing done to an item's bag, in one ceremony.
type BagLink struct {
	Log  string `json:"log"` // the log's folder, as named
	Step string `json:"step"`
	What string `json:"what"` // "opened", "sealed" or an incident's kind
	Bag  string `json:"bag,omitempty"`
}

// VerifyHistory checks a sequence of ceremony logs, oldest first, as the
// life of one KSK: each log verified (closed) as Verify does; the first
// held to opts.Roster when given, and each later one to the roster its
// predecessor ended with (the one it had, or the one it dealt in
// cards.reshare), so the officers' keys are pinned by the start of the
// chain and change only by a ceremony that reshares; and each later log
// citing its predecessor's final checkpoint (origin, key, size, root) and
// the SKR it wrote. A ceremony that does not cite its predecessor fails.
func VerifyHistory(logs []fs.FS, names []string, opts Options) (*History, error) {
	h := &History{Names: names, OK: true}
	var prev struct {
		rep     *transparency.Report
		vkey    string
		skr     string
		roster  *quorum.Roster
		custody map[string]string
		known   map[string]bool // every item the chain has had in custody
		backup  string
		// keys are the KSKs the chain has held (first inventory), generated
		// or restored so far: label, key tag and DS.
		keys map[string]bool
	}
	prev.keys = map[string]bool{}
	prev.known = map[string]bool{}
	chains := map[string]*BagChain{}
	for i, fsys := range logs {
		o := opts
		o.Open = false
		if i > 0 {
			o.Roster, o.RosterName = prev.roster, "the roster "+names[i-1]+" ended with"
		}
		rep, err := Verify(fsys, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		h.Reports = append(h.Reports, rep)
		h.OK = h.OK && rep.OK
		var open event.Open
		if len(rep.Events) > 0 {
			open, _ = rep.Events[0].Event.(event.Open)
		}
		if i > 0 {
			h.link(names[i-1], names[i], prev.rep, prev.vkey, prev.skr, open)
			h.custody(names[i-1], names[i], prev.custody, prev.known, open.Custody)
			h.backup(names[i-1], names[i], prev.backup, open.Backup)
		}
		inventory, err := profileInventory(fsys, open)
		switch {
		case err != nil:
			h.Links = append(h.Links, transparency.Check{ID: CheckHistoryInventory, OK: false,
				Detail: fmt.Sprintf("%s cites a profile whose KSK inventory does not read: %v", names[i], err)})
			h.OK = false
		case i > 0 && inventory != nil:
			h.inventory(names[i], prev.keys, inventory)
		}
		for _, k := range inventory {
			prev.keys[k] = true
		}
		for item := range open.Custody {
			prev.known[item] = true
		}
		// What the next ceremony must continue.
		prev.rep, prev.skr, prev.roster = rep, "", nil
		vkey, _ := readBounded(fsys, "log.vkey", 4<<10)
		prev.vkey = strings.TrimSpace(string(vkey))
		var reshared string
		for _, e := range rep.Events {
			switch ev := e.Event.(type) {
			case event.SKRWritten:
				prev.skr = ev.SHA256
			case event.CardsReshared:
				reshared = ev.RosterSHA256
			}
		}
		prev.custody, prev.backup = nil, ""
		if c, err := ReadCeremony(fsys, rep); err == nil && c.Script != nil {
			prev.roster = c.Script.Quorum
			prev.custody, prev.backup = c.State.Custody, c.State.Backup
			for _, k := range c.State.Keys {
				prev.keys[keyID(k.Label, k.KeyTag, k.DS)] = true
			}
			for _, k := range c.State.Restored {
				prev.keys[keyID(k.Label, k.KeyTag, k.DSSHA256)] = true
			}
			for _, b := range c.State.Bags {
				prev.known[b.Item] = true
				ch := chains[b.Item]
				if ch == nil {
					ch = &BagChain{Item: b.Item}
					chains[b.Item] = ch
				}
				ch.Links = append(ch.Links, BagLink{Log: names[i], Step: b.Step, What: b.What, Bag: b.Bag})
			}
		}
		if reshared != "" {
			if b, err := readBounded(fsys, "artefacts/sha256/"+reshared, maxArtefact); err == nil {
				if r, err := quorum.ParseRosterFile(b); err == nil {
					prev.roster = r
				}
			}
		}
	}
	for _, ch := range chains {
		h.Bags = append(h.Bags, *ch)
	}
	slices.SortFunc(h.Bags, func(a, b BagChain) int { return strings.Compare(a.Item, b.Item) })
	return h, nil
}

// custody checks that a ceremony opens with the register its predecessor
// ended with: every item still sealed in the same bag, and none that the
// predecessor left out of a bag claimed to be in one.
func (h *History) custody(from, to string, prev map[string]string, known map[string]bool, open map[string]string) {
	add := func(ok bool, format string, args ...any) {
		h.Links = append(h.Links, transparency.Check{ID: CheckHistoryCustody, OK: ok, Detail: fmt.Sprintf(format, args...)})
		h.OK = h.OK && ok
	}
	if len(prev) == 0 && len(open) == 0 {
		return
	}
	items := slices.Sorted(maps.Keys(prev))
	for _, item := range items {
		if got, ok := open[item]; !ok || got != prev[item] {
			if !ok {
				got = "no bag"
			} else {
				got = "bag " + got
			}
			add(false, "%s sealed %s in bag %s, but %s opens with it in %s", from, item, prev[item], to, got)
			return
		}
	}
	for _, item := range slices.Sorted(maps.Keys(open)) {
		if _, ok := prev[item]; !ok && known[item] {
			add(false, "%s left %s out of any bag, but %s opens with it sealed in bag %s", from, item, to, open[item])
			return
		}
	}
	add(true, "%s opens with the custody register %s ended with: %d sealed items, each in the bag it was sealed in", to, from, len(prev))
}

// keyID names a KSK by label, key tag and DS digest, whole.
func keyID(label string, tag int, ds string) string {
	return fmt.Sprintf("%s (key tag %d, DS %s)", label, tag, strings.ToLower(ds))
}

// profileInventory is the KSK inventory of the profile a log's opening
// cites, or nil when it cites none; a cited profile that does not read is
// an error.
func profileInventory(fsys fs.FS, open event.Open) ([]string, error) {
	if open.ProfileSHA256 == "" {
		return nil, nil
	}
	b, err := readBounded(fsys, "artefacts/sha256/"+open.ProfileSHA256, maxArtefact)
	if err != nil {
		return nil, err
	}
	p, err := ceremony.LoadProfile("profile", b)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, k := range p.KSKs {
		out = append(out, keyID(k.Label, int(k.KeyTag), k.DSSHA256))
	}
	return out, nil
}

// inventory checks that a ceremony's profile names only KSKs the chain
// held, generated or restored before it.
func (h *History) inventory(to string, known map[string]bool, inventory []string) {
	for _, k := range inventory {
		if !known[k] {
			h.Links = append(h.Links, transparency.Check{ID: CheckHistoryInventory, OK: false,
				Detail: fmt.Sprintf("the inventory of %s names KSK %s, which no earlier ceremony of the chain held, generated or restored", to, k)})
			h.OK = false
			return
		}
	}
	h.Links = append(h.Links, transparency.Check{ID: CheckHistoryInventory, OK: true,
		Detail: fmt.Sprintf("the inventory of %s names %s, each held, generated or restored earlier in the chain", to, words.Count(len(inventory), "KSK", "KSKs"))})
}

// backup checks that a ceremony carries over the backup on record.
func (h *History) backup(from, to, prev, open string) {
	if prev == "" && open == "" {
		return
	}
	ok := prev == open
	detail := fmt.Sprintf("%s carries over the KSK backup %s ended with (%.16s…)", to, from, prev)
	switch {
	case prev == "":
		detail = fmt.Sprintf("%s opens with a KSK backup on record (%.16s…), but %s ended with none", to, open, from)
	case !ok:
		detail = fmt.Sprintf("%s ended with the KSK backup %.16s…, but %s opens with %.16s…", from, prev, to, open)
	}
	h.Links = append(h.Links, transparency.Check{ID: CheckHistoryBackup, OK: ok, Detail: detail})
	h.OK = h.OK && ok
}

// link checks that a ceremony cites the one before it.
func (h *History) link(from, to string, prev *transparency.Report, prevVKey, prevSKR string, open event.Open) {
	add := func(id string, ok bool, format string, args ...any) {
		h.Links = append(h.Links, transparency.Check{ID: id, OK: ok, Detail: fmt.Sprintf(format, args...)})
		h.OK = h.OK && ok
	}
	root := hex.EncodeToString(prev.Root)
	switch {
	case open.PreviousCheckpoint == "":
		add(CheckHistoryLink, false, "%s does not cite the ceremony before it (%s): it was opened without --previous-log", to, from)
		return
	case open.PreviousOrigin != prev.Origin || open.PreviousVKey != prevVKey:
		add(CheckHistoryLink, false, "%s cites the ceremony logged as %s, not %s (%s)", to, open.PreviousOrigin, from, prev.Origin)
		return
	case open.PreviousSize != prev.Size || open.PreviousRoot != root:
		add(CheckHistoryLink, false, "%s cites %s at size %d, root %.16s…; that log's final checkpoint is size %d, root %.16s…", to, from, open.PreviousSize, open.PreviousRoot, prev.Size, root)
		return
	}
	add(CheckHistoryLink, true, "%s follows %s: it cites that log's final checkpoint (size %d, root %.16s…)", to, from, prev.Size, root)
	switch {
	case prevSKR == "":
	case open.PreviousSKR != prevSKR:
		add(CheckHistorySKR, false, "%s wrote the SKR %.16s…, but %s continues from %.16s…", from, prevSKR, to, open.PreviousSKR)
	default:
		add(CheckHistorySKR, true, "%s continues the SKR chain from the SKR %s wrote (%.16s…)", to, from, prevSKR)
	}
}
