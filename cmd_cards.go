package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/durable"
)

// runCards provisions crypto officers' cards: a new activation secret, split
// with Feldman VSS, one passphrase-encrypted card file per holder, the roster
// for the script, and the token's user PIN set to the value derived from the
// secret. Nobody sees the secret or the PIN.
func runCards(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "provision" {
		return usageErr("cards: give a subcommand: provision --profile FILE --threshold N --holders FILE --out ROSTER --cards-dir DIR")
	}
	fs := flag.NewFlagSet("cards provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (pkcs11 backend; its current user PIN in KEYCEREMONY_PIN)")
	threshold := fs.Int("threshold", 0, "how many cards activate the token (required)")
	holdersPath := fs.String("holders", "", "YAML: holders: [{id: CO1, holder: Name}, …] (required)")
	out := fs.String("out", "", "where to write the roster, a quorum: block for the script (required; never overwritten)")
	cardsDir := fs.String("cards-dir", "", "where to write the card files <id>.card (required; one per holder's medium)")
	workFactor := fs.Int("scrypt-work-factor", 0, "scrypt log2 N for the card files (default 18)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *profilePath == "" || *threshold == 0 || *holdersPath == "" || *out == "" || *cardsDir == "" {
		return usageErr("usage: keyceremony cards provision --profile FILE --threshold N --holders FILE --out ROSTER --cards-dir DIR")
	}
	if *workFactor < 0 || *workFactor > 22 {
		return usageErr("--scrypt-work-factor %d: want 1 to 22", *workFactor)
	}
	hb, err := os.ReadFile(*holdersPath)
	if err != nil {
		return usageErr("--holders: %v", err)
	}
	var doc struct {
		Holders []quorum.CardInfo `yaml:"holders"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(hb))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return usageErr("%s: %v", *holdersPath, err)
	}
	if len(doc.Holders) == 0 {
		return usageErr("%s: no holders: listed", *holdersPath)
	}
	if *threshold < 2 || *threshold > len(doc.Holders) {
		return usageErr("--threshold %d with %d holders: want 2 to %d", *threshold, len(doc.Holders), len(doc.Holders))
	}
	for _, p := range []string{*out} {
		if _, err := os.Stat(p); err == nil {
			return usageErr("%s exists; a roster is never overwritten", p)
		}
	}
	for _, h := range doc.Holders {
		if _, err := os.Stat(filepath.Join(*cardsDir, h.ID+quorum.CardFileExt)); err == nil {
			return usageErr("%s exists; a card file is never overwritten", filepath.Join(*cardsDir, h.ID+quorum.CardFileExt))
		}
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
		p, err := ask(fmt.Sprintf("passphrase for card %s (%s)", h.ID, h.Holder))
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
		for _, c := range cards {
			quorum.Wipe(c.Value)
		}
	}()
	// The PIN comes from the secret the cards recover, exactly as the
	// console will derive it.
	col, err := quorum.NewCollector(roster)
	if err != nil {
		return operational(err)
	}
	for _, c := range cards[:*threshold] {
		cc := c
		cc.Value = append([]byte(nil), c.Value...)
		if err := col.Present(cc); err != nil {
			return operational(err)
		}
	}
	secret, err := col.Recover()
	if err != nil {
		return operational(err)
	}
	pin, err := quorum.DerivePIN(secret, tok.Label())
	quorum.Wipe(secret)
	if err != nil {
		return operational(err)
	}
	defer quorum.Wipe(pin)

	if err := durable.MkdirAll(*cardsDir); err != nil {
		return operational(err)
	}
	for _, c := range cards {
		path := filepath.Join(*cardsDir, c.ID+quorum.CardFileExt)
		if err := quorum.WriteCardFile(path, c, passes[c.ID], *workFactor); err != nil {
			return operational(fmt.Errorf("%s: %w", path, err))
		}
		fmt.Fprintf(stdout, "card %s (%s): %s\n", c.ID, holderOf(roster, c.ID), path)
	}
	rb, err := yaml.Marshal(map[string]any{"quorum": roster})
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
