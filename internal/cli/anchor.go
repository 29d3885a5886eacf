package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyceremony/keyceremony/ceremony/audit/anchors"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/anchor"
)

// runAnchorRekor anchors a verified log's checkpoints in Rekor: the
// opening, each act boundary and the final one, each an anchors/<size>.json.
func runAnchorRekor(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("anchor rekor", "usage: keyceremony anchor rekor DIR --url URL --key FILE", stderr)
	url := fs.String("url", "", "the Rekor v1 server (required)")
	keyPath := fs.String("key", "", "the ECDSA P-256 anchoring key (PEM); made there when it does not exist (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("anchor rekor", pos, "log folder", req{"--url", *url}, req{"--key", *keyPath}); err != nil {
		return err
	}
	dir := pos[0]
	rep, err := transparency.Verify(os.DirFS(dir), transparency.VerifyOptions{})
	if err != nil {
		return operational(fmt.Errorf("anchor rekor: %w", err))
	}
	if f := rep.FirstFailure(); f != nil {
		return badInput(fmt.Errorf("anchor rekor: %s does not verify (%s: %s); nothing was anchored", dir, f.ID, f.Detail))
	}
	key, created, err := anchor.LoadOrCreateKey(*keyPath, os.ReadFile, func(p string, b []byte) error {
		return durable.WriteFile(p, b, 0o600, durable.New)
	})
	if err != nil {
		return usageErr("anchor rekor: --key %s: %v", *keyPath, err)
	}
	if created {
		fmt.Fprintf(stdout, "new anchoring key %s (keep it; its public key is in every anchor)\n", *keyPath)
	}
	if err := anchors.KeyAnnounced(rep, key); err != nil {
		return usageErr("anchor rekor: --key %s: %v", *keyPath, err)
	}
	err = anchors.Anchor(ctx, dir, rep, *url, key, func(a anchors.Anchored) {
		if a.Already {
			fmt.Fprintf(stdout, "checkpoint %d: anchored already (%s)\n", a.Size, a.File)
		} else {
			fmt.Fprintf(stdout, "checkpoint %d anchored: Rekor entry %s → %s\n", a.Size, a.UUID, a.File)
		}
	})
	switch {
	case errors.Is(err, anchors.ErrBadCheckpoint), errors.Is(err, anchors.ErrNoCheckpoint):
		return badInput(fmt.Errorf("anchor rekor: %w", err))
	case err != nil:
		return operational(fmt.Errorf("anchor rekor: %w", err))
	}
	return nil
}

// anchorKeyArg reads an anchoring key (PEM: a public key, or the ECDSA
// private key itself) and names it by the SHA-256 of its public key.
func anchorKeyArg(path string) (string, error) {
	b, err := readInput(path)
	if err != nil {
		return "", err
	}
	if pub, err := anchor.ParsePublicKey(b); err == nil {
		return anchor.KeySHA256(pub)
	}
	k, _, err := anchor.LoadOrCreateKey(path, readInput, func(string, []byte) error { return errors.New("no key") })
	if err != nil {
		return "", fmt.Errorf("neither a PEM public key nor an ECDSA P-256 private key: %v", err)
	}
	return anchor.KeySHA256(&k.PublicKey)
}

func runAnchorExport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("anchor export", "usage: keyceremony anchor export --profile FILE [--out DIR]", stderr)
	profilePath := fs.String("profile", "", "the profile whose KSK inventory to export (required)")
	outDir := fs.String("out", "", "write root-anchors.xml and ds.txt into this folder instead of printing them")
	id := fs.String("id", "", "the TrustAnchor id attribute (default: derived from the inventory)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("anchor export", pos, "", req{"--profile", *profilePath}); err != nil {
		return err
	}
	p, tok, closeTok, err := loadProfile(ctx, *profilePath, false)
	if err != nil {
		return err
	}
	defer closeTok()
	xmlData, ds, err := session.TrustAnchors(ctx, p, tok, *id)
	switch {
	case errors.Is(err, session.ErrInventory):
		return badInput(err)
	case err != nil:
		return operational(err)
	}
	if *outDir == "" {
		stdout.Write(xmlData)
		fmt.Fprint(stdout, "\n"+ds)
		return nil
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "root-anchors.xml"), xmlData, 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	if err := durable.WriteFile(filepath.Join(*outDir, "ds.txt"), []byte(ds), 0o644, durable.Replace); err != nil {
		return operational(err)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*outDir, "root-anchors.xml"), filepath.Join(*outDir, "ds.txt"))
	return nil
}
