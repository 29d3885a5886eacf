package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/hsm"
)

// runHSM lists the profile's token and its keys: labels, key tags with and
// without the REVOKE bit, DS digests, and whether each matches the inventory.
func runHSMInventory(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("hsm inventory", "usage: keyceremony hsm inventory --profile FILE", stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("hsm inventory", pos, "", req{"--profile", *profilePath}); err != nil {
		return err
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
	privateUnread := false
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
		// A KSK's public key only verifies and its private key only signs,
		// sensitive and, unless the profile backs keys up, never
		// extractable: anything else is flagged under its row.
		if pt, ok := tok.(*hsm.PKCS11Token); ok {
			if uses, err := pt.Uses(l); err == nil {
				for _, p := range uses.Problems(p.Token.BackupCapable) {
					fmt.Fprintf(stdout, "%-12s [FLAG] %s\n", "", p)
				}
				privateUnread = privateUnread || !uses.PrivateRead
			}
		}
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
	if privateUnread {
		fmt.Fprintln(stdout, "\nThe public keys' uses are checked; the token shows the private keys' only once logged in (hsm keygen checks a new key's).")
	}
	return nil
}

// runKeygen generates a KSK in the profile's PKCS#11 token and prints what
// the inventory and the trust anchor need: the DNSKEY, its key tag with and
// without the REVOKE bit, and its DS.
func runKeygen(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("hsm keygen", "", stderr)
	profilePath := fs.String("profile", "", "the profile naming the token (required; pkcs11 backend): its token section is enough, before any inventory or schema")
	label := fs.String("label", "", "the new key's label (required; never an existing one)")
	alg := fs.Uint("algorithm", 8, "DNSSEC algorithm: 8 (RSA/SHA-256) or 13 (ECDSA P-256/SHA-256)")
	bits := fs.Int("bits", 2048, "RSA modulus size")
	auth := &cardAuth{stdin: stdin, stderr: stderr}
	auth.flags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("hsm keygen", pos, "", req{"--profile", *profilePath}, req{"--label", *label}); err != nil {
		return err
	}
	if *alg != 8 && *alg != 13 {
		return usageErr("--algorithm %d: want 8 (RSA/SHA-256) or 13 (ECDSA P-256)", *alg)
	}
	// Only the token section counts: the first KSK is made before the
	// inventory and the schemas can name it.
	p, tok, closeTok, err := loadProfileWith(ctx, *profilePath, ceremony.LoadTokenProfile, true, auth)
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
