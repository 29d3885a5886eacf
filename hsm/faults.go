package hsm

import (
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// Faults is a fault-injecting layer between a PKCS#11 token and its real
// library, for rehearsing failures that a real HSM gives rarely and at the
// worst moment: a wrong PIN, a token pulled out mid-signature, a slow HSM,
// the token's PIN warnings. Set its fields, then InjectFaults; change them
// at any time (they are read under a lock).
type Faults struct {
	mu sync.Mutex
	// LoginError, when non-zero, is what every C_Login returns (e.g.
	// CKR_PIN_INCORRECT) instead of calling the library.
	LoginError pkcs11.Error
	// TokenFlags are ORed into the token's flags (e.g.
	// CKF_USER_PIN_FINAL_TRY).
	TokenFlags uint
	// RemoveAfterSigns: after this many more successful C_Sign calls the
	// token is "removed": every call fails with CKR_DEVICE_REMOVED until
	// Reconnect. Negative: never.
	RemoveAfterSigns int
	// SignDelay is added before every C_Sign.
	SignDelay time.Duration
	// RefuseMechanisms are answered CKR_MECHANISM_INVALID by C_SignInit, as
	// by an HSM that lacks them.
	RefuseMechanisms []uint

	removed bool
	signs   int
}

// NoFaults returns a layer that passes everything through.
func NoFaults() *Faults { return &Faults{RemoveAfterSigns: -1} }

// Set changes the faults under the lock.
func (f *Faults) Set(change func(f *Faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// Reconnect puts the "removed" token back.
func (f *Faults) Reconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = false
	f.RemoveAfterSigns = -1
}

// Signs counts the C_Sign calls that succeeded.
func (f *Faults) Signs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signs
}

// InjectFaults puts the layer between the token and its library.
func (t *PKCS11Token) InjectFaults(f *Faults) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx = &faulty{module: t.ctx, f: f}
}

type faulty struct {
	module
	f *Faults
}

func (m *faulty) gone() error {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	if m.f.removed {
		return pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)
	}
	return nil
}

func (m *faulty) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	if err := m.gone(); err != nil {
		return err
	}
	m.f.mu.Lock()
	le := m.f.LoginError
	m.f.mu.Unlock()
	if le != 0 {
		return le
	}
	return m.module.Login(sh, userType, pin)
}

func (m *faulty) GetTokenInfo(slot uint) (pkcs11.TokenInfo, error) {
	if err := m.gone(); err != nil {
		return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT)
	}
	ti, err := m.module.GetTokenInfo(slot)
	m.f.mu.Lock()
	ti.Flags |= m.f.TokenFlags
	m.f.mu.Unlock()
	return ti, err
}

func (m *faulty) FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error {
	if err := m.gone(); err != nil {
		return err
	}
	return m.module.FindObjectsInit(sh, temp)
}

func (m *faulty) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	if err := m.gone(); err != nil {
		return nil, err
	}
	return m.module.GetAttributeValue(sh, o, a)
}

func (m *faulty) SignInit(sh pkcs11.SessionHandle, mech []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error {
	if err := m.gone(); err != nil {
		return err
	}
	m.f.mu.Lock()
	refused := m.f.RefuseMechanisms
	m.f.mu.Unlock()
	for _, r := range refused {
		if len(mech) > 0 && mech[0].Mechanism == r {
			return pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)
		}
	}
	return m.module.SignInit(sh, mech, o)
}

func (m *faulty) Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error) {
	m.f.mu.Lock()
	delay := m.f.SignDelay
	if m.f.RemoveAfterSigns == 0 {
		m.f.removed = true
	}
	removed := m.f.removed
	m.f.mu.Unlock()
	time.Sleep(delay)
	if removed {
		// The operation SignInit started ends with the device; finish it
		// in the real library so the real session stays usable.
		m.module.Sign(sh, message)
		return nil, pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)
	}
	sig, err := m.module.Sign(sh, message)
	if err == nil {
		m.f.mu.Lock()
		m.f.signs++
		if m.f.RemoveAfterSigns > 0 {
			m.f.RemoveAfterSigns--
		}
		m.f.mu.Unlock()
	}
	return sig, err
}
