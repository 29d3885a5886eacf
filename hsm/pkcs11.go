package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// More errors the PKCS#11 backend returns; callers branch on them.
var (
	// ErrTokenNotFound: no token with that label is present. Check that the
	// HSM is connected and the profile names its label.
	ErrTokenNotFound = errors.New("token not found")
	// ErrPINLocked: the token refuses all PINs now; it must be unlocked by
	// its security officer.
	ErrPINLocked = errors.New("PIN locked")
	// ErrDeviceRemoved: the token went away during the operation. Reconnect
	// it and retry the step; nothing was half-written.
	ErrDeviceRemoved = errors.New("token removed")
)

// TokenInfo is what the token says about itself before login.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial  string
	PINCountLow, PINFinalTry, PINLocked bool
	// ProtectedPath: the PIN is entered on the device (PED, PIN pad).
	ProtectedPath bool
}

// Flags names the token's raised PIN flags, for the screen and the log.
func (i TokenInfo) Flags() []string {
	var out []string
	for _, f := range []struct {
		on   bool
		text string
	}{{i.PINCountLow, "PIN count low"}, {i.PINFinalTry, "final PIN try"}, {i.PINLocked, "PIN locked"}, {i.ProtectedPath, "PIN entered on the device"}} {
		if f.on {
			out = append(out, f.text)
		}
	}
	return out
}

// Informer is a token that reports its flags before login.
type Informer interface {
	Info() (TokenInfo, error)
}

// PKCS11Token is a token reached through a PKCS#11 module, found by label
// (never by slot number: SoftHSM and others renumber slots).
type PKCS11Token struct {
	ctx    module
	slot   uint
	label  string
	shared bool // the module was initialised by another token of this process

	mu       sync.Mutex
	session  pkcs11.SessionHandle
	loggedIn bool
	// login counts logins; a key's cached private object handle is used
	// only within the login it was found in.
	login uint64
}

// module is the part of a PKCS#11 library the token uses once its session is
// open: *pkcs11.Ctx, or the fault-injecting layer of the tests.
type module interface {
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	CloseSession(sh pkcs11.SessionHandle) error
	Finalize() error
	Destroy()
	GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error)
	FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
	SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error
	Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error)
	GenerateKeyPair(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, public, private []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error)
	DestroyObject(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle) error
	SetPIN(sh pkcs11.SessionHandle, oldpin, newpin string) error
	CreateObject(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) (pkcs11.ObjectHandle, error)
	WrapKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, wrappingKey, key pkcs11.ObjectHandle) ([]byte, error)
	UnwrapKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, unwrappingKey pkcs11.ObjectHandle, wrapped []byte, a []*pkcs11.Attribute) (pkcs11.ObjectHandle, error)
}

// loadModule loads and initialises a PKCS#11 module. shared is set when the
// process had initialised it already (another token holds it); release
// finalises it only if this call initialised it.
func loadModule(module string) (p *pkcs11.Ctx, shared bool, release func(), err error) {
	if _, err := os.Stat(module); err != nil {
		return nil, false, nil, fmt.Errorf("PKCS#11 module %s: %w; install it or fix the profile's module path", module, err)
	}
	p = pkcs11.New(module)
	if p == nil {
		return nil, false, nil, fmt.Errorf("PKCS#11 module %s does not load", module)
	}
	if err := p.Initialize(); err != nil {
		if e, ok := err.(pkcs11.Error); ok && e == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			shared = true // another token of this process holds the module
		} else {
			p.Destroy()
			return nil, false, nil, fmt.Errorf("initialise PKCS#11 module %s: %w (for SoftHSM, check SOFTHSM2_CONF and its token directory)", module, err)
		}
	}
	release = func() {
		if !shared {
			p.Finalize()
		}
		p.Destroy()
	}
	return p, shared, release, nil
}

