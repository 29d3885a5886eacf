package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
	"github.com/keyceremony/keyceremony/hsm/quorum"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/ui"
)

// pinEnv is where non-interactive commands (ksr sign, anchor export, hsm
// inventory) take a PKCS#11 token's PIN from: automation and tests. In a
// ceremony the console derives the PIN from the crypto officers' cards.
const pinEnv = "KEYCEREMONY_PIN"

// cardAuth, when its fields are set, activates a PKCS#11 token with the
// crypto officers' cards (card files, or PKCS#11 cards) instead of
// KEYCEREMONY_PIN.
type cardAuth struct {
	roster string
	src    cardSource
	stdin  io.Reader
	stderr io.Writer
}

func (a *cardAuth) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.roster, "roster", "", "activate the token with the crypto officers' cards: the roster (a quorum: block) they were dealt for")
	fs.StringVar(&a.src.dir, "cards", "", "the folder of card files <id>.card (with --roster)")
	fs.StringVar(&a.src.module, "card-module", "", "or the PKCS#11 library of the card readers: card CO1 is the token labelled CO1 (with --roster)")
}

// pin asks the holders of the cards found in the folder for their
// passphrases, one card after another, until the roster's threshold is
// reached, and derives the token's PIN. Refused cards are named and skipped.
func (a *cardAuth) pin(ctx context.Context, label string) ([]byte, error) {
	roster, err := loadRoster(a.roster)
	if err != nil {
		return nil, err
	}
	if (a.src.dir == "") == (a.src.module == "") {
		return nil, usageErr("--roster needs --cards DIR or --card-module LIB")
	}
	secret, err := collectSecret(ctx, roster, a.src, passphraseReader(a.stdin, a.stderr), a.stderr)
	if err != nil {
		return nil, err
	}
	defer quorum.Wipe(secret)
	return quorum.DerivePIN(secret, label)
}

// loadProfile reads a profile and opens its token, logged in when login is
// set (with the PIN from the cards when auth gives a roster, otherwise from
// KEYCEREMONY_PIN). The returned function closes the token.
func loadProfile(ctx context.Context, path string, login bool, auth ...*cardAuth) (*ceremony.Profile, hsm.Token, func(), error) {
	b, err := readInput(path)
	if err != nil {
		return nil, nil, nil, usageErr("--profile: %v", err)
	}
	p, err := ceremony.LoadProfile(path, b)
	if err != nil {
		return nil, nil, nil, usageErr("%v", err)
	}
	switch p.Token.Backend {
	case "software":
		files := map[string]string{}
		for label, f := range p.Token.Keys {
			if !filepath.IsAbs(f) {
				f = filepath.Join(filepath.Dir(path), f)
			}
			files[label] = f
		}
		tok, err := hsm.LoadSoftToken(p.Token.Label, files)
		if err != nil {
			return nil, nil, nil, usageErr("%s: %v", path, err)
		}
		if err := tok.Login(ctx, nil); err != nil {
			return nil, nil, nil, operational(err)
		}
		return p, tok, func() {}, nil
	case "pkcs11":
		tok, err := hsm.OpenPKCS11Serial(p.Token.Module, p.Token.Label, p.Token.Serial)
		if err != nil {
			if errors.Is(err, hsm.ErrTokenNotFound) {
				return nil, nil, nil, usageErr("%s: %v", path, err)
			}
			return nil, nil, nil, operational(fmt.Errorf("%s: %w", path, err))
		}
		if login {
			var pin []byte
			if len(auth) > 0 && auth[0] != nil && auth[0].roster != "" {
				if pin, err = auth[0].pin(ctx, p.Token.Label); err != nil {
					tok.Close()
					return nil, nil, nil, err
				}
				defer quorum.Wipe(pin)
			} else {
				pin = []byte(os.Getenv(pinEnv))
			}
			if len(pin) == 0 {
				tok.Close()
				return nil, nil, nil, usageErr("%s: token %q needs its PIN: give --roster and --cards (the officers' card files), or set %s", path, p.Token.Label, pinEnv)
			}
			if err := tok.Login(ctx, pin); err != nil {
				tok.Close()
				if errors.Is(err, hsm.ErrPINIncorrect) {
					hint := "check " + pinEnv
					if len(auth) > 0 && auth[0] != nil && auth[0].roster != "" {
						hint = "these cards were not dealt for this token"
					}
					err = fmt.Errorf("%s: %w; %s (the token locks itself after a few wrong PINs)", path, err, hint)
				}
				return nil, nil, nil, operational(err)
			}
		}
		return p, tok, func() { tok.Close() }, nil
	}
	return nil, nil, nil, usageErr("%s: unknown backend %q", path, p.Token.Backend)
}

