package quorum

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/keyceremony/keyceremony/internal/durable"
)

// CardFileExt ends the name of a card file: <card id>.card.
const CardFileExt = ".card"

// cardFileFormat names the plaintext inside a card file.
const cardFileFormat = "keyceremony card v1"

// ErrCardPIN: the passphrase (the card's PIN) does not open the card.
var ErrCardPIN = errors.New("wrong card PIN or passphrase")

// WrongPINError says which card refused its passphrase and how many times
// this has happened in this process, so the console can show the count.
type WrongPINError struct {
	Card  string
	Tries int
}

func (e *WrongPINError) Error() string {
	return fmt.Sprintf("card %s: %v (%d wrong so far)", e.Card, ErrCardPIN, e.Tries)
}

func (e *WrongPINError) Unwrap() error { return ErrCardPIN }

// validCardID: card ids name files, so they are plain.
// validCardID is compiled on first use: its {0,63} costs a quarter of a
// millisecond, paid by every command at start if compiled at init.
var validCardID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })

// WriteCardFile writes a card as a passphrase-encrypted file (age, scrypt)
// for removable media: mode 0600, never over an existing file. workFactor is
// scrypt's log2 N (0: age's default, 18); tests use less.
func WriteCardFile(path string, card Card, passphrase string, workFactor int) error {
	if !validCardID().MatchString(card.ID) {
		return fmt.Errorf("card id %q: use letters, digits, '.', '_' and '-'", card.ID)
	}
	if passphrase == "" {
		return fmt.Errorf("card %s: a card file needs a passphrase", card.ID)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return err
	}
	if workFactor > 0 {
		r.SetWorkFactor(workFactor)
	}
	plain, err := cardJSON(card, true)
	if err != nil {
		return err
	}
	defer Wipe(plain)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return durable.WriteFile(path, buf.Bytes(), 0o600, durable.New)
}

// CardFiles is a Reader over passphrase-encrypted card files in a folder
// (the officers' removable media, mounted one at a time or all together).
type CardFiles struct {
	// Dir holds <card id>.card files.
	Dir string
	// Passphrase asks the card's holder for its passphrase; it is never
	// stored, logged or shown. Nil takes the one passed with WithSecret.
	Passphrase func(ctx context.Context, id string) (string, error)

	mu    sync.Mutex
	wrong map[string]int
}

// Read decrypts the card file of the given officer. A wrong passphrase is a
// *WrongPINError carrying the running count for that card; a missing file
// is ErrNoCard; a file that is not a card of this id is an error naming it.
func (f *CardFiles) Read(ctx context.Context, id string) (Card, error) {
	if !validCardID().MatchString(id) {
		return Card{}, fmt.Errorf("card %q: %w", id, ErrNoCard)
	}
	path := filepath.Join(f.Dir, id+CardFileExt)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Card{}, fmt.Errorf("card %s: %s is not there (insert the holder's medium): %w", id, path, ErrNoCard)
	}
	if err != nil {
		return Card{}, fmt.Errorf("card %s: %w", id, err)
	}
	ask := f.Passphrase
	if ask == nil {
		ask = SecretFromContext
	}
	pass, err := ask(ctx, id)
	if err != nil {
		return Card{}, err
	}
	ident, err := age.NewScryptIdentity(pass)
	if err != nil {
		return Card{}, err
	}
	rd, err := age.Decrypt(bytes.NewReader(data), ident)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			f.mu.Lock()
			if f.wrong == nil {
				f.wrong = map[string]int{}
			}
			f.wrong[id]++
			n := f.wrong[id]
			f.mu.Unlock()
			return Card{}, &WrongPINError{Card: id, Tries: n}
		}
		return Card{}, fmt.Errorf("card %s: %s is not a readable card file (%v); use the holder's original medium", id, path, err)
	}
	plain, err := io.ReadAll(io.LimitReader(rd, 4096))
	if err != nil {
		return Card{}, fmt.Errorf("card %s: %s is damaged (%v); use the holder's original medium", id, path, err)
	}
	defer Wipe(plain)
	card, err := parseCard(id, path, plain)
	if err != nil {
		return Card{}, err
	}
	f.mu.Lock()
	delete(f.wrong, id)
	f.mu.Unlock()
	return card, nil
}

// SecretName: a card file opens with its holder's passphrase.
func (f *CardFiles) SecretName() string { return "passphrase" }

// Inserted lists the cards whose files are in the folder now: a holder's
// medium mounted there, or taken out.
func (f *CardFiles) Inserted(context.Context) (map[string]bool, error) {
	ents, err := os.ReadDir(f.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil // the medium is not mounted
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), CardFileExt)
		if ok && validCardID().MatchString(id) && e.Type().IsRegular() {
			out[id] = true
		}
	}
	return out, nil
}

// cardJSON is what a card holds, in a card file or a card token.
// A card file also holds the officer's cosigning key (its seed); a PKCS#11
// card holds it as a key of its own that never leaves the card.
func cardJSON(card Card, withKey bool) ([]byte, error) {
	doc := map[string]any{"format": cardFileFormat, "id": card.ID, "share": card.Share, "value": base64.StdEncoding.EncodeToString(card.Value)}
	if sc, ok := card.Cosigner.(*softCosigner); ok && withKey {
		doc["key"] = base64.StdEncoding.EncodeToString(sc.seed)
	}
	return json.Marshal(doc)
}

// CardContents is what a PKCS#11 card holds as its share object: the card
// without its officer's cosigning key, which the card makes and keeps.
func CardContents(card Card) ([]byte, error) { return cardJSON(card, false) }

// ParseCardContents reads what a card holds; where names the file or
// token in errors.
func ParseCardContents(id, where string, plain []byte) (Card, error) {
	return parseCard(id, where, plain)
}

// parseCard reads what a card holds; where names the file or token.
func parseCard(id, where string, plain []byte) (Card, error) {
	var doc struct {
		Format string `json:"format"`
		ID     string `json:"id"`
		Share  uint64 `json:"share"`
		Value  string `json:"value"`
		Key    string `json:"key"`
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Format != cardFileFormat {
		return Card{}, fmt.Errorf("card %s: %s does not hold a %s", id, where, cardFileFormat)
	}
	if doc.ID != id {
		return Card{}, fmt.Errorf("card %s: %s holds card %s; present that card as itself", id, where, doc.ID)
	}
	v, err := base64.StdEncoding.DecodeString(doc.Value)
	if err != nil {
		return Card{}, fmt.Errorf("card %s: %s holds a malformed share", id, where)
	}
	card := Card{ID: doc.ID, Share: doc.Share, Value: v}
	if doc.Key != "" {
		seed, err := base64.StdEncoding.DecodeString(doc.Key)
		defer Wipe(seed)
		if err != nil {
			Wipe(v)
			return Card{}, fmt.Errorf("card %s: %s holds a malformed cosigning key", id, where)
		}
		sc, err := newSoftCosigner(seed)
		if err != nil {
			Wipe(v)
			return Card{}, fmt.Errorf("card %s: %s: %v", id, where, err)
		}
		card.Cosigner = sc
	}
	return card, nil
}
