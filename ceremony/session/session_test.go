package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/transparency"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

type rig struct {
	dir, skr string
	key      *transparency.Key
	script   *ceremony.Script
}

func newRig(t testing.TB) *rig {
	t.Helper()
	script, err := DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	skey, _, _ := transparency.GenerateKey("test.keyceremony.invalid/session/rehearsal")
	key, _ := transparency.ParseKey(skey)
	base := t.TempDir()
	return &rig{dir: filepath.Join(base, "log"), skr: filepath.Join(base, "skr.xml"), key: key, script: script}
}

// open opens (or resumes) the rig's ceremony.
func (r *rig) open(t testing.TB) (*Session, *transparency.Log) {
	t.Helper()
	ctx := context.Background()
	_, statErr := os.Stat(r.dir)
	l, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key, New: statErr != nil,
		Open:          event.Open{ScriptSHA256: r.script.Digest},
		OpenArtefacts: []transparency.Artefact{{Name: "demo.yaml", Data: r.script.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := DemoConfig(r.script, l, statErr == nil, r.skr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		l.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return s, l
}

func TestAutoCeremony(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	var did []string
	for s.Next() != NextDone {
		what, err := s.AutoStep(ctx)
		if err != nil {
			t.Fatalf("at %v: %v", s.State().Next, err)
		}
		if what != "" && !strings.HasSuffix(what, " confirms") {
			did = append(did, what)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"card CO1 accepted", "card CO1 refused", "a forged card refused", "card CO2 accepted", "card CO3 accepted", "typed Yes",
		"every officer is here: the ceremony is closed", "card CO1 cosigned the final checkpoint", "card CO2 cosigned the final checkpoint",
		"card CO3 cosigned the final checkpoint"}
	if !slices.Equal(did, want) {
		t.Fatalf("did %q", did)
	}
	st := s.State()
	if !st.Closed || st.Signed != 9 || len(st.Cards) != 5 || st.HSM {
		t.Fatalf("final state: closed %v signed %d cards %d", st.Closed, st.Signed, len(st.Cards))
	}
	// The officers cosigned the quorum's checkpoint and the final one.
	if len(st.Cosigned) != 2 || !slices.Equal(st.Cosigned[0].Cosigners, []string{"CO1", "CO2", "CO3"}) || st.Cosigned[1].Size != st.FinalSize {
		t.Fatalf("cosigned %+v", st.Cosigned)
	}
	if !slices.Equal(s.Snapshot().Final.Cosigned, []string{"CO1", "CO2", "CO3"}) || len(s.FinalFailures()) != 0 {
		t.Fatalf("final cosigners %v, failures %v", s.Snapshot().Final.Cosigned, s.FinalFailures())
	}
	// The SKR carries IANA's own signatures for this KSR.
	got, _ := os.ReadFile(r.skr)
	skr, err := dnssec.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	golden, _ := os.ReadFile("../../dnssec/testdata/skr-root-2010-q1-0.xml")
	want2, _ := dnssec.Parse(golden)
	for i, b := range skr.Response.Bundles {
		if b.Signatures[0].SignatureData != want2.Response.Bundles[i].Signatures[0].SignatureData {
			t.Errorf("bundle %d: signature differs from IANA's SKR", i+1)
		}
	}
	// A closed ceremony cannot be resumed.
	l2, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close(ctx)
	cfg, _ := DemoConfig(r.script, l2, true, r.skr)
	if _, err := Open(ctx, cfg); !errors.Is(err, ErrClosed) {
		t.Fatalf("resume a closed ceremony: %v, want ErrClosed", err)
	}
}

// TestResumeEverywhere stops the ceremony after every step in turn (closing
// the log, as a crash would leave it after its last durable entry) and
// resumes it; the ceremony always finishes, the signatures match the ones
// logged before the stop, and the log replays.
func TestResumeEverywhere(t *testing.T) {
	ctx := context.Background()
	steps := 0
	for stopAfter := 1; ; stopAfter++ {
		r := newRig(t)
		s, l := r.open(t)
		n := 0
		for s.Next() != NextDone && n < stopAfter {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatalf("stop %d, action %d: %v", stopAfter, n, err)
			}
			n++
		}
		if s.Next() == NextDone {
			l.Close(ctx)
			steps = stopAfter - 1
			break
		}
		closed := s.State().Closed // stopped while the officers cosign the final checkpoint
		l.Close(ctx)
		s, l = r.open(t)
		for s.Next() != NextDone {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatalf("stop %d, after resume at %s: %v", stopAfter, stepID(s), err)
			}
		}
		resumes := 1
		if closed {
			resumes = 0 // a closed log takes no entry: the console only has the others cosign
		}
		if st := s.Snapshot(); !st.Closed || st.Resumes != resumes || st.Signed != 9 || len(st.Final.Cosigned) != 3 {
			t.Fatalf("stop %d: closed %v resumes %d signed %d", stopAfter, st.Closed, st.Resumes, st.Signed)
		}
		l.Close(ctx)
	}
	if steps < 30 {
		t.Fatalf("only %d actions in a whole ceremony", steps)
	}
	t.Logf("resumed after each of %d actions", steps)
}

func stepID(s *Session) string {
	if cur, ok := s.State().Current(); ok {
		return cur.ID
	}
	return "end"
}

func TestMistypedConfirmationLogsNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	defer l.Close(ctx)
	for s.Next() != NextTyped {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	size := l.Size()
	if err := s.Type(ctx, "yes"); err == nil {
		t.Fatal("lowercase yes accepted")
	}
	if err := s.Confirm(ctx); err == nil {
		t.Fatal("signing started without the typed confirmation")
	}
	if l.Size() != size {
		t.Fatal("a refused confirmation was logged")
	}
	if err := s.Exception(ctx, "the CA typed yes in lower case; typed again"); err != nil {
		t.Fatal(err)
	}
	if err := s.Type(ctx, "Yes"); err != nil {
		t.Fatal(err)
	}
}

// TestResumeTwice stops the ceremony twice, the second time while the
// officers present their cards again after the first stop.
func TestResumeTwice(t *testing.T) {
	ctx := context.Background()
	for _, stops := range [][2]int{{12, 2}, {18, 1}, {18, 3}, {25, 4}, {33, 1}} {
		r := newRig(t)
		s, l := r.open(t)
		for i := 0; i < stops[0]; i++ {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		l.Close(ctx)
		s, l = r.open(t)
		for i := 0; i < stops[1] && s.Next() != NextDone; i++ {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatalf("stops %v, first resume: %v", stops, err)
			}
		}
		l.Close(ctx)
		s, l = r.open(t)
		for s.Next() != NextDone {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatalf("stops %v, second resume at %s: %v", stops, stepID(s), err)
			}
		}
		if st := s.State(); !st.Closed || st.Resumes != 2 || st.HSM {
			t.Fatalf("stops %v: closed %v resumes %d hsm %v", stops, st.Closed, st.Resumes, st.HSM)
		}
		l.Close(ctx)
	}
}

// refusingToken refuses the first PIN it is given, as a token whose PIN does
// not match the cards' secret would.
type refusingToken struct {
	hsm.Token
	refused bool
}

func (t *refusingToken) Login(ctx context.Context, pin []byte) error {
	if !t.refused {
		t.refused = true
		return fmt.Errorf("login: %w", hsm.ErrPINIncorrect)
	}
	return t.Token.Login(ctx, pin)
}

// TestRefusedPINAsksForTheCardsAgain: a refused PIN is logged, and the
// officers present their cards again; the ceremony then goes on.
func TestRefusedPINAsksForTheCardsAgain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	defer l.Close(ctx)
	s.cfg.Token = &refusingToken{Token: s.cfg.Token}
	for s.State().Next < 8 || !s.State().Quorum {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Confirm(ctx); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("first login: %v, want ErrPINIncorrect", err)
	}
	if st := s.State(); st.Quorum || !st.CollectingCards() {
		t.Fatal("after a refused PIN the cards are not asked for again")
	}
	for s.Next() != NextDone {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFinalCosignResumes: the close is logged with the roll call, one
// officer cosigns, and the console stops; started again on the closed log,
// it logs nothing more and has the others cosign the final checkpoint. An
// officer marked gone at the roll call is named absent; one who then will
// not cosign is left out.
func TestFinalCosignResumes(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s, l := r.open(t)
	for !(s.Next() == NextCosign && !s.State().Closed) {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PresentCosigner(ctx, "CO1"); err == nil {
		t.Fatal("a card cosigned before the close")
	}
	if err := s.MarkAbsent(ctx, "CO2"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseForCosign(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if !st.Closed || !slices.Equal(st.Present, []string{"CO1", "CO3"}) || !slices.Equal(st.Absent, []string{"CO2"}) || s.Next() != NextCosign {
		t.Fatalf("after the roll call: closed %v present %v absent %v next %v", st.Closed, st.Present, st.Absent, s.Next())
	}
	if err := s.PresentCosigner(ctx, "CO2"); err == nil {
		t.Fatal("an absent officer cosigned")
	}
	if err := s.PresentCosigner(ctx, "CO1"); err != nil {
		t.Fatal(err)
	}
	size := l.Size()
	l.Close(ctx) // the console stops here
	s, l = r.open(t)
	defer l.Close(ctx)
	if st := s.Snapshot(); s.Next() != NextCosign || !slices.Equal(st.Final.Cosigned, []string{"CO1"}) {
		t.Fatalf("started again: next %v, cosigned %v", s.Next(), st.Final.Cosigned)
	}
	if err := s.MarkAbsent(ctx, "CO3"); err != nil || s.Next() != NextDone {
		t.Fatalf("CO3 will not cosign: %v, next %v", err, s.Next())
	}
	if l.Size() != size {
		t.Fatalf("the closed log grew from %d to %d entries", size, l.Size())
	}
	l.Close(ctx)
	s, l = r.open(t)
	if err := s.PresentCosigner(ctx, "CO3"); err != nil || s.Next() != NextDone || !slices.Equal(s.Snapshot().Final.Cosigned, []string{"CO1", "CO3"}) {
		t.Fatalf("CO3 cosigns after all: %v, cosigned %v", err, s.Snapshot().Final.Cosigned)
	}
	l.Close(ctx)
	if _, err := Open(ctx, mustConfig(t, r)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed log with every officer's cosignature: %v", err)
	}
}

func mustConfig(t *testing.T, r *rig) Config {
	t.Helper()
	l, err := transparency.Open(context.Background(), r.dir, transparency.Options{Key: r.key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	cfg, err := DemoConfig(r.script, l, true, r.skr)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
