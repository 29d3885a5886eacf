package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/ui"
)

func runSKRVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("skr verify", "usage: keyceremony skr verify SKR [--ksr KSR [--profile FILE] [--until TIME]] --anchor FILE [--now TIME] [--json]", stderr)
	ksrPath := fs.String("ksr", "", "the KSR this SKR answers")
	profilePath := fs.String("profile", "", "with --ksr: a profile whose text_signing timing the SKR's bundles must follow, bundle for bundle")
	until := fs.String("until", "", "with --ksr: a BIND KSR's period end (dnssec-ksr's -e)")
	anchorPath := fs.String("anchor", "", "trust anchors: root-anchors.xml, or DNSKEY/DS records (required)")
	policyPath := fs.String("policy", "", "a policy file (YAML); its num_bundles is the response policy's")
	nowFlag := fs.String("now", "", "also say whether the SKR is still in force at this time")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("skr verify", pos, "SKR file", req{"--anchor", *anchorPath}); err != nil {
		return err
	}
	ab, err := readInput(*anchorPath)
	if err != nil {
		return usageErr("--anchor: %v", err)
	}
	anchors, err := dnssec.ParseAnchors(ab)
	if err != nil {
		return badInput(fmt.Errorf("%s: %w", *anchorPath, err))
	}
	policy, err := loadPolicyFile(*policyPath)
	if err != nil {
		return err
	}
	var now time.Time
	if *nowFlag != "" {
		if now, err = parseNow(*nowFlag); err != nil {
			return err
		}
	}
	if *ksrPath == "" && (*profilePath != "" || *until != "") {
		return usageErr("skr verify: --profile and --until say how the KSR is cut: give --ksr too")
	}
	opts, err := timingArgs(*profilePath, *until)
	if err != nil {
		return err
	}
	var ksr *dnssec.Document
	if *ksrPath != "" {
		if _, ksr, err = readKSR(*ksrPath, "--ksr", opts); err != nil {
			return err
		}
	}
	data, skr, err := readDocument(pos[0])
	if err != nil {
		return err
	}
	d := dnssec.DigestOf(data)
	results := dnssec.VerifySKR(skr, anchors, ksr, policy, now)
	if opts != nil && ksr != nil && ksr.Format != "" && skr.Response != nil {
		// The signer's timing, compared bundle for bundle.
		r := dnssec.Result{ID: dnssec.CheckSKRTiming, Status: dnssec.Pass}
		o := *opts
		how := o.Describe(ksr.Format, ksr.Request.Bundles[0].Keys[0].TTL)
		if d := dnssec.TimingDiff(ksr.Request.Bundles, skr.Response.Bundles); d != "" {
			r.Status, r.Detail = dnssec.Fail, d+"; by "+how
		} else {
			r.Detail = fmt.Sprintf("every bundle's time and validity follow %s", how)
		}
		results = append(results, r)
	}
	ok := dnssec.Passed(results)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"file": filepath.Base(pos[0]), "sha256": d.Hex(), "words": d.Words(), "id": skr.ID, "ok": ok, "results": results})
	} else {
		stdout = safetext.Lines(stdout) // the report quotes the SKR: escaped
		fmt.Fprintf(stdout, "SKR      %s\nSHA-256  %s\n         %s\n\n", filepath.Base(pos[0]), dnssec.GroupHex(d.Hex()), d.Words())
		for _, r := range results {
			fmt.Fprintf(stdout, "%s %-20s %s\n", ui.StatusMark(r.Status), r.ID, r.Detail)
		}
		if ok {
			fmt.Fprintln(stdout, "\nVERIFIED")
		} else {
			fmt.Fprintln(stdout, "\nNOT VERIFIED")
		}
	}
	for _, r := range results {
		if r.Status == dnssec.Fail {
			return badInput(fmt.Errorf("skr verify %s: %s: %s", pos[0], r.ID, r.Detail))
		}
	}
	return nil
}
