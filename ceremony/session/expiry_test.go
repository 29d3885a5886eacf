package session

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestPartialQuorumExpires runs the demo script with a 15-minute quorum
// timeout on a log whose clock the test moves: two cards in, sixteen minutes
// pass, and the next card first expires the partial quorum (logged, the
// shares wiped, progress reset), then starts a new one; the ceremony
// finishes and the log, replayed against the script, verifies. A log that
// claims an expiry before the timeout, or a card accepted after it, does
// not replay.
func TestPartialQuorumExpires(t *testing.T) {
	ctx := context.Background()
	raw, err := scripts.Get("demo")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte("quorum:\n  threshold: 3\n"), []byte("quorum:\n  threshold: 3\n  timeout: 15m\n"), 1)
	script, err := ceremony.LoadScript("demo-timeout.yaml", raw)
	if err != nil || script.Quorum.ExpiresAfter() != 15*time.Minute {
		t.Fatalf("script with a timeout: %v", err)
	}
	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	advance := func(d time.Duration) {
		mu.Lock()
		offset += d
		mu.Unlock()
	}
	r := newRig(t)
	l, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key, New: true, Now: clock,
		Open:          event.Open{ScriptSHA256: script.Digest},
		OpenArtefacts: []transparency.Artefact{{Name: "demo-timeout.yaml", Data: script.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	cfg, err := DemoConfig(script, l, false, r.skr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for !s.State().CollectingCards() {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"CO1", "CO2"} {
		if err := s.PresentCard(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if expired, err := s.ExpireQuorum(ctx); expired || err != nil {
		t.Fatalf("expired at once: %v %v", expired, err)
	}
	advance(16 * time.Minute)
	if err := s.PresentCard(ctx, "CO3"); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); st.Quorum || len(st.Accepted) != 1 || st.Accepted[0] != "CO3" {
		t.Fatalf("after the expiry: quorum %v, accepted %v", st.Quorum, st.Accepted)
	}
	for _, id := range []string{"CO1", "CO2"} {
		if err := s.PresentCard(ctx, id); err != nil {
			t.Fatalf("%s again: %v", id, err)
		}
	}
	if !s.State().Quorum {
		t.Fatal("no quorum after three fresh cards")
	}
	for s.Next() != NextDone {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatalf("at %v: %v", s.State().Next, err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := transparency.Verify(os.DirFS(r.dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("the log does not verify: %v", err)
	}
	var entries []*event.Entry
	expired := -1
	for i, raw := range rep.RawEntries {
		e, err := event.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind() == event.KindQuorumExpired {
			expired = i
		}
		entries = append(entries, e)
	}
	if expired < 0 {
		t.Fatal("no quorum.expired entry")
	}
	if _, err := ceremony.Replay(script, entries); err != nil {
		t.Fatalf("the log does not replay against its script: %v", err)
	}
	// Without the expiry entry, CO3 joins a partial quorum 16 minutes old.
	cut := append(append([]*event.Entry{}, entries[:expired]...), entries[expired+1:]...)
	if _, err := ceremony.Replay(script, cut); err == nil {
		t.Fatal("a card accepted after the timeout replays")
	}
	// An expiry stamped before the timeout does not replay either.
	early := *entries[expired]
	early.Time = entries[expired-1].Time
	entries[expired] = &early
	if _, err := ceremony.Replay(script, entries); err == nil {
		t.Fatal("an expiry before the timeout replays")
	}
}