// profilePolicy reads the request policy file a profile names (relative to
// the profile); none means IANA's defaults.
func profilePolicy(p *ceremony.Profile, profilePath string) (dnssec.CheckPolicy, error) {
	pp := p.Policy
	if pp != "" && !filepath.IsAbs(pp) {
		pp = filepath.Join(filepath.Dir(profilePath), pp)
	}
	return loadPolicyFile(pp)
}

func runKSRSign(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ksr sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profilePath := fs.String("profile", "", "the profile: token, KSK inventory, schemas, KSK policy (required)")
	out := fs.String("out", "", "where to write the SKR; an existing file is never overwritten (required)")
	prevPath := fs.String("previous-skr", "", "the last SKR, for the chain and safety checks")
	schema := fs.String("schema", "", "the signing schema (default: the profile's)")
	nowFlag := fs.String("now", "", "check and sign as of this time (default: now)")
	yes := fs.Bool("yes", false, "sign without asking: the confirmation the console asks for")
	auth := &cardAuth{stdin: stdin, stderr: stderr}
	auth.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keyceremony ksr sign KSR --profile FILE --out SKR [--previous-skr SKR] [--schema NAME] [--now TIME] [--roster FILE --cards DIR] --yes")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *profilePath == "" || *out == "" {
		fs.Usage()
		return usageErr("ksr sign: give one KSR, --profile and --out")
	}
	if !*yes {
		return usageErr("ksr sign: signing is irreversible; add --yes to sign without the console's confirmation")
	}
	if _, err := os.Stat(*out); err == nil {
		return usageErr("ksr sign: %s exists; an SKR is never overwritten", *out)
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, true, auth)
	if err != nil {
		return err
	}
	defer closeTok()
	policy, err := profilePolicy(p, *profilePath)
	if err != nil {
		return err
	}
	var prev *dnssec.Document
	if *prevPath != "" {
		if _, prev, err = readSKR(*prevPath, "--previous-skr"); err != nil {
			return err
		}
	}
	data, ksr, err := readKSR(pos[0], "", p.TextOptions())
	if err != nil {
		return err
	}
	d := dnssec.DigestOf(data)
	fmt.Fprintf(stdout, "KSR      %s\nSHA-256  %s\n         %s\n\n", filepath.Base(pos[0]), ui.GroupHex(d.Hex()), d.Words())
	skr, results, err := session.SignKSR(ctx, session.SignRequest{Profile: p, Token: tok, KSR: ksr, Previous: prev, Schema: *schema,
		Policy: policy, Now: now, Progress: func(done, total int) { fmt.Fprintf(stdout, "signed bundle %d of %d\n", done, total) }})
	for _, r := range results {
		if r.Status != dnssec.Pass {
			fmt.Fprintf(stdout, "%s %-27s %s\n", ui.StatusMark(r.Status), r.ID, r.Detail)
		}
	}
	if err != nil {
		if errors.Is(err, session.ErrRefused) {
			for _, r := range results {
				if r.Status == dnssec.Fail {
					return badInput(fmt.Errorf("ksr sign %s: %s: %s; nothing was written", pos[0], r.ID, r.Detail))
				}
			}
			return badInput(fmt.Errorf("ksr sign %s: %v; nothing was written", pos[0], err))
		}
		if errors.Is(err, session.ErrConfig) {
			return usageErr("ksr sign %s: %v; nothing was written", pos[0], err)
		}
		return operational(fmt.Errorf("ksr sign %s: %w; nothing was written", pos[0], err))
	}
	outData, err := skr.Marshal()
	if err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(*out, outData, 0o644, durable.New); err != nil {
		return operational(fmt.Errorf("ksr sign: write %s: %w", *out, err))
	}
	sd := dnssec.DigestOf(outData)
	fmt.Fprintf(stdout, "\n%d checks passed. SKR written: %s\nSHA-256  %s\n         %s\n", len(results), *out, ui.GroupHex(sd.Hex()), sd.Words())
	return nil
}

