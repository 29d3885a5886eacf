package event

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/vectors")

var (
	t0   = time.Date(2026, 11, 28, 14, 0, 5, 123_000_000, time.UTC)
	prev = "2b0d46a1ac8b7d1e8f5b6d1c7e0a59f7c3e4b1a2d5f60718293a4b5c6d7e8f90"
	yes  = true
	no   = false
)

func sha(c string) string { return strings.Repeat(c, 64) }

// examples holds an entry of every kind, with values as a ceremony writes
// them. Their encodings are the golden vectors in testdata/vectors, and
// their descriptions testdata/vectors/describe.golden.
var examples = []*Entry{
	{Seq: 0, Event: Open{Origin: "demo.keyceremony.invalid/20261128T140000Z/rehearsal", LogVKey: "demo.keyceremony.invalid/20261128T140000Z/rehearsal+8f7e1a2b+AcmVo5pXo2K1nZ9U6A8F1sCq0mXbUq8V9iFz1Xy0q2Zk",
		Ceremony: "Demo key-signing ceremony (rehearsal)", Zone: ".", ScriptSHA256: sha("d"), Tool: "keyceremony (devel)", Rehearsal: true,
		OfficerKeys: map[string]string{"CO1": "officer/CO1+0120a71a+BHcqexample"}},
		Artefacts: []Artefact{{Name: "demo.yaml", SHA256: sha("d"), Size: 4210}}},
	{Event: Resumed{AtStep: "3.4"}},
	{Event: SignedIn{Step: "1.2", Participants: map[string]string{"CA": "Kim Davies", "IW": "Ana Silva"}, Absent: []string{"SA"}}},
	{Event: ContingencyChosen{Step: "1.3", Chosen: []string{"backup-hsm"}}},
	{Event: ContingencyChosen{Step: "1.3", Chosen: []string{}}},
	{Event: StepWitnessed{Step: "1.1", Witness: "IW"}},
	{Event: StepConfirmed{Step: "3.6", Typed: "Yes"}},
	{Event: StepDone{Step: "1.1", Role: "CA", Witnesses: []string{"IW"}}},
	{Event: StepDone{Step: "2.2", Role: "SA"}},
	{Event: Exception{Step: "2.1", Text: "Camera 2 off for 40 s; the IW kept the room's log"}},
	{Event: StepSkipped{Step: "2.3", Reason: "the printer is out of toner", Witness: "IW"}},
	{Event: StepRepeated{Step: "2.4", Repeat: "2.3", Reason: "the hash was read too fast", Witness: "IW"}},
	{Event: NotApplicable{Step: "4.2"}},
	{Event: Aborted{Step: "3.2", Reason: "the HSM's tamper seal is broken"}},
	{Event: CardPresented{Step: "3.1", Card: "CO1", Holder: "Amara Okafor"}},
	{Event: CardRejected{Step: "3.1", Card: "CO2", Reason: "forged"}},
	{Event: CardWitnessed{Step: "3.1", Card: "CO1", Holder: "Alice", Serial: "KP-0001", Witness: "IW"}},
	{Event: QuorumReached{Step: "3.1", Cards: []string{"CO1", "CO2", "CO3"}, Threshold: 3}},
	{Event: QuorumExpired{Step: "3.1", Cards: []string{"CO1"}, Timeout: "10m0s"}},
	{Event: Cosigned{Step: "3.1", Size: 21, Point: "quorum", Cosigners: []string{"CO1", "CO2", "CO3"}}},
	{Event: HSMLogin{Step: "3.2", Token: "keyceremony-demo", Serial: "5a3c1e77", Flags: []string{"user PIN count low"}}},
	{Event: HSMLoginFailed{Step: "3.2", Token: "keyceremony-demo", Reason: "PIN incorrect"}},
	{Event: HSMLogout{Step: "4.1", Token: "keyceremony-demo"}},
	{Event: KeyGenerated{Step: "3.3", Label: "Klajeyz", Algorithm: 8, KeyTag: 20326, KeyTagRevoked: 20454, DSSHA256: sha("e"),
		DNSKEY: ". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh", Sensitive: &yes, Extractable: &no},
		Artefacts: []Artefact{{Name: "Klajeyz.ds", SHA256: sha("1"), Size: 512}, {Name: "Klajeyz-anchor.xml", SHA256: sha("2"), Size: 700}}},
	{Event: CardsReshared{Step: "3.3", Threshold: 2, Cards: []string{"CO8", "CO9", "CO10"}, Revoked: []string{"CO1", "CO2"}, Commitment: sha("3"),
		RosterSHA256: sha("4"), Secret: "same"}, Artefacts: []Artefact{{Name: "roster-2.yaml", SHA256: sha("4"), Size: 1024}}},
	{Event: CardsReshared{Step: "3.3", Threshold: 2, Cards: []string{"CO8", "CO9"}, Revoked: []string{"CO1"}, Commitment: sha("5"),
		RosterSHA256: sha("6"), Secret: "new"}, Artefacts: []Artefact{{Name: "roster-2.yaml", SHA256: sha("6"), Size: 1024}}},
	{Event: Zeroized{Step: "3.4", Token: "keyceremony-demo", Destroyed: []string{"Kjqmt7v", "Klajeyz"}, Remaining: 0}},
	{Event: KSRLoaded{Step: "3.3", SHA256: sha("b"), KSRID: "8b2eb5e1-4a0b-4eb5-9cd7-64a0b3d3c2a6", Bundles: 9, Domain: ".", ExpectedSHA256: sha("b")},
		Artefacts: []Artefact{{Name: "ksr-root-2010-q1-0.xml", SHA256: sha("b"), Size: 29123}}},
	{Event: KSRChecked{Step: "3.4", SHA256: sha("b"), CheckTime: "2009-12-25T00:00:00Z", Results: []CheckResult{
		{ID: "KSR-BUNDLE-POP", Status: "pass"}, {ID: "KSR-POLICY-SIG-VALIDITY", Status: "warn", Detail: "bundle #9 signatures run 15 days"}}}},
	{Event: KSRChecked{Step: "3.4", SHA256: sha("b"), CheckTime: "2009-12-25T00:00:00Z", PreviousSKR: "skr-root-2009-q4-2", Results: []CheckResult{
		{ID: "KSR-BUNDLE-POP", Status: "pass"}, {ID: "KSR-DOMAIN", Status: "fail", Detail: "the KSR is for example., the profile for ."}}}},
	{Event: KSRChecked{Step: "3.4", SHA256: sha("b"), CheckTime: "2009-12-25T00:00:00Z", Results: []CheckResult{{ID: "KSR-BUNDLE-POP", Status: "pass"}}}},
	{Event: BundleSigned{Step: "3.6", Bundle: 1, BundleID: "a6b8d5e4-6b1b-44b4-8b2c-0d1c4f0a8c11", KeyTag: 19036, Inception: "2010-01-01T00:00:00Z",
		Expiration: "2010-01-15T23:59:59Z", SigSHA256: sha("c")}},
	{Event: SKRWritten{Step: "3.7", SHA256: sha("f"), Path: "/media/transfer/skr-root-2010-q1-0.xml"},
		Artefacts: []Artefact{{Name: "skr-root-2010-q1-0.xml", SHA256: sha("f"), Size: 40211}}},
	{Event: Close{Exceptions: 1, Resumes: 0}},
	{Event: Close{Exceptions: 0, Resumes: 1, Cosigners: []string{"CO1", "CO3"}, Absent: []string{"CO2"}}},
	{Event: Close{Exceptions: 0, Resumes: 0, Cosigners: []string{"CO1", "CO2", "CO3"}}},
	// Added after the first vectors: at the end, so that theirs stay.
	{Event: Resumed{AtStep: "3.5", Unclean: true, HSMLost: true, CardsLost: []string{"CO1", "CO2", "CO3"}}},
	{Event: Resumed{AtStep: "2.1", Unclean: true}},
	{Event: Stopped{AtStep: "3.5", HSMLoggedOut: true}},
	{Event: Stopped{AtStep: "2.1"}},
	{Event: CardRejected{Step: "3.1", Card: "CO2", Reason: "forged", Holder: "Bjorn Lindqvist"}},
	// Text typed at a prompt that would act on a terminal: described escaped.
	{Event: Exception{Step: "3.1", Text: "\x1b[2J\x1b]0;owned\x07 cleared; \u202eevil\u202c done"}},
	// An opening that announces the key its anchors in Rekor are made with.
	{Event: Open{Origin: "keyceremony.invalid/root-ksk-2026q4", LogVKey: "keyceremony.invalid/root-ksk-2026q4+5b1c2d3e+AaBbCcDdEeFf", Ceremony: "Root KSK signing 2026 Q4",
		Zone: ".", QuorumThreshold: 3, AnchorKey: "9f2c4b7d0e1a3f5c6b8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"}},
	// An opening that follows the previous ceremony: its final checkpoint,
	// cosigned, an artefact of this log, and the SKR it wrote.
	{Event: Open{Origin: "keyceremony.invalid/root-ksk-2027q1", LogVKey: "keyceremony.invalid/root-ksk-2027q1+6c2d3e4f+AbBcCdDeEfFg", Ceremony: "Root KSK signing 2027 Q1",
		Zone: ".", QuorumThreshold: 3, PreviousOrigin: "keyceremony.invalid/root-ksk-2026q4", PreviousVKey: "keyceremony.invalid/root-ksk-2026q4+5b1c2d3e+AaBbCcDdEeFf",
		PreviousSize: 64, PreviousRoot: sha("a"), PreviousCheckpoint: sha("b"), PreviousSKR: sha("c")},
		Artefacts: []Artefact{{Name: "previous-checkpoint", SHA256: sha("b"), Size: 612}}},
	// Custody: an opening with the register the previous ceremony left,
	// bags opened and sealed, an incident, and the contingency taken.
	{Event: Open{Origin: "keyceremony.invalid/root-ksk-2027q2", LogVKey: "keyceremony.invalid/root-ksk-2027q2+7d3e4f5a+AcBdCeDfEgFh", Ceremony: "Root KSK signing 2027 Q2",
		Zone: ".", QuorumThreshold: 3, Custody: map[string]string{"hsm1": "BB00231456", "laptop1": "BB00231457"}}},
	{Event: BagOpened{Step: "1.3", Item: "hsm1", Bag: "BB00231456", Expected: "BB00231456", Witness: "IW"}},
	{Event: BagOpened{Step: "1.4", Item: "osmedia1", Bag: "BB00231999", Witness: "IW"}},
	{Event: BagSealed{Step: "5.3", Item: "hsm1", Bag: "BB00231502"}},
	{Event: Incident{Step: "1.3", Item: "laptop1", Expected: "BB00231457", Bag: "BB00231475", What: "serial differs", Witness: "IW"}},
	{Event: Incident{Step: "1.3", Item: "laptop1", Expected: "BB00231457", Bag: "BB00231457", What: "not intact", Witness: "IW"}},
	{Event: Incident{Step: "1.3", Item: "safe1", Expected: "BB00231400", What: "unreachable", Witness: "IW"}},
	{Event: Invoked{Step: "1.3", Contingency: "bag-tampered", Trigger: "custody.incident laptop1", Reason: "the laptop's bag reads BB00231475; the laptop is set aside for inspection",
		Witness: "IW", Then: "abort"}},
	{Event: Invoked{Step: "1.2", Contingency: "officers-short", Trigger: "quorum.short", Reason: "two officers signed in; CO7 joins from the other facility", Witness: "IW", Then: "continue"}},
	// Disaster recovery: the backup at key generation, the recovery
	// holders' quorum and the keys restored at the other facility.
	{Event: Open{Origin: "keyceremony.invalid/root-ksk-recovery-2027", LogVKey: "keyceremony.invalid/root-ksk-recovery-2027+8e4f5a6b+AdBeCfDgEhFi", Ceremony: "Root KSK recovery",
		Zone: ".", QuorumThreshold: 3, Backup: sha("d")}, Artefacts: []Artefact{{Name: "ksk-backup.json", SHA256: sha("d"), Size: 4210}}},
	{Event: BackedUp{Step: "4.3", Token: "facility-a", Keys: []BackedUpKey{{Label: "KSK-2027", KeyTag: 38696, DSSHA256: sha("e")}}, BackupSHA256: sha("d"),
		SMKCheck: "3A9F11", Threshold: 5, Holders: []string{"RK1", "RK2", "RK3", "RK4", "RK5", "RK6", "RK7"}, RosterSHA256: sha("f")},
		Artefacts: []Artefact{{Name: "ksk-backup.json", SHA256: sha("d"), Size: 4210}, {Name: "recovery-roster.yaml", SHA256: sha("f"), Size: 2210}}},
	{Event: RecoveryCard{Step: "3.3", Card: "RK2", Holder: "Chen Wei"}},
	{Event: RecoveryRefused{Step: "3.3", Card: "CO1", Reason: "not a card of the backup's recovery roster"}},
	{Event: RecoveryReached{Step: "3.3", Cards: []string{"RK1", "RK2", "RK4", "RK5", "RK7"}, Threshold: 5, SMKCheck: "3A9F11"}},
	{Event: Restored{Step: "4.1", Token: "facility-b", Label: "KSK-2027", KeyTag: 38696, DSSHA256: sha("e"), BackupSHA256: sha("d"), Of: 1, Sensitive: &yes, Extractable: &no}},
	// Cards whose key is not the backup's, dropped; a backup that keeps a
	// key out.
	{Event: RecoveryRefused{Step: "3.1", Card: "RK5", Reason: "the storage master key they rebuild has check value 0B61C2, not the backup's 3A9F11", Reset: true}},
	{Event: BackedUp{Step: "4.4", Token: "facility-a", Keys: []BackedUpKey{{Label: "KSK-2027", KeyTag: 38696, DSSHA256: sha("e")}}, BackupSHA256: sha("d"),
		SMKCheck: "3A9F11", Threshold: 5, Holders: []string{"RK1", "RK2", "RK3", "RK4", "RK5", "RK6", "RK7"}, RosterSHA256: sha("f"), Kept: []string{"KSK-2017"}},
		Artefacts: []Artefact{{Name: "ksk-backup.json", SHA256: sha("d"), Size: 4210}, {Name: "recovery-roster.yaml", SHA256: sha("f"), Size: 2210}}},
}

