package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/audit"
	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/hsm/tokencard"
	"github.com/keyceremony/keyceremony/transparency"
	"gopkg.in/yaml.v3"
)

// TestCardPulledDuringQuorum: three PKCS#11 cards (SoftHSM2 tokens) whose
// cosigning keys were made on the cards; CO2's card is pulled out of its
// reader after it was read and accepted, before the quorum's checkpoint is
// cosigned. The quorum stands (the share was read), CO1 and CO3 cosign the
// quorum's checkpoint and the log says so, and CO2's card is named in an
// exception; at the close CO2, the card back, cosigns the final checkpoint.
func TestCardPulledDuringQuorum(t *testing.T) {
	ctx := context.Background()
	pins := map[string]string{"CO1": "pin-one", "CO2": "pin-two", "CO3": "pin-three"}
	module := hsmtest.SoftHSMTokens(t, pins)
	var holders []quorum.CardInfo
	for _, id := range []string{"CO1", "CO2", "CO3"} {
		holders = append(holders, quorum.CardInfo{ID: id, Holder: "Holder of " + id})
	}
	roster, cards, err := quorum.Deal(rand.Reader, 3, holders)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := quorum.NewCollector(roster)
	for _, card := range cards {
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := quorum.DerivePIN(secret, "test-hsm")
	quorum.Wipe(secret)
	token := hsm.NewSoftToken("test-hsm", sha256.Sum256(pin), nil)
	for i, card := range cards {
		key, err := tokencard.Write(ctx, module, card, pins[card.ID])
		if err != nil {
			t.Fatal(err)
		}
		roster.Cards[i].Key = key
	}
	rb, _ := yaml.Marshal(map[string]any{"quorum": roster})
	raw := []byte(`ceremony: A card pulled during the quorum (test)
zone: "."
roles:
  - {id: CA, title: Ceremony Administrator}
  - {id: IW, title: Internal Witness}
  - {id: CO1, title: Crypto Officer 1}
  - {id: CO2, title: Crypto Officer 2}
  - {id: CO3, title: Crypto Officer 3}
quorum: roster.yaml
acts:
  - title: Activate and deactivate the HSM
    steps:
      - {id: "1.1", role: CA, text: The officers present their cards., action: quorum.collect}
      - {id: "1.2", role: CA, text: Activate the HSM., action: hsm.login}
      - {id: "1.3", role: CA, text: Deactivate the HSM., action: hsm.logout}
`)
	script, err := ceremony.LoadScriptWith("pulled.yaml", raw, func(string) ([]byte, error) { return rb, nil })
	if err != nil {
		t.Fatal(err)
	}
	skey, _, _ := transparency.GenerateKey("pulled.keyceremony.invalid/rehearsal")
	key, _ := transparency.ParseKey(skey)
	dir := filepath.Join(t.TempDir(), "log")
	l, err := transparency.Open(ctx, dir, transparency.Options{Key: key, New: true,
		Open:          event.Open{ScriptSHA256: script.Digest},
		OpenArtefacts: []transparency.Artefact{{Name: "pulled.yaml", Data: raw}, {Name: "roster.yaml", Data: rb}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	pulled := hsm.NoFaults()
	reader := &tokencard.Reader{Module: module, Faults: map[string]*hsm.Faults{"CO2": pulled},
		PIN: func(_ context.Context, id string) (string, error) { return pins[id], nil }}
	s, err := Open(ctx, Config{Script: script, Log: l, Token: token, Cards: reader})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO1", "CO2"} {
		if err := s.PresentCard(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// CO2's card leaves its reader: the next use of it fails.
	pulled.Set(func(f *hsm.Faults) { f.RemoveAfterSigns = 0 })
	if err := s.PresentCard(ctx, "CO3"); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if !st.Quorum || len(st.Cosigned) != 1 || !slices.Equal(st.Cosigned[0].Cosigners, []string{"CO1", "CO3"}) {
		t.Fatalf("quorum %v, cosigned %+v", st.Quorum, st.Cosigned)
	}
	if len(st.Exceptions) != 1 || !strings.Contains(st.Exceptions[0].Text, "could not cosign the quorum's checkpoint: CO2: ") ||
		!strings.Contains(st.Exceptions[0].Text, "CKR_DEVICE_REMOVED") {
		t.Fatalf("exceptions: %+v", st.Exceptions)
	}
	pulled.Reconnect()
	for s.Next() != NextDone {
		if _, err := s.AutoStep(ctx); err != nil {
			t.Fatalf("at %s: %v", stepID(s), err)
		}
	}
	if st := s.Snapshot(); !slices.Equal(st.Final.Cosigned, []string{"CO1", "CO2", "CO3"}) {
		t.Fatalf("final cosigners %v", st.Final.Cosigned)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cps := map[uint64][]byte{}
	ents, _ := os.ReadDir(filepath.Join(dir, "checkpoints"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "checkpoints", e.Name()))
		var n uint64
		for _, ch := range e.Name() {
			n = n*10 + uint64(ch-'0')
		}
		cps[n] = b
	}
	entries, err := readEntries(dir)
	if err != nil {
		t.Fatal(err)
	}
	final, err := ceremony.Replay(script, entries)
	if err != nil {
		t.Fatal(err)
	}
	findings, _ := audit.VerifyCosignatures(final, entries, cps, audit.CosignPolicy{Require: 3})
	for _, f := range findings {
		if !f.OK || f.Warn {
			t.Fatalf("verify: %s", f.Detail)
		}
	}
}