// TokenLabels lists the labels of the tokens present in a module's slots now
// (smart cards in their readers, HSMs connected).
func TokenLabels(module string) ([]string, error) {
	p, _, release, err := loadModule(module)
	if err != nil {
		return nil, err
	}
	defer release()
	slots, err := p.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("list PKCS#11 slots: %w", mapErr(err))
	}
	var out []string
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil {
			out = append(out, ti.Label)
		}
	}
	return out, nil
}

// OpenPKCS11 loads a PKCS#11 module and opens a session on the token with the
// given label. Close releases it; a process opens one module once.
func OpenPKCS11(module, label string) (*PKCS11Token, error) {
	return OpenPKCS11Serial(module, label, "")
}

// OpenPKCS11Serial is OpenPKCS11 that also checks the token's serial number,
// when serial is not empty: two HSMs may carry the same label, and the
// ceremony must use the one its profile names.
func OpenPKCS11Serial(module, label, serial string) (*PKCS11Token, error) {
	p, shared, release, err := loadModule(module)
	if err != nil {
		return nil, err
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		release()
		return nil, fmt.Errorf("list PKCS#11 slots: %w", err)
	}
	var wrongSerial []string
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil || ti.Label != label {
			continue
		}
		if serial != "" && strings.TrimSpace(ti.SerialNumber) != serial {
			wrongSerial = append(wrongSerial, strings.TrimSpace(ti.SerialNumber))
			continue
		}
		sess, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			release()
			return nil, fmt.Errorf("open a session on token %q: %w", label, mapErr(err))
		}
		return &PKCS11Token{ctx: p, slot: s, label: label, session: sess, shared: shared}, nil
	}
	release()
	if len(wrongSerial) > 0 {
		return nil, fmt.Errorf("%w: the token labelled %q has serial %s, not %s; is this the ceremony's HSM?", ErrTokenNotFound, label, strings.Join(wrongSerial, ", "), serial)
	}
	return nil, fmt.Errorf("%w: no token labelled %q among %d present; connect the HSM, or fix the profile's label", ErrTokenNotFound, label, len(slots))
}

// Close logs out, closes the session and unloads the module.
func (t *PKCS11Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loggedIn {
		t.ctx.Logout(t.session)
	}
	t.ctx.CloseSession(t.session)
	var err error
	if !t.shared {
		err = t.ctx.Finalize()
	}
	t.ctx.Destroy()
	return err
}

func (t *PKCS11Token) Label() string { return t.label }

// Info reads the token's flags: whether the PIN count is low, whether the
// next wrong PIN locks it, whether the PIN is entered on the device.
func (t *PKCS11Token) Info() (TokenInfo, error) {
	ti, err := t.ctx.GetTokenInfo(t.slot)
	if err != nil {
		return TokenInfo{}, mapErr(err)
	}
	return TokenInfo{Label: ti.Label, Manufacturer: ti.ManufacturerID, Model: ti.Model, Serial: ti.SerialNumber,
		PINCountLow: ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0, PINFinalTry: ti.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		PINLocked: ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0, ProtectedPath: ti.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0}, nil
}

func (t *PKCS11Token) Login(_ context.Context, pin []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.ctx.Login(t.session, pkcs11.CKU_USER, string(pin))
	if e, ok := err.(pkcs11.Error); ok && e == pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		err = nil
	}
	if err != nil {
		err = mapErr(err)
		if errors.Is(err, ErrPINIncorrect) {
			if info, ierr := t.Info(); ierr == nil && info.PINFinalTry {
				return fmt.Errorf("log in to token %q: %w; one more wrong PIN locks it", t.label, err)
			}
		}
		return fmt.Errorf("log in to token %q: %w", t.label, err)
	}
	t.loggedIn = true
	t.login++
	return nil
}

// SetPIN changes the token's user PIN from old to new (C_SetPIN), for card
// provisioning: afterwards only the PIN derived from the cards opens it.
func (t *PKCS11Token) SetPIN(_ context.Context, old, new []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ctx.SetPIN(t.session, string(old), string(new)); err != nil {
		return fmt.Errorf("set the user PIN of token %q: %w", t.label, mapErr(err))
	}
	return nil
}