func init() {
	for i, e := range examples {
		e.Seq = uint64(i)
		e.Time = t0.Add(time.Duration(i) * time.Second)
		if i > 0 {
			e.Prev = prev
		}
	}
}

// vectorName is the golden file of examples[i].
func vectorName(i int, e *Entry) string {
	return filepath.Join("testdata", "vectors", strings.ReplaceAll(e.Kind(), ".", "-")+"-"+string(rune('a'+countBefore(i, e.Kind())))+".json")
}

func countBefore(i int, kind string) int {
	n := 0
	for _, e := range examples[:i] {
		if e.Kind() == kind {
			n++
		}
	}
	return n
}

// TestVectors: every kind has an example; each marshals to its golden bytes
// and parses back to the same value, and is described as the golden file
// says.
func TestVectors(t *testing.T) {
	covered := map[string]bool{}
	var described strings.Builder
	for i, e := range examples {
		covered[e.Kind()] = true
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", e.Kind(), err)
		}
		name := vectorName(i, e)
		if *update {
			os.MkdirAll(filepath.Dir(name), 0o755)
			if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run go test -update)", e.Kind(), err)
		}
		if !bytes.Equal(append(b, '\n'), want) {
			t.Errorf("%s: marshal\n got %s\nwant %s", name, b, want)
		}
		p, err := Parse(bytes.TrimSuffix(want, []byte("\n")))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(p, e) {
			t.Errorf("%s: parsed\n %#v\nwant %#v", name, p, e)
		}
		described.WriteString(e.Kind() + ": " + Describe(p) + "\n")
	}
	for _, k := range Kinds {
		if !covered[k.Kind] {
			t.Errorf("kind %s has no example vector", k.Kind)
		}
		if len(k.Describe) == 0 || len(k.Describe[len(k.Describe)-1].If) != 0 {
			t.Errorf("kind %s: its last description must have no condition", k.Kind)
		}
	}
	golden := filepath.Join("testdata", "vectors", "describe.golden")
	if *update {
		os.WriteFile(golden, []byte(described.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if described.String() != string(want) {
		t.Errorf("descriptions:\n%s\nwant:\n%s", described.String(), want)
	}
}

// TestEntryMarshalParse: an entry's JSON is the exact Merkle leaf: header
// first, then the fields and artefacts sorted by name; it parses back to the
// same entry.
func TestEntryMarshalParse(t *testing.T) {
	e := &Entry{Seq: 3, Time: time.Date(2026, 11, 28, 1, 2, 3, 456789000, time.UTC), Prev: strings.Repeat("0a", 32),
		Event:     KSRLoaded{Step: "4.1", SHA256: strings.Repeat("1f", 32), KSRID: "q1", Bundles: 9, Domain: "."},
		Artefacts: []Artefact{{Name: "ksr.xml", SHA256: strings.Repeat("1f", 32), Size: 9}}}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2026-11-28T01:02:03.456Z","prev":"` + strings.Repeat("0a", 32) +
		`","kind":"ksr.loaded","artefacts":[{"name":"ksr.xml","sha256":"` + strings.Repeat("1f", 32) +
		`","size":9}],"bundles":9,"domain":".","ksr_id":"q1","sha256":"` + strings.Repeat("1f", 32) + `","step":"4.1"}`
	if string(b) != want {
		t.Fatalf("marshal:\n got %s\nwant %s", b, want)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := p.Marshal()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("round trip: %s, %v", b2, err)
	}
	if ev, ok := p.Event.(KSRLoaded); !ok || ev.Step != "4.1" {
		t.Fatalf("event = %#v", p.Event)
	}
	h, err := ParseHeader(b)
	if err != nil || h.Seq != 3 || h.Kind != "ksr.loaded" || len(h.Artefacts) != 1 || h.Prev != e.Prev || !h.Time.Equal(e.Time.Truncate(time.Millisecond)) {
		t.Fatalf("header %+v, %v", h, err)
	}
}

func TestParseEntryRejects(t *testing.T) {
	prev := strings.Repeat("ab", 32)
	head := `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"step.exception"`
	cases := map[string]string{
		"not json":          `hello`,
		"array":             `[1]`,
		"missing kind":      `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `"}`,
		"header order":      `{"time":"2026-11-28T01:02:03.000Z","seq":1,"prev":"` + prev + `","kind":"a"}`,
		"duplicate field":   head + `,"step":"1","step":"2"}`,
		"duplicate header":  head + `,"seq":2}`,
		"negative seq":      `{"seq":-1,"time":"2026-11-28T01:02:03.000Z","prev":"","kind":"a"}`,
		"fractional seq":    `{"seq":1.5,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"exponent seq":      `{"seq":1e2,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"leading zero seq":  `{"seq":01,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"a"}`,
		"local time":        `{"seq":1,"time":"2026-11-28T01:02:03+01:00","prev":"` + prev + `","kind":"a"}`,
		"impossible date":   `{"seq":1,"time":"2026-02-30T01:02:03Z","prev":"` + prev + `","kind":"a"}`,
		"short prev":        `{"seq":1,"time":"2026-11-28T01:02:03Z","prev":"abcd","kind":"a"}`,
		"prev on entry 0":   `{"seq":0,"time":"2026-11-28T01:02:03Z","prev":"` + prev + `","kind":"a"}`,
		"upper kind":        `{"seq":0,"time":"2026-11-28T01:02:03Z","prev":"","kind":"Step"}`,
		"trailing data":     head + `} {}`,
		"bad field name":    head + `,"Step":"1"}`,
		"bad artefact hash": head + `,"artefacts":[{"name":"a","sha256":"zz","size":1}]}`,
		"artefact path":     head + `,"artefacts":[{"name":"../a","sha256":"` + prev + `","size":1}]}`,
		"artefact extra":    head + `,"artefacts":[{"name":"a","sha256":"` + prev + `","size":1,"x":1}]}`,
		"invalid utf-8":     head + `,"text":"` + "\xff" + `"}`,
		"too large":         head + `,"text":"` + strings.Repeat("x", MaxEntrySize) + `"}`,
		"nested duplicate":  head + `,"roster":{"co1":"alice","co1":"mallory"}}`,
		"escaped duplicate": head + `,"roster":{"co1":"alice","co\u0031":"mallory"}}`,
		"artefact case":     head + `,"artefacts":[{"name":"a","SHA256":"` + prev + `","size":1}]}`,
		"artefact dup":      head + `,"artefacts":[{"name":"a","sha256":"` + prev + `","sha256":"` + prev + `","size":1}]}`,
		// What the kind's type refuses.
		"unknown field":  head + `,"step":"1.1","text":"t","colour":"red"}`,
		"wrong type":     head + `,"step":1.1,"text":"t"}`,
		"number too big": `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"bundle.signed","bundle":1e99999}`,
		"list for text":  head + `,"step":"1.1","text":["t"]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in)); !errors.Is(err, ErrEntry) {
				t.Fatalf("err = %v, want ErrEntry", err)
			}
		})
	}
	unknown := `{"seq":1,"time":"2026-11-28T01:02:03.000Z","prev":"` + prev + `","kind":"step.teleported","step":"1.1"}`
	if _, err := Parse([]byte(unknown)); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: err = %v, want ErrUnknownKind", err)
	}
	if _, err := ParseHeader([]byte(unknown)); err != nil {
		t.Fatalf("the header of an entry of an unknown kind: %v", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	base := Entry{Seq: 1, Time: time.Now(), Prev: strings.Repeat("ab", 32)}
	big := base
	big.Event = Exception{Step: "1.1", Text: strings.Repeat("x", MaxEntrySize)}
	none := base
	badPrev := base
	badPrev.Event, badPrev.Prev = Exception{Step: "1.1", Text: "t"}, "abc"
	badArt := base
	badArt.Event, badArt.Artefacts = Exception{Step: "1.1", Text: "t"}, []Artefact{{Name: "../x", SHA256: strings.Repeat("ab", 32)}}
	for name, e := range map[string]Entry{"too large": big, "no event": none, "bad prev": badPrev, "bad artefact": badArt} {
		if _, err := e.Marshal(); !errors.Is(err, ErrEntry) {
			t.Errorf("%s: err = %v, want ErrEntry", name, err)
		}
	}
}

// TestKindTypes: each kind's type is named by its Kind, and decodes only
// into itself.
func TestKindTypes(t *testing.T) {
	for _, k := range Kinds {
		info, ok := Info(k.Kind)
		if !ok || info.Kind != k.Kind || info.decode == nil {
			t.Fatalf("Info(%q) = %+v, %v", k.Kind, info, ok)
		}
		ev, err := info.decode([]byte(`{}`))
		if err != nil || ev.Kind() != k.Kind {
			t.Fatalf("%s decodes {} into %#v, %v", k.Kind, ev, err)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/vectors/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSuffix(b, []byte("\n")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// ParseCanonical (with its fast path) says exactly what Parse and
		// Marshal say together: the bytes are canonical when they are
		// what Marshal writes of what Parse reads.
		c, cerr := ParseCanonical(data)
		p, perr := Parse(data)
		canonical := false
		if perr == nil {
			b, err := p.Marshal()
			canonical = err == nil && bytes.Equal(b, data)
		}
		if (cerr == nil) != canonical {
			t.Fatalf("ParseCanonical: %v, but Parse and Marshal: parse error %v, canonical %v\n%q", cerr, perr, canonical, data)
		}
		if cerr == nil && !reflect.DeepEqual(c, p) {
			t.Fatalf("ParseCanonical and Parse read different entries:\n%#v\n%#v", c, p)
		}
		// Whatever the fast encoder writes is what Marshal writes.
		if perr == nil {
			if k := byKind[p.Kind()]; k.fast != nil {
				want, merr := p.Marshal()
				if enc, ok := appendFast(nil, p, k.fast); ok && (merr != nil || !bytes.Equal(enc, want)) {
					t.Fatalf("the fast encoder writes\n%s\nMarshal (%v)\n%s", enc, merr, want)
				}
			}
		}
		e, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := ParseHeader(data); err != nil {
			t.Fatalf("Parse takes what ParseHeader refuses: %v", err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed entry does not marshal: %v", err)
		}
		e2, err := Parse(b)
		if err != nil {
			t.Fatalf("marshalled entry does not parse: %v\n%s", err, b)
		}
		b2, err := e2.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("marshal is not stable:\n%s\n%s", b, b2)
		}
		if e3, err := Parse(b2); err != nil || !reflect.DeepEqual(e2, e3) {
			t.Fatalf("parse, marshal, parse changed the entry:\n%#v\n%#v", e2, e3)
		}
		Describe(e)
	})
}

// TestStepOf: StepOf reads the step field of every kind that has one.
func TestStepOf(t *testing.T) {
	for _, e := range examples {
		f, ok := reflect.TypeOf(e.Event).FieldByName("Step")
		want := ""
		if ok && f.Tag.Get("json") == "step" {
			want = reflect.ValueOf(e.Event).FieldByName("Step").String()
			if want == "" {
				t.Fatalf("%s: the example has no step", e.Kind())
			}
		}
		if got := StepOf(e.Event); got != want {
			t.Errorf("StepOf(%s) = %q, want %q", e.Kind(), got, want)
		}
	}
}

// TestParseCanonical: one entry, one encoding. Bytes that Parse reads as
// the same entry but that Marshal would not write are refused, so that a
// log re-signed with other bytes for the same entries cannot pass.
func TestParseCanonical(t *testing.T) {
	e := &Entry{Seq: 3, Time: time.Date(2026, 11, 28, 1, 2, 3, 456000000, time.UTC), Prev: strings.Repeat("0a", 32),
		Event: Exception{Step: "4.1", Text: "the safe's door stuck"}}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCanonical(b); err != nil {
		t.Fatalf("the canonical encoding: %v", err)
	}
	s := string(b)
	for name, variant := range map[string]string{
		"whitespace":             strings.Replace(s, `"kind":`, `"kind": `, 1),
		"trailing whitespace":    s + " ",
		"field order":            "",
		"escaped key":            strings.Replace(s, `"text":`, `"t\u0065xt":`, 1),
		"escaped character":      strings.Replace(s, `"4.1"`, `"4\u002e1"`, 1),
		"number form":            strings.Replace(s, `"seq":3`, `"seq":3.0`, 1),
		"huge number":            strings.Replace(s, `"seq":3`, `"seq":1e99999`, 1),
		"lone surrogate":         strings.Replace(s, `door stuck`, `door \ud800stuck`, 1),
		"HTML characters raw":    strings.Replace(s, `door stuck`, `door <stuck>`, 1),
		"time without millis":    strings.Replace(s, `.456Z`, `Z`, 1),
		"upper-case hex in prev": strings.Replace(s, strings.Repeat("0a", 32), strings.Repeat("0A", 32), 1),
	} {
		if name == "field order" {
			// The kind's fields in another order: text before step.
			variant = strings.Replace(s, `"step":"4.1","text":"the safe's door stuck"`, `"text":"the safe's door stuck","step":"4.1"`, 1)
		}
		if variant == s {
			t.Fatalf("%s: no variant made from %s", name, s)
		}
		_, perr := Parse([]byte(variant))
		_, err := ParseCanonical([]byte(variant))
		switch {
		case err == nil:
			t.Errorf("%s: %s accepted", name, variant)
		case perr == nil && !errors.Is(err, ErrNotCanonical):
			t.Errorf("%s: Parse reads it, but the error is %v, not ErrNotCanonical", name, err)
		}
	}
	// Every vector is canonical, read on the fast path as Parse reads it.
	for i, e := range examples {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseCanonical(b); err != nil {
			t.Errorf("vector %d (%s): %v", i, e.Kind(), err)
		}
		slow := mustParse(t, b)
		enc, ok := appendFast(nil, slow, byKind[slow.Kind()].fast)
		switch {
		case ok && !bytes.Equal(enc, b):
			t.Errorf("vector %d (%s): the fast encoder writes\n%s\nMarshal\n%s", i, e.Kind(), enc, b)
		case !ok && !bytes.Contains(b, []byte(`\`)):
			t.Errorf("vector %d (%s): no escape in it, yet the fast encoder gives up", i, e.Kind())
		}
		if direct, _ := parseDirect(b); !bytes.Contains(b, []byte(`\`)) && !reflect.DeepEqual(direct, slow) {
			t.Errorf("vector %d (%s): the direct path reads %#v, Parse %#v", i, e.Kind(), direct, slow)
		}
	}
	for _, k := range Kinds {
		if k.fast == nil {
			t.Errorf("kind %s has no fast path", k.Kind)
		}
	}
}

func mustParse(t *testing.T, b []byte) *Entry {
	t.Helper()
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTimeFastPaths: the entry time's own reader and writer agree with
// the time package's, on every millisecond of a day's edges and of dates
// that do not exist.
func TestTimeFastPaths(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 12, 4, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
		time.Date(9999, 12, 31, 12, 30, 5, 42_000_000, time.UTC),
		time.Date(2026, 12, 4, 23, 59, 59, 999_999_999, time.FixedZone("x", 3600)),
	} {
		want := tm.UTC().AppendFormat(nil, TimeFormat)
		if got := appendTime(nil, tm); string(got) != string(want) {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
		p, ok := parseTime(string(want))
		if q, err := time.Parse(time.RFC3339Nano, string(want)); !ok || err != nil || !p.Equal(q) {
			t.Errorf("parseTime(%s) = %v %v, time.Parse %v %v", want, p, ok, q, err)
		}
	}
	for _, bad := range []string{"2026-02-30T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-12-04T24:00:00.000Z", "2026-12-04T23:60:00.000Z",
		"2026-12-04T23:59:60.000Z", "2026-12-04 23:59:59.000Z", "2026-12-04T23:59:59.0000Z", "2026-12-04T23:59:59.00aZ", "+026-12-04T23:59:59.000Z"} {
		if _, ok := parseTime(bad); ok {
			t.Errorf("parseTime(%s) took it", bad)
		}
	}
}
