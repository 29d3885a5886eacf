package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ErrNoData: the token holds no data object with that label.
var ErrNoData = errors.New("no such data object")

// WritePrivateData stores value in a new persistent, private, unmodifiable
// data object with the given label (for a crypto officer's card: the share,
// readable only after the card's PIN). An existing label is refused. The
// token must be logged in.
func (t *PKCS11Token) WritePrivateData(_ context.Context, label string, value []byte) error {
	if !t.LoggedIn() {
		return fmt.Errorf("write %q: %w", label, ErrNotLoggedIn)
	}
	if _, err := t.find(pkcs11.CKO_DATA, label); err == nil {
		return fmt.Errorf("token %q already holds %q; it is never overwritten", t.label, label)
	} else if !errors.Is(err, ErrNoData) {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.ctx.CreateObject(t.session, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, "keyceremony"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	})
	if err != nil {
		return fmt.Errorf("write %q to token %q: %w", label, t.label, mapErr(err))
	}
	return nil
}

// ReadPrivateData returns the value of the data object with the given
// label; a private one is visible only once logged in.
func (t *PKCS11Token) ReadPrivateData(_ context.Context, label string) ([]byte, error) {
	obj, err := t.find(pkcs11.CKO_DATA, label)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a, err := t.ctx.GetAttributeValue(t.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("read %q from token %q: %w", label, t.label, mapErr(err))
	}
	return a[0].Value, nil
}
