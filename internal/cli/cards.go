package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/hsm/tokencard"
	"github.com/keyceremony/keyceremony/internal/durable"
)

// runCards provisions crypto officers' cards: a new activation secret, split
// with Feldman VSS, one passphrase-encrypted card file per holder, the roster
// for the script, and the token's user PIN set to the value derived from the
// secret. Nobody sees the secret or the PIN.
func runCardsProvision(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("cards provision", "", stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (pkcs11 backend; its current user PIN in KEYCEREMONY_PIN)")
	threshold := fs.Int("threshold", 0, "how many cards activate the token (required)")
	holdersPath := fs.String("holders", "", "YAML: holders: [{id: CO1, holder: Name}, …] (required)")
	out := fs.String("out", "", "where to write the roster, a quorum: block for the script (required; never overwritten)")
	cardsDir := fs.String("cards-dir", "", "where to write the card files <id>.card (one per holder's medium)")
	cardModule := fs.String("card-module", "", "or write each card to the PKCS#11 card token labelled with its id, after its PIN")
	workFactor := fs.Int("scrypt-work-factor", 0, "scrypt log2 N for the card files (default 18)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("cards provision", pos, "", req{"--profile", *profilePath}, req{"--threshold", nonZero(*threshold)}, req{"--holders", *holdersPath}, req{"--out", *out}); err != nil {
		return err
	}
	if (*cardsDir == "") == (*cardModule == "") {
		return usageErr("cards provision: give one of --cards-dir and --card-module")
	}
	if *workFactor < 0 || *workFactor > 22 {
		return usageErr("--scrypt-work-factor %d: want 1 to 22", *workFactor)
	}
	doc, err := loadHolders(*holdersPath, *threshold, *out, *cardsDir)
	if err != nil {
		return err
	}
	_, tok, closeTok, err := loadProfile(ctx, *profilePath, true)
	if err != nil {
		return err
	}
	defer closeTok()
	pt, ok := tok.(*hsm.PKCS11Token)
	if !ok {
		return usageErr("%s: cards activate a pkcs11 token; this profile's token is software", *profilePath)
	}

	// Every passphrase first: a mistyped one stops before anything is written.
	ask := passphraseReader(stdin, stderr)
	passes := map[string]string{}
	for _, h := range doc.Holders {
		what := "passphrase for card"
		if *cardModule != "" {
			what = "PIN of card"
		}
		p, err := ask(fmt.Sprintf("%s %s (%s)", what, h.ID, h.Holder))
		if err != nil {
			return usageErr("card %s: %v", h.ID, err)
		}
		passes[h.ID] = p
	}

	roster, cards, err := quorum.Deal(rand.Reader, *threshold, doc.Holders)
	if err != nil {
		return usageErr("%s: %v", *holdersPath, err)
	}
	defer func() {
		for i := range cards {
			quorum.CloseCard(&cards[i])
		}
	}()
	// The PIN comes from the secret the cards recover, exactly as the
	// console will derive it.
	pin, err := quorum.RecoverPIN(roster, cards, tok.Label())
	if err != nil {
		return operational(err)
	}
	defer quorum.Wipe(pin)

	if *cardModule != "" {
		for _, c := range cards {
			key, err := tokencard.Write(ctx, *cardModule, c, passes[c.ID])
			if err != nil {
				return operational(fmt.Errorf("%w; the token still has its old PIN", err))
			}
			// The officer's cosigning key was made on the card: the
			// roster lists that one.
			for i := range roster.Cards {
				if roster.Cards[i].ID == c.ID {
					roster.Cards[i].Key = key
				}
			}
			if err := roster.Validate(); err != nil {
				return operational(err)
			}
			fmt.Fprintf(stdout, "card %s (%s): the card token labelled %s, with its cosigning key made on the card\n", c.ID, holderOf(roster, c.ID), c.ID)
		}
	} else if err := writeCards(*cardsDir, cards, passes, *workFactor, roster, stdout); err != nil {
		return err
	}
	rb, err := quorum.MarshalRosterFile(roster)
	if err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(*out, rb, 0o644, durable.New); err != nil {
		return operational(err)
	}
	fmt.Fprintf(stdout, "roster: %s (%d of %d)\n", *out, *threshold, len(cards))
	// Last, the token: only once the cards and the roster are safely on disk.
	if err := pt.SetPIN(ctx, []byte(os.Getenv(pinEnv)), pin); err != nil {
		return operational(fmt.Errorf("%w; the card files and roster are written but the token still has its old PIN: remove them and run again", err))
	}
	if err := pt.Logout(ctx); err != nil {
		return operational(err)
	}
	if err := pt.Login(ctx, pin); err != nil {
		return operational(fmt.Errorf("the new PIN does not open the token: %w", err))
	}
	fmt.Fprintf(stdout, "token %q: user PIN set to the value derived from the cards; %d of them open it now\n", tok.Label(), *threshold)
	return nil
}

// loadRoster reads a roster file: a quorum: block, as cards provision writes
// and scripts include.
func loadRoster(path string) (*quorum.Roster, error) {
	rb, err := readInput(path)
	if err != nil {
		return nil, usageErr("--roster: %v", err)
	}
	r, err := quorum.ParseRosterFile(rb)
	if err != nil {
		return nil, usageErr("%s: not a roster (a quorum: block): %v", path, err)
	}
	if err := r.Validate(); err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	return r, nil
}

// cardSource says where the crypto officers' cards are: a folder of card
// files, or PKCS#11 card tokens labelled with the card ids.
type cardSource struct {
	dir, module string
}

// reader is the quorum Reader for the source; ask prompts the holder for the
// card's passphrase or PIN. With a nil ask the secret comes with each read
// (quorum.WithSecret): the console asks for it.
func (c cardSource) reader(roster *quorum.Roster, ask func(string) (string, error)) quorum.Reader {
	if ask == nil {
		if c.module != "" {
			return &tokencard.Reader{Module: c.module}
		}
		return &quorum.CardFiles{Dir: c.dir}
	}
	if c.module != "" {
		return &tokencard.Reader{Module: c.module, PIN: func(_ context.Context, id string) (string, error) {
			return ask(fmt.Sprintf("PIN of card %s (%s)", id, holderOf(roster, id)))
		}}
	}
	return &quorum.CardFiles{Dir: c.dir, Passphrase: func(_ context.Context, id string) (string, error) {
		return ask(fmt.Sprintf("passphrase for card %s (%s)", id, holderOf(roster, id)))
	}}
}

func (c cardSource) String() string {
	if c.module != "" {
		return "the card readers"
	}
	return c.dir
}

// collectSecret asks the holders of the roster's cards that are present
// for their passphrases or PINs, in the roster's order, until the threshold
// is reached, and recovers the activation secret. Refused cards are named
// and skipped. The caller wipes the secret.
func collectSecret(ctx context.Context, roster *quorum.Roster, src cardSource, ask func(string) (string, error), stderr io.Writer) ([]byte, error) {
	if err := roster.Validate(); err != nil {
		return nil, usageErr("roster: %v", err)
	}
	secret, err := quorum.CollectSecret(ctx, roster, src.reader(roster, ask), errNoPassphrase, func(c quorum.Collected) {
		switch {
		case c.Revoked:
			fmt.Fprintf(stderr, "card %s (%s) rejected: revoked on this roster\n", c.ID, c.Holder)
		case c.Err != nil:
			var re *quorum.RejectedError
			if errors.As(c.Err, &re) {
				fmt.Fprintf(stderr, "%v\n", c.Err)
			} else {
				fmt.Fprintf(stderr, "card %s refused: %v\n", c.ID, c.Err)
			}
		default:
			fmt.Fprintf(stderr, "card %s (%s) accepted: %d of %d\n", c.ID, c.Holder, c.Count, roster.Threshold)
		}
	})
	switch {
	case errors.Is(err, quorum.ErrShort):
		n := strings.TrimPrefix(err.Error(), quorum.ErrShort.Error()+": ")
		return nil, usageErr("%s: %s; the token stays closed", src, n)
	case err != nil:
		return nil, operational(err)
	}
	return secret, nil
}

// errNoPassphrase: standard input has no more passphrases.
var errNoPassphrase = errors.New("no passphrase on standard input (one line per card, in the roster's order)")

func holderOf(r *quorum.Roster, id string) string {
	if c, ok := r.Card(id); ok {
		return c.Holder
	}
	return ""
}

// passphraseReader asks for passphrases: without echo, twice, on a
// terminal; one per line otherwise (scripts and tests).
func passphraseReader(stdin io.Reader, stderr io.Writer) func(prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return func(prompt string) (string, error) {
			for {
				fmt.Fprintf(stderr, "%s: ", prompt)
				a, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(stderr)
				if err != nil {
					return "", err
				}
				fmt.Fprintf(stderr, "again: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(stderr)
				if err != nil {
					return "", err
				}
				if !bytes.Equal(a, b) {
					fmt.Fprintln(stderr, "the two differ; once more")
					continue
				}
				if len(a) < 8 {
					fmt.Fprintln(stderr, "at least 8 characters; once more")
					continue
				}
				return string(a), nil
			}
		}
	}
	var sc *bufio.Scanner
	if stdin != nil {
		sc = bufio.NewScanner(stdin)
	}
	return func(prompt string) (string, error) {
		if sc == nil || !sc.Scan() {
			return "", errNoPassphrase
		}
		p := strings.TrimRight(sc.Text(), "\r")
		if len(p) < 8 {
			return "", errors.New("a passphrase needs at least 8 characters")
		}
		return p, nil
	}
}

type holdersFile struct {
	Holders []quorum.CardInfo `yaml:"holders"`
}

// loadHolders reads a holders file strictly and checks that nothing it
// would write exists already.
func loadHolders(path string, threshold int, out, cardsDir string) (*holdersFile, error) {
	hb, err := readInput(path)
	if err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	var doc holdersFile
	dec := yaml.NewDecoder(bytes.NewReader(hb))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	if len(doc.Holders) == 0 {
		return nil, usageErr("%s: no holders: listed", path)
	}
	if threshold < 2 || threshold > len(doc.Holders) {
		return nil, usageErr("%s: a threshold of %d with %d holders: want 2 to %d", path, threshold, len(doc.Holders), len(doc.Holders))
	}
	if _, err := os.Stat(out); err == nil {
		return nil, usageErr("%s exists; a roster is never overwritten", out)
	}
	for _, h := range doc.Holders {
		if cardsDir == "" {
			break
		}
		if _, err := os.Stat(filepath.Join(cardsDir, h.ID+quorum.CardFileExt)); err == nil {
			return nil, usageErr("%s exists; a card file is never overwritten", filepath.Join(cardsDir, h.ID+quorum.CardFileExt))
		}
	}
	return &doc, nil
}

// runReissue replaces the crypto officers: a quorum of the old cards
// recovers the secret, which is dealt to new holders; the new roster revokes
// every old card. The token's PIN does not change, so the token is not
// touched.
func runReissue(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("cards reissue", "", stderr)
	oldRoster := fs.String("roster", "", "the current roster (required)")
	oldCards := fs.String("cards", "", "the folder of the current card files (required)")
	threshold := fs.Int("threshold", 0, "how many new cards open the token (required)")
	holdersPath := fs.String("holders", "", "the new holders, with ids the old roster does not use (required)")
	out := fs.String("out", "", "where to write the new roster (required; never overwritten)")
	cardsDir := fs.String("cards-dir", "", "where to write the new card files (required)")
	workFactor := fs.Int("scrypt-work-factor", 0, "scrypt log2 N for the card files (default 18)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("cards reissue", pos, "", req{"--roster", *oldRoster}, req{"--cards", *oldCards}, req{"--threshold", nonZero(*threshold)},
		req{"--holders", *holdersPath}, req{"--out", *out}, req{"--cards-dir", *cardsDir}); err != nil {
		return err
	}
	if *workFactor < 0 || *workFactor > 22 {
		return usageErr("--scrypt-work-factor %d: want 1 to 22", *workFactor)
	}
	old, err := loadRoster(*oldRoster)
	if err != nil {
		return err
	}
	doc, err := loadHolders(*holdersPath, *threshold, *out, *cardsDir)
	if err != nil {
		return err
	}
	for _, h := range doc.Holders {
		if _, ok := old.Card(h.ID); ok {
			return usageErr("%s: card id %s is on the old roster; give each new card a new id", *holdersPath, h.ID)
		}
	}
	ask := passphraseReader(stdin, stderr)
	secret, err := collectSecret(ctx, old, cardSource{dir: *oldCards}, ask, stderr)
	if err != nil {
		return err
	}
	defer quorum.Wipe(secret)
	passes := map[string]string{}
	for _, h := range doc.Holders {
		p, err := ask(fmt.Sprintf("passphrase for new card %s (%s)", h.ID, h.Holder))
		if err != nil {
			return usageErr("card %s: %v", h.ID, err)
		}
		passes[h.ID] = p
	}
	roster, cards, err := quorum.Reshare(rand.Reader, secret, old, *threshold, doc.Holders)
	if err != nil {
		return usageErr("%v", err)
	}
	defer func() {
		for i := range cards {
			quorum.CloseCard(&cards[i])
		}
	}()
	if err := writeCards(*cardsDir, cards, passes, *workFactor, roster, stdout); err != nil {
		return err
	}
	rb, err := quorum.MarshalRosterFile(roster)
	if err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(*out, rb, 0o644, durable.New); err != nil {
		return operational(err)
	}
	var revoked []string
	for _, c := range old.Cards {
		revoked = append(revoked, c.ID)
	}
	fmt.Fprintf(stdout, "roster: %s (%d of %d); revoked: %s\n", *out, *threshold, len(cards), strings.Join(revoked, " "))
	fmt.Fprintln(stdout, "the activation secret and the token's PIN are unchanged: both rosters' first commitment is "+roster.Commitments[0])
	return nil
}

// writeCards writes one card file per card, and says where.
func writeCards(dir string, cards []quorum.Card, passes map[string]string, workFactor int, roster *quorum.Roster, stdout io.Writer) error {
	paths, err := quorum.WriteCardFiles(dir, cards, passes, workFactor)
	for i, p := range paths {
		fmt.Fprintf(stdout, "card %s (%s): %s\n", cards[i].ID, holderOf(roster, cards[i].ID), p)
	}
	if err != nil {
		return operational(err)
	}
	return nil
}