func (t *PKCS11Token) Logout(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loggedIn {
		return nil
	}
	t.loggedIn = false
	if err := t.ctx.Logout(t.session); err != nil {
		if e, ok := err.(pkcs11.Error); ok && e == pkcs11.CKR_USER_NOT_LOGGED_IN {
			return nil
		}
		return fmt.Errorf("log out of token %q: %w", t.label, mapErr(err))
	}
	return nil
}

func (t *PKCS11Token) LoggedIn() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loggedIn
}

// KeyLabels lists the labels of the token's public keys.
func (t *PKCS11Token) KeyLabels(context.Context) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ctx.FindObjectsInit(t.session, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)}); err != nil {
		return nil, mapErr(err)
	}
	defer t.ctx.FindObjectsFinal(t.session)
	var labels []string
	for {
		objs, _, err := t.ctx.FindObjects(t.session, 64)
		if err != nil {
			return nil, mapErr(err)
		}
		if len(objs) == 0 {
			break
		}
		for _, o := range objs {
			a, err := t.ctx.GetAttributeValue(t.session, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
			if err == nil {
				labels = append(labels, string(a[0].Value))
			}
		}
	}
	sort.Strings(labels)
	return labels, nil
}

// find returns the one object of a class with a label: a key, or a data
// object (then a missing one is ErrNoData).
func (t *PKCS11Token) find(class uint, label string) (pkcs11.ObjectHandle, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}
	if err := t.ctx.FindObjectsInit(t.session, tmpl); err != nil {
		return 0, mapErr(err)
	}
	objs, _, err := t.ctx.FindObjects(t.session, 2)
	t.ctx.FindObjectsFinal(t.session)
	if err != nil {
		return 0, mapErr(err)
	}
	what, missing := "key", ErrKeyNotFound
	if class == pkcs11.CKO_DATA {
		what, missing = "data object", ErrNoData
	}
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("token %q, %s %q: %w", t.label, what, label, missing)
	case 1:
		return objs[0], nil
	}
	return 0, fmt.Errorf("token %q: more than one %s labelled %q; labels must be unique", t.label, what, label)
}

// Key returns the key with the given label: its public half read from the
// public key object, its signing done by the private key object.
func (t *PKCS11Token) Key(_ context.Context, label string) (Key, error) {
	pubObj, err := t.find(pkcs11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return nil, err
	}
	pub, err := t.publicKey(pubObj)
	if err != nil {
		return nil, fmt.Errorf("token %q, key %q: %w", t.label, label, err)
	}
	return &pkcs11Key{t: t, label: label, pub: pub}, nil
}

func (t *PKCS11Token) publicKey(obj pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	attrs, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return nil, mapErr(err)
	}
	if len(attrs[0].Value) != 8 && len(attrs[0].Value) != 4 {
		return nil, errors.New("key type attribute of an unexpected size")
	}
	var kt uint64
	if len(attrs[0].Value) == 8 {
		kt = binary.NativeEndian.Uint64(attrs[0].Value)
	} else {
		kt = uint64(binary.NativeEndian.Uint32(attrs[0].Value))
	}
	switch kt {
	case pkcs11.CKK_RSA:
		a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return nil, mapErr(err)
		}
		e := new(big.Int).SetBytes(a[1].Value)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("RSA public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(a[0].Value), E: int(e.Int64())}, nil
	case pkcs11.CKK_EC:
		a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			return nil, mapErr(err)
		}
		p256, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
		if string(a[0].Value) != string(p256) {
			return nil, errors.New("an EC key on a curve other than P-256")
		}
		point := a[1].Value
		var octets []byte
		if rest, err := asn1.Unmarshal(point, &octets); err == nil && len(rest) == 0 {
			point = octets // DER OCTET STRING around 04||X||Y, as SoftHSM returns it
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	}
	return nil, fmt.Errorf("key type %d is not RSA or EC", kt)
}

