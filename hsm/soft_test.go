package hsm_test

import (
	"crypto/sha256"
	"testing"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/hsmtest"
)

func TestSoftTokenConformance(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) hsmtest.Fixture {
		pin := []byte("0123456789abcdef")
		tok, err := hsm.DemoToken(sha256.Sum256(pin))
		if err != nil {
			t.Fatal(err)
		}
		return hsmtest.Fixture{Token: tok, PIN: pin, KeyLabel: hsm.DemoKeyLabel}
	})
}
