package session

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestClockJumps: the laptop's wall clock jumps forward an hour, then back
// two, mid-ceremony: each jump is logged as an exception at the current
// step, the entry times never go back, and the log replays.
func TestClockJumps(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var offset time.Duration
	clock := func() time.Time { return time.Now().Add(offset) }
	l, err := transparency.Open(ctx, r.dir, transparency.Options{Key: r.key, New: true, Now: clock,
		Open:          event.Open{ScriptSHA256: r.script.Digest},
		OpenArtefacts: []transparency.Artefact{{Name: "demo.yaml", Data: r.script.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	cfg, err := DemoConfig(r.script, l, false, filepath.Join(t.TempDir(), "skr.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClockJumps = true
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	step := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := s.AutoStep(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	step(3)
	if n := len(s.State().Exceptions); n != 0 {
		t.Fatalf("%d exceptions with a steady clock", n)
	}
	offset += time.Hour
	step(2)
	offset -= 2 * time.Hour
	step(2)
	ex := s.State().Exceptions
	if len(ex) != 2 || !strings.Contains(ex[0].Text, "jumped forward by 1h0m0s") || !strings.Contains(ex[1].Text, "jumped back by 2h0m0s") {
		t.Fatalf("exceptions: %+v", ex)
	}
	for s.Next() != NextDone {
		step(1)
	}
	l.Close(ctx)
	entries, err := readEntries(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Time.Before(entries[i-1].Time) {
			t.Fatalf("entry %d is older than entry %d", i, i-1)
		}
	}
}
