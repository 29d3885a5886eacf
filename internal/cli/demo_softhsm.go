package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
)

// softHSMModule is Debian's SoftHSM2 PKCS#11 library.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// RecoveryTokenLabel is the label of the rehearsal's second HSM, at the
// other facility, that a recovery restores the backup onto.
const RecoveryTokenLabel = "keyceremony-facility-b"

// demoRecoveryHolders are the rehearsal's seven recovery key share holders.
func demoRecoveryHolders() []quorum.CardInfo {
	var out []quorum.CardInfo
	for i, name := range []string{"Hiroshi Sato", "Ingrid Nilsson", "Jamal Bakr", "Kateryna Melnyk", "Luis Ortega", "Mei Lin", "Nadia Rahman"} {
		out = append(out, quorum.CardInfo{ID: fmt.Sprintf("RK%d", i+1), Holder: name})
	}
	return out
}

// demoSoftHSM opens the rehearsal's second HSM: a SoftHSM2 token in its own
// folder beside the log (SOFTHSM2_CONF points there for this process),
// made on first use with the PIN the rehearsal's officers' cards derive for
// its label, so that only their quorum activates it.
func demoSoftHSM(dir string, roster *quorum.Roster, cards quorum.Reader) (*hsm.PKCS11Token, func(), error) {
	if _, err := os.Stat(softHSMModule); err != nil {
		return nil, nil, usageErr("demo: a recovery restores onto a second HSM, a SoftHSM2 token here: install SoftHSM2 (apt-get install softhsm2, or make deps)")
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, nil, operational(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600); err != nil {
		return nil, nil, operational(err)
	}
	// The module reads SOFTHSM2_CONF when it is initialised; the process's
	// environment is put back as it was once the token is open.
	was, had := os.LookupEnv("SOFTHSM2_CONF")
	os.Setenv("SOFTHSM2_CONF", conf)
	defer func() {
		if had {
			os.Setenv("SOFTHSM2_CONF", was)
		} else {
			os.Unsetenv("SOFTHSM2_CONF")
		}
	}()
	// Made on first use: a start that stopped before, or after, making it
	// finds it or makes it.
	if labels, err := hsm.TokenLabels(softHSMModule); err == nil && !slices.Contains(labels, RecoveryTokenLabel) {
		pin, err := session.RehearsalPIN(roster, cards, RecoveryTokenLabel)
		if err != nil {
			return nil, nil, operational(err)
		}
		so := make([]byte, 16)
		rand.Read(so)
		err = hsm.InitToken(softHSMModule, RecoveryTokenLabel, []byte(hex.EncodeToString(so)), pin)
		quorum.Wipe(pin)
		if err != nil {
			return nil, nil, operational(fmt.Errorf("demo: make the second HSM: %w", err))
		}
	}
	tok, err := hsm.OpenPKCS11(softHSMModule, RecoveryTokenLabel)
	if err != nil {
		return nil, nil, operational(fmt.Errorf("demo: the second HSM: %w", err))
	}
	return tok, func() { tok.Close() }, nil
}

// sameRoster reports whether two roster files hold the same roster.
func sameRoster(a, b []byte) bool {
	ra, err := quorum.ParseRosterFile(a)
	if err != nil {
		return false
	}
	rb, err := quorum.ParseRosterFile(b)
	if err != nil {
		return false
	}
	ma, _ := quorum.MarshalRosterFile(ra)
	mb, _ := quorum.MarshalRosterFile(rb)
	return bytes.Equal(ma, mb)
}
