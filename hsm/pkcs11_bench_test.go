package hsm_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/keyceremony/keyceremony/hsm/hsmtest"
	"github.com/miekg/pkcs11"
)

// BenchmarkSoftHSMSign signs a SHA-256 digest with test KSK1 (RSA-2048) and
// a P-256 key in SoftHSM2 through the package's crypto.Signer and, as the
// baseline, with raw C_SignInit/C_Sign calls on a session of the same kind.
// The two alternate within each iteration, so the machine's drift hits both
// alike; the metrics are the time of each path and their ratio.
func BenchmarkSoftHSMSign(b *testing.B) {
	ctx := context.Background()
	tok := softHSM(b)
	defer tok.Close()
	if err := tok.Login(ctx, []byte(testTokenPIN)); err != nil {
		b.Fatal(err)
	}
	p := pkcs11.New(hsmtest.SoftHSMModule)
	if err := p.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		b.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		b.Fatal(err)
	}
	var sess pkcs11.SessionHandle
	found := false
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Label == testLabel {
			if sess, err = p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
				b.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		b.Fatal("no token")
	}
	defer p.CloseSession(sess)
	digest := sha256.Sum256([]byte("an RRset"))
	for _, label := range []string{"KSK1", "EC1"} {
		b.Run(label, func(b *testing.B) {
			k, err := tok.Key(ctx, label)
			if err != nil {
				b.Fatal(err)
			}
			p.FindObjectsInit(sess, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
			objs, _, err := p.FindObjects(sess, 1)
			p.FindObjectsFinal(sess)
			if err != nil || len(objs) != 1 {
				b.Fatalf("find %s: %v", label, err)
			}
			mech, msg := uint(pkcs11.CKM_RSA_PKCS), append(append([]byte{}, sha256DigestInfo...), digest[:]...)
			if label == "EC1" {
				mech, msg = pkcs11.CKM_ECDSA, digest[:]
			}
			var signer, raw time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := k.Sign(nil, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := p.SignInit(sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, objs[0]); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Sign(sess, msg); err != nil {
					b.Fatal(err)
				}
				signer += t1.Sub(t0)
				raw += time.Since(t1)
			}
			b.ReportMetric(float64(signer.Nanoseconds())/float64(b.N), "signer-ns/op")
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(signer)/float64(raw), "signer/raw")
		})
	}
}

var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