func runAnchor(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("anchor: give a subcommand: export (trust anchors and DS records) or rekor (anchor checkpoints in Rekor)")
	}
	if args[0] == "rekor" {
		return runAnchorRekor(ctx, args[1:], stdout, stderr)
	}
	if args[0] != "export" {
		return usageErr("anchor: unknown subcommand %q: export or rekor", args[0])
	}
	fs := flag.NewFlagSet("anchor export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profilePath := fs.String("profile", "", "the profile whose KSK inventory to export (required)")
	outDir := fs.String("out", "", "write root-anchors.xml and ds.txt into this folder instead of printing them")
	id := fs.String("id", "", "the TrustAnchor id attribute (default: derived from the inventory)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *profilePath == "" {
		return usageErr("usage: keyceremony anchor export --profile FILE [--out DIR]")
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, false)
	if err != nil {
		return err
	}
	defer closeTok()
	var labels []string
	for _, k := range p.KSKs {
		labels = append(labels, k.Label)
	}
	ksks, err := session.InventoryKSKs(ctx, p, tok, labels)
	if err != nil {
		if errors.Is(err, session.ErrInventory) {
			return badInput(err)
		}
		return operational(err)
	}
	var keys []dnssec.AnchorKey
	var ds strings.Builder
	for _, rec := range p.KSKs {
		k := ksks[rec.Label]
		keys = append(keys, dnssec.AnchorKey{ID: rec.Label, DNSKEY: k.DNSKEY, ValidFrom: rec.ValidFrom, ValidUntil: rec.ValidUntil})
		ds.WriteString(dnssec.DS(k.DNSKEY).String() + "\n")
	}
	if *id == "" {
		sum := dnssec.DigestOf([]byte(ds.String()))
		h := strings.ToUpper(hex.EncodeToString(sum[:16]))
		*id = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	xmlData, err := dnssec.ExportAnchors(*id, p.Zone, keys)
	if err != nil {
		return operational(err)
	}
	if *outDir == "" {
		stdout.Write(xmlData)
		fmt.Fprint(stdout, "\n"+ds.String())
		return nil
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "root-anchors.xml"), xmlData, 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "ds.txt"), []byte(ds.String()), 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*outDir, "root-anchors.xml"), filepath.Join(*outDir, "ds.txt"))
	return nil
}

