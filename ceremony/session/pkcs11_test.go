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
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keyceremony/keyceremony/ceremony/event"
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
	tok, faults := demoHSM(t, "ceremony-hsm")
	r := newRig(t)
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
	ianaSignatures(t, r.skr)
	// The log holds each bundle once: the failed attempt logged nothing.
	rep, err := transparency.Verify(os.DirFS(r.dir), transparency.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("the log does not verify: %v", err)
	}
	n := 0
	for _, e := range rep.Entries {
		if e.Kind == event.KindBundleSigned {
			n++
		}
		if e.Kind == event.KindHSMLoginFailed {
			t.Fatal("the locked token's refusal was logged as a failed login: nothing was tried")
		}
	}
	logins := 0
	for _, raw := range rep.RawEntries {
		e, err := event.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind() == event.KindHSMLogin {
			logins++
			if ev := e.Event.(event.HSMLogin); ev.Serial == "" || !strings.Contains(strings.Join(ev.Flags, ","), "PIN count low") {
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

// demoHSM makes a SoftHSM2 token holding the demo's KSK whose PIN the demo
// cards' secret derives, with the fault layer in front of it.
func demoHSM(t *testing.T, label string) (*hsm.PKCS11Token, *hsm.Faults) {
	t.Helper()
	ctx := context.Background()
	cards, err := quorum.LoadSimulated(scripts.DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	script, err := DemoScript()
	if err != nil {
		t.Fatal(err)
	}
	c, err := quorum.NewCollector(script.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range script.Quorum.Cards[:script.Quorum.Threshold] {
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
	module := hsmtest.SoftHSM(t, label, string(pin), map[string]crypto.Signer{"KSK1": ksk1})
	quorum.Wipe(pin)
	tok, err := hsm.OpenPKCS11(module, label)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	faults := hsm.NoFaults()
	tok.InjectFaults(faults)
	return tok, faults
}

// TestHSMFaults drives the demo ceremony on SoftHSM2 through the fault
// layer. A wrong PIN at the final try: the token says one more locks it,
// the refusal is logged once (hsm.login_failed), the officers present their
// cards again, and nothing else is tried. A slow HSM (every signature
// delayed): every bundle is signed once, in order. Both close with IANA's
// signatures and a log that verifies, and no SKR exists before the last
// bundle is signed.
func TestHSMFaults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		fault func(f *hsm.Faults)
	}{
		{"wrong PIN at the final try", func(f *hsm.Faults) {
			f.LoginError, f.TokenFlags = pkcs11.CKR_PIN_INCORRECT, pkcs11.CKF_USER_PIN_FINAL_TRY
		}},
		{"a slow HSM", func(f *hsm.Faults) { f.SignDelay = 150 * time.Millisecond }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, faults := demoHSM(t, "faulty-hsm")
			faults.Set(c.fault)
			r := newRig(t)
			s, l := r.open(t)
			defer l.Close(ctx)
			s.cfg.Token = tok
			var refused error
			for s.Next() != NextDone {
				st := s.State()
				if st.Signed < 9 && st.KSR != nil && st.Signed > 0 {
					if _, err := os.Stat(r.skr); err == nil {
						t.Fatalf("an SKR exists with %d of 9 bundles signed", st.Signed)
					}
				}
				_, err := s.AutoStep(ctx)
				if err == nil {
					continue
				}
				if refused != nil || !strings.Contains(err.Error(), "one more wrong PIN locks it") {
					t.Fatalf("at %s: %v", stepID(s), err)
				}
				refused = err
				if st := s.State(); st.HSM || st.Quorum || tok.LoggedIn() {
					t.Fatalf("after the refusal: HSM %v quorum %v", st.HSM, st.Quorum)
				}
				faults.Set(func(f *hsm.Faults) { f.LoginError, f.TokenFlags = 0, 0 })
			}
			if (refused != nil) != strings.Contains(c.name, "PIN") {
				t.Fatalf("refused: %v", refused)
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err := transparency.Verify(os.DirFS(r.dir), transparency.VerifyOptions{})
			if err != nil || !rep.OK || !rep.Closed {
				t.Fatalf("the log: %v %+v", err, rep.FirstFailure())
			}
			counts := map[string]int{}
			bundle := 0
			for _, raw := range rep.RawEntries {
				e, _ := event.Parse(raw)
				counts[e.Kind()]++
				if ev, ok := e.Event.(event.BundleSigned); ok {
					bundle++
					if ev.Bundle != bundle {
						t.Fatalf("bundle %d logged as the %d-th", ev.Bundle, bundle)
					}
				}
			}
			wantFailed := 0
			if refused != nil {
				wantFailed = 1
			}
			if counts[event.KindBundleSigned] != 9 || counts[event.KindHSMLoginFailed] != wantFailed || counts[event.KindHSMLogin] != 1 {
				t.Fatalf("entries by kind: %v", counts)
			}
			ianaSignatures(t, r.skr)
		})
	}
}

// ianaSignatures checks that the SKR at path carries exactly IANA's
// signatures of the 2010Q1 KSR (test KSK1 signs deterministically).
func ianaSignatures(t *testing.T, path string) {
	t.Helper()
	got, _ := os.ReadFile(path)
	skr, err := dnssec.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	golden, _ := os.ReadFile("../../dnssec/testdata/skr-root-2010-q1-0.xml")
	want, _ := dnssec.Parse(golden)
	if len(skr.Response.Bundles) != len(want.Response.Bundles) {
		t.Fatalf("%d bundles, IANA's SKR has %d", len(skr.Response.Bundles), len(want.Response.Bundles))
	}
	for i, b := range skr.Response.Bundles {
		if b.Signatures[0].SignatureData != want.Response.Bundles[i].Signatures[0].SignatureData {
			t.Errorf("bundle %d: signature differs from IANA's SKR", i+1)
		}
	}
}