type pkcs11Key struct {
	t     *PKCS11Token
	label string
	pub   crypto.PublicKey

	// priv is the private key object, found on first use in login number
	// privLogin; guarded by t.mu.
	priv      pkcs11.ObjectHandle
	privLogin uint64
	// rawRSA: the token lacks CKM_RSA_PKCS, so the PKCS #1 v1.5 padding is
	// done here and the token does the bare RSA operation (CKM_RSA_X_509);
	// guarded by t.mu.
	rawRSA bool
}

// private returns the private key object, cached for the current login.
func (k *pkcs11Key) private() (pkcs11.ObjectHandle, error) {
	k.t.mu.Lock()
	cached, login := k.priv, k.privLogin
	current := k.t.login
	k.t.mu.Unlock()
	if login == current && cached != 0 {
		return cached, nil
	}
	h, err := k.t.find(pkcs11.CKO_PRIVATE_KEY, k.label)
	if err != nil {
		return 0, err
	}
	k.t.mu.Lock()
	k.priv, k.privLogin = h, current
	k.t.mu.Unlock()
	return h, nil
}

func (k *pkcs11Key) Label() string            { return k.label }
func (k *pkcs11Key) Public() crypto.PublicKey { return k.pub }

// sha256DigestInfo is the DER prefix of a SHA-256 DigestInfo (PKCS #1 v1.5).
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// Sign signs a SHA-256 digest in the token: RSA with CKM_RSA_PKCS over the
// DigestInfo (PKCS #1 v1.5), or, on a token without that mechanism, with the
// padding done here and CKM_RSA_X_509; ECDSA with CKM_ECDSA, its r‖s returned as DER
// as crypto.Signer callers expect. The reader is never used.
func (k *pkcs11Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("sign with %q: only SHA-256 digests are signed", k.label)
	}
	if !k.t.LoggedIn() {
		return nil, fmt.Errorf("sign with %q: %w", k.label, ErrNotLoggedIn)
	}
	priv, err := k.private()
	if err != nil {
		return nil, err
	}
	sig, err := k.sign(priv, digest)
	var e pkcs11.Error
	if errors.As(err, &e) && (e == pkcs11.CKR_KEY_HANDLE_INVALID || e == pkcs11.CKR_OBJECT_HANDLE_INVALID) {
		// The cached handle went stale (the object was re-created): find
		// the key again, once.
		k.t.mu.Lock()
		k.priv = 0
		k.t.mu.Unlock()
		if priv, err = k.private(); err != nil {
			return nil, err
		}
		sig, err = k.sign(priv, digest)
	}
	return sig, err
}