// runHSM lists the profile's token and its keys: labels, key tags with and
// without the REVOKE bit, DS digests, and whether each matches the inventory.
func runHSM(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keygen" {
		return runKeygen(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "inventory" {
		return usageErr("hsm: give a subcommand: inventory --profile FILE, or keygen --profile FILE --label LABEL")
	}
	fs := flag.NewFlagSet("hsm inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (required)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *profilePath == "" {
		return usageErr("usage: keyceremony hsm inventory --profile FILE")
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, false)
	if err != nil {
		return err
	}
	defer closeTok()
	fmt.Fprintf(stdout, "Token    %s (%s backend)\n", tok.Label(), p.Token.Backend)
	if pt, ok := tok.(*hsm.PKCS11Token); ok {
		if info, err := pt.Info(); err == nil {
			fmt.Fprintf(stdout, "         %s %s, serial %s", info.Manufacturer, info.Model, info.Serial)
			for _, f := range info.Flags() {
				fmt.Fprintf(stdout, " · %s", strings.ToUpper(f))
			}
			fmt.Fprintln(stdout)
		}
	}
	lister, ok := tok.(hsm.Lister)
	if !ok {
		return operational(errors.New("this token cannot list its keys"))
	}
	labels, err := lister.KeyLabels(ctx)
	if err != nil {
		return operational(err)
	}
	if len(labels) == 0 {
		fmt.Fprintln(stdout, "\nno keys on the token")
		return nil
	}
	fmt.Fprintf(stdout, "\n%-12s %-6s %-7s %-7s %-64s %s\n", "label", "alg", "tag", "revoked", "DS SHA-256", "inventory")
	for _, l := range labels {
		k, err := tok.Key(ctx, l)
		if err != nil {
			fmt.Fprintf(stdout, "%-12s %v\n", l, err)
			continue
		}
		dk, err := dnssec.NewDNSKEY(p.Zone, k.Public(), dnssec.FlagZone|dnssec.FlagSEP, p.TTL)
		if err != nil {
			fmt.Fprintf(stdout, "%-12s %v\n", l, err)
			continue
		}
		tag, revoked := dnssec.KeyTags(dk)
		ds := strings.ToLower(dnssec.DS(dk).Digest)
		status := "not in the inventory"
		if rec, ok := p.KSK(l); ok {
			status = "MISMATCH: tag or DS differs from the inventory"
			if rec.KeyTag == tag && strings.EqualFold(rec.DSSHA256, ds) {
				status = "matches"
			}
		}
		fmt.Fprintf(stdout, "%-12s %-6d %-7d %-7d %-64s %s\n", l, dk.Algorithm, tag, revoked, ds, status)
	}
	onToken := map[string]bool{}
	for _, l := range labels {
		onToken[l] = true
	}
	for _, k := range p.KSKs {
		if !onToken[k.Label] {
			fmt.Fprintf(stdout, "%-12s %-6s %-7d %-7s %-64s %s\n", k.Label, "-", k.KeyTag, "-", strings.ToLower(k.DSSHA256), "in the inventory, NOT ON THE TOKEN")
		}
	}
	return nil
}

// runKeygen generates a KSK in the profile's PKCS#11 token and prints what
// the inventory and the trust anchor need: the DNSKEY, its key tag with and
// without the REVOKE bit, and its DS.
func runKeygen(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hsm keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (required; pkcs11 backend)")
	label := fs.String("label", "", "the new key's label (required; never an existing one)")
	alg := fs.Uint("algorithm", 8, "DNSSEC algorithm: 8 (RSA/SHA-256) or 13 (ECDSA P-256/SHA-256)")
	bits := fs.Int("bits", 2048, "RSA modulus size")
	auth := &cardAuth{stdin: stdin, stderr: stderr}
	auth.flags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *profilePath == "" || *label == "" {
		return usageErr("usage: keyceremony hsm keygen --profile FILE --label LABEL [--algorithm 8|13] [--bits N]")
	}
	if *alg != 8 && *alg != 13 {
		return usageErr("--algorithm %d: want 8 (RSA/SHA-256) or 13 (ECDSA P-256)", *alg)
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, true, auth)
	if err != nil {
		return err
	}
	defer closeTok()
	pt, ok := tok.(*hsm.PKCS11Token)
	if !ok {
		return usageErr("%s: keys are generated only in a pkcs11 token (this profile's backend is %s)", *profilePath, p.Token.Backend)
	}
	k, err := pt.GenerateKSK(ctx, hsm.KeySpec{Label: *label, Algorithm: uint8(*alg), Bits: *bits, Extractable: p.Token.BackupCapable})
	if err != nil {
		if errors.Is(err, hsm.ErrLabelExists) {
			return usageErr("%s: %v; choose a new label", *profilePath, err)
		}
		return operational(err)
	}
	dk, err := dnssec.NewDNSKEY(p.Zone, k.Public(), dnssec.FlagZone|dnssec.FlagSEP, p.TTL)
	if err != nil {
		return operational(err)
	}
	tag, revoked := dnssec.KeyTags(dk)
	ds := dnssec.DS(dk)
	sensitive, extractable, _, err := pt.PrivateAttributes(*label)
	if err != nil {
		return operational(err)
	}
	fmt.Fprintf(stdout, "generated %s in token %q: key tag %d (%d with REVOKE), sensitive %v, extractable %v\n", *label, tok.Label(), tag, revoked, sensitive, extractable)
	fmt.Fprintln(stdout, dk.String())
	fmt.Fprintln(stdout, ds.String())
	fmt.Fprintf(stdout, "\nfor the profile's inventory:\n  - {label: %s, key_tag: %d, ds_sha256: %s, valid_from: YYYY-MM-DDT00:00:00Z}\n", *label, tag, strings.ToLower(ds.Digest))
	return nil
}
