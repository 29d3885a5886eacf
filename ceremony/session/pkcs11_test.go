package session

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/scripts"
	"github.com/keyceremony/keyceremony/transparency"
)

// TestCeremonyOverPKCS11WithTokenPulled runs the demo ceremony against a
// real SoftHSM2 token whose PIN is derived from the demo cards' secret, and
// pulls the token out (through the fault layer) after four of the nine
// signatures: the signing step stays open with four bundles logged, the
// error says to reconnect and retry, nothing is half-written; once the
// token is back the ceremony finishes and the SKR carries IANA's signatures.
func TestCeremonyOverPKCS11WithTokenPulled(t *testing.T) {
	ctx := context.Background()
	const label = "ceremony-hsm"
	cards, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	c, err := quorum.NewCollector(r.script.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range r.script.Quorum.Cards[:r.script.Quorum.Threshold] {
		card, _ := cards.Read(ctx, info.ID)
		if err := c.Present(card); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := c.Recover()
	if err != nil {
		t.Fatal(err)
	}
	pin, err := quorum.DerivePIN(secret, label)
	quorum.Wipe(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("../../hsm/assets/demo-ksk1.key")
	blk, _ := pem.Decode(b)
	ksk1, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	module := hsmtest.SoftHSM(t, label, string(pin), map[string]crypto.Signer{hsm.DemoKeyLabel: ksk1})
	quorum.Wipe(pin)
	tok, err := hsm.OpenPKCS11(module, label)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	faults := hsm.NoFaults()
	tok.InjectFaults(faults)
	// The PIN is locked at first: the login is refused without a try.
	faults.Set(func(f *hsm.Faults) { f.RemoveAfterSigns = 4; f.TokenFlags = pkcs11.CKF_USER_PIN_LOCKED })

	s, l := r.open(t)
	defer l.Close(ctx)
	s.cfg.Token = tok
	var pulled, locked error
	for s.Next() != NextDone {
		_, err := s.AutoStep(ctx)
		if err == nil {
			continue
		}
		if locked == nil && strings.Contains(err.Error(), "user PIN is locked; nothing was tried") {
			locked = err
			if s.State().HSM || tok.LoggedIn() {
				t.Fatal("logged in to a locked token")
			}
			faults.Set(func(f *hsm.Faults) { f.TokenFlags = pkcs11.CKF_USER_PIN_COUNT_LOW })
			continue
		}
		if pulled != nil || !errors.Is(err, hsm.ErrDeviceRemoved) {
			t.Fatalf("at %v: %v", s.State().Next, err)
		}
		pulled = err
		st := s.State()
		if st.Signed != 4 || st.Closed {
			t.Fatalf("after the token was pulled: %d bundles signed, closed %v", st.Signed, st.Closed)
		}
		if _, err := os.Stat(r.skr); err == nil {
			t.Fatal("an SKR was written with the token pulled")
		}
		faults.Reconnect()
	}
	if pulled == nil || locked == nil {
		t.Fatalf("the token was never pulled (%v) or never locked (%v)", pulled, locked)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); !st.Closed || st.Signed != 9 {
		t.Fatalf("final state: closed %v, %d signed", st.Closed, st.Signed)
	}
	got, _ := os.ReadFile(r.skr)
	skr, err := dnssec.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	golden, _ := os.ReadFile("../../dnssec/testdata/skr-root-2010-q1-0.xml")
	want, _ := dnssec.Parse(golden)
	for i, b := range skr.Response.Bundles {
		if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
			t.Errorf("bundle %d: signature differs from IANA's SKR", i+1)
		}
	}
	// The log holds each bundle once: the failed attempt logged nothing.
	rep, err := transparency.Verify(os.DirFS(r.dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("the log does not verify: %v", err)
	}
	n := 0
	for _, e := range rep.Entries {
		if e.Kind == ceremony.KindBundleSigned {
			n++
		}
		if e.Kind == ceremony.KindHSMLoginFailed {
			t.Fatal("the locked token's refusal was logged as a failed login: nothing was tried")
		}
	}
	logins := 0
	for _, raw := range rep.RawEntries {
		e, err := transparency.ParseEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == ceremony.KindHSMLogin {
			logins++
			if e.Field("serial") == "" || !strings.Contains(string(e.Fields["flags"]), "PIN count low") {
				t.Fatalf("hsm.login records no serial or flags: %s", raw)
			}
		}
	}
	if logins == 0 {
		t.Fatal("no hsm.login entry")
	}
	if n != 9 {
		t.Fatalf("%d bundle.signed entries, want 9", n)
	}
}