func (k *pkcs11Key) sign(priv pkcs11.ObjectHandle, digest []byte) ([]byte, error) {
	t := k.t
	t.mu.Lock()
	defer t.mu.Unlock()
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		info := append(append([]byte{}, sha256DigestInfo...), digest...)
		if !k.rawRSA {
			err := t.ctx.SignInit(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, priv)
			if e, ok := err.(pkcs11.Error); ok && e == pkcs11.CKR_MECHANISM_INVALID {
				k.rawRSA = true
			} else if err != nil {
				return nil, fmt.Errorf("sign with %q: %w", k.label, mapErr(err))
			} else {
				sig, err := t.ctx.Sign(t.session, info)
				if err != nil {
					return nil, fmt.Errorf("sign with %q: %w", k.label, mapErr(err))
				}
				return sig, nil
			}
		}
		// EMSA-PKCS1-v1_5 (RFC 8017, 9.2): 00 01 FF…FF 00 DigestInfo.
		size := (pub.N.BitLen() + 7) / 8
		if size < len(info)+11 {
			return nil, fmt.Errorf("sign with %q: an RSA key of %d bits is too small", k.label, pub.N.BitLen())
		}
		em := make([]byte, size)
		em[1] = 0x01
		for i := 2; i < size-len(info)-1; i++ {
			em[i] = 0xff
		}
		copy(em[size-len(info):], info)
		if err := t.ctx.SignInit(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)}, priv); err != nil {
			return nil, fmt.Errorf("sign with %q (CKM_RSA_X_509, as the token lacks CKM_RSA_PKCS): %w", k.label, mapErr(err))
		}
		sig, err := t.ctx.Sign(t.session, em)
		if err != nil {
			return nil, fmt.Errorf("sign with %q: %w", k.label, mapErr(err))
		}
		if len(sig) < size { // a bare RSA result may come without its leading zeros
			sig = append(make([]byte, size-len(sig)), sig...)
		}
		return sig, nil
	case *ecdsa.PublicKey:
		if err := t.ctx.SignInit(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, priv); err != nil {
			return nil, fmt.Errorf("sign with %q: %w", k.label, mapErr(err))
		}
		rs, err := t.ctx.Sign(t.session, digest)
		if err != nil {
			return nil, fmt.Errorf("sign with %q: %w", k.label, mapErr(err))
		}
		if len(rs) != 64 {
			return nil, fmt.Errorf("sign with %q: the token returned %d bytes for a P-256 signature", k.label, len(rs))
		}
		return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(rs[:32]), new(big.Int).SetBytes(rs[32:])})
	}
	return nil, fmt.Errorf("sign with %q: unsupported key", k.label)
}

// mapErr turns PKCS#11 return values into the package's errors, so that each
// failure says what to do.
func mapErr(err error) error {
	e, ok := err.(pkcs11.Error)
	if !ok {
		return err
	}
	switch e {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return fmt.Errorf("%w (%v)", ErrPINIncorrect, e)
	case pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("%w (%v); its security officer must unlock it", ErrPINLocked, e)
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED:
		return fmt.Errorf("%w (%v); reconnect it and retry the step", ErrDeviceRemoved, e)
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return fmt.Errorf("%w (%v)", ErrNotLoggedIn, e)
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_KEY_TYPE_INCONSISTENT:
		return fmt.Errorf("the token does not support this mechanism (%v)", e)
	}
	return e
}

// InitToken initialises the first uninitialised token of a module (as
// SoftHSM2 always offers one) with a label, a security officer PIN and the
// user PIN, through PKCS#11 itself: no PIN is put on a command line. Real
// HSMs are initialised with their own tools.
func InitToken(module, label string, soPIN, pin []byte) error {
	p, _, release, err := loadModule(module)
	if err != nil {
		return err
	}
	defer release()
	slots, err := p.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("list PKCS#11 slots: %w", err)
	}
	free := -1
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Label == label && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return fmt.Errorf("a token labelled %q exists already", label)
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 && free < 0 {
			free = int(s)
		}
	}
	if free < 0 {
		return fmt.Errorf("module %s offers no uninitialised token", module)
	}
	if err := p.InitToken(uint(free), string(soPIN), label); err != nil {
		return fmt.Errorf("initialise token %q: %w", label, mapErr(err))
	}
	// Slots may be numbered anew once a token is initialised: find it by
	// its label.
	if slots, err = p.GetSlotList(true); err != nil {
		return err
	}
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err != nil || ti.Label != label {
			continue
		}
		sess, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return mapErr(err)
		}
		defer p.CloseSession(sess)
		if err := p.Login(sess, pkcs11.CKU_SO, string(soPIN)); err != nil {
			return fmt.Errorf("token %q: the security officer's login: %w", label, mapErr(err))
		}
		defer p.Logout(sess)
		if err := p.InitPIN(sess, string(pin)); err != nil {
			return fmt.Errorf("token %q: set the user PIN: %w", label, mapErr(err))
		}
		return nil
	}
	return fmt.Errorf("token %q is not found after its initialisation", label)
}
