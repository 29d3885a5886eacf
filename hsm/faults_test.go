package hsm_test

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/miekg/pkcs11"
)

// TestFaultWrongPIN: a wrong PIN on a token at its final try says that one
// more wrong PIN locks it; a locked token says who must unlock it; neither
// leaves the token logged in, and the right PIN works afterwards.
func TestFaultWrongPIN(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	f := hsm.NoFaults()
	tok.InjectFaults(f)
	f.Set(func(f *hsm.Faults) {
		f.LoginError = pkcs11.CKR_PIN_INCORRECT
		f.TokenFlags = pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY
	})
	info, err := tok.Info()
	if err != nil || !info.PINCountLow || !info.PINFinalTry || info.PINLocked {
		t.Fatalf("info %+v, %v", info, err)
	}
	err = tok.Login(ctx, []byte("000000"))
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "one more wrong PIN locks it") || tok.LoggedIn() {
		t.Fatalf("wrong PIN at the final try: %v", err)
	}
	if strings.Contains(err.Error(), "000000") {
		t.Fatal("the PIN reached the error")
	}
	f.Set(func(f *hsm.Faults) { f.LoginError, f.TokenFlags = pkcs11.CKR_PIN_LOCKED, pkcs11.CKF_USER_PIN_LOCKED })
	if info, _ := tok.Info(); !info.PINLocked {
		t.Fatal("the locked flag is not shown")
	}
	if err := tok.Login(ctx, []byte(testTokenPIN)); !errors.Is(err, hsm.ErrPINLocked) || !strings.Contains(err.Error(), "security officer") {
		t.Fatalf("locked token: %v", err)
	}
	f.Set(func(f *hsm.Faults) { f.LoginError, f.TokenFlags = 0, 0 })
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil || !tok.LoggedIn() {
		t.Fatalf("right PIN afterwards: %v", err)
	}
}

// TestFaultRemovedMidSigning pulls the token out after four of the nine
// bundles of IANA's 2010Q1 KSR: the fifth fails with ErrDeviceRemoved and a
// line that says to reconnect and retry, and no signature comes back; once
// it is back, signing every bundle again gives IANA's signatures. A slow HSM
// (every signature delayed) gives the same signatures.
func TestFaultRemovedMidSigning(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	f := hsm.NoFaults()
	tok.InjectFaults(f)
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		t.Fatal(err)
	}
	signAll := func() (int, error) { return signLikeIANA(t, tok) }

	f.Set(func(f *hsm.Faults) { f.RemoveAfterSigns = 4 })
	n, err := signAll()
	if n != 4 || !errors.Is(err, hsm.ErrDeviceRemoved) || !strings.Contains(err.Error(), "reconnect it and retry the step") {
		t.Fatalf("removed after 4 signatures: stopped at bundle %d with %v", n+1, err)
	}
	if _, err := tok.Info(); err == nil {
		t.Fatal("a removed token answered")
	}
	f.Reconnect()
	before := f.Signs()
	if n, err := signAll(); n != 9 || err != nil {
		t.Fatalf("after reconnecting: %d bundles, %v", n, err)
	}
	f.Set(func(f *hsm.Faults) { f.SignDelay = 30 * time.Millisecond })
	if n, err := signAll(); n != 9 || err != nil {
		t.Fatalf("slow HSM: %d bundles, %v", n, err)
	}
	if got := f.Signs() - before; got != 18 {
		t.Fatalf("%d signatures went through the layer, want 18", got)
	}
}

// TestRSAWithoutPKCS1Mechanism: on a token without CKM_RSA_PKCS the signer
// pads locally and uses CKM_RSA_X_509, giving IANA's signatures still; a
// token with neither says which mechanism it lacks.
func TestRSAWithoutPKCS1Mechanism(t *testing.T) {
	ctx := context.Background()
	tok := softHSM(t)
	defer tok.Close()
	f := hsm.NoFaults()
	f.Set(func(f *hsm.Faults) { f.RefuseMechanisms = []uint{pkcs11.CKM_RSA_PKCS} })
	tok.InjectFaults(f)
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		t.Fatal(err)
	}
	if n, err := signLikeIANA(t, tok); n != 9 || err != nil {
		t.Fatalf("without CKM_RSA_PKCS: %d bundles signed: %v", n, err)
	}
	f.Set(func(f *hsm.Faults) { f.RefuseMechanisms = []uint{pkcs11.CKM_RSA_PKCS, pkcs11.CKM_RSA_X_509} })
	k2, _ := tok.Key(ctx, "KSK1")
	digest := make([]byte, 32)
	if _, err := k2.Sign(nil, digest, crypto.SHA256); err == nil || !strings.Contains(err.Error(), "CKM_RSA_X_509") || !strings.Contains(err.Error(), "does not support this mechanism") {
		t.Fatalf("a token with neither mechanism: %v", err)
	}
}
