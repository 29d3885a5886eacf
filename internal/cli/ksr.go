package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/dnssec"
	"github.com/keyceremony/keyceremony/internal/durable"
	"github.com/keyceremony/keyceremony/internal/safetext"
	"github.com/keyceremony/keyceremony/ui"
)

// readKSR reads a file that must be a KSR; flag names the option it came
// from ("" for the argument), for the message.
func readKSR(path, flag string, opts ...*dnssec.TextOptions) ([]byte, *dnssec.Document, error) {
	data, doc, err := readDocument(path, opts...)
	if err == nil && doc.Request == nil {
		if flag != "" {
			return nil, nil, usageErr("%s %s is an SKR, not a KSR", flag, path)
		}
		return nil, nil, badInput(fmt.Errorf("%s is an SKR, not a KSR; verify it with keyceremony skr verify", path))
	}
	return data, doc, err
}

// readSKR reads a file that must be an SKR, as readKSR.
func readSKR(path, flag string) ([]byte, *dnssec.Document, error) {
	data, doc, err := readDocument(path)
	if err == nil && doc.Response == nil {
		if flag != "" {
			return nil, nil, usageErr("%s %s is a KSR, not an SKR", flag, path)
		}
		return nil, nil, badInput(fmt.Errorf("%s is a KSR, not an SKR; check it with keyceremony ksr check", path))
	}
	return data, doc, err
}

// readDocument reads a KSR or SKR file, refusing one over the size limit
// before reading it whole.
func readDocument(path string, opts ...*dnssec.TextOptions) ([]byte, *dnssec.Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usageErr("%s: %v", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, dnssec.MaxDocumentSize+1))
	if err != nil {
		return nil, nil, operational(fmt.Errorf("%s: %w", path, err))
	}
	if len(data) > dnssec.MaxDocumentSize {
		return nil, nil, badInput(fmt.Errorf("%s: more than %d bytes; a KSR or SKR is never that large", path, dnssec.MaxDocumentSize))
	}
	var o *dnssec.TextOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	doc, err := dnssec.ParseAny(data, o)
	if err != nil {
		return nil, nil, badInput(fmt.Errorf("%s: %w; ask its sender for a well-formed one", path, err))
	}
	return data, doc, nil
}

// loadPolicyFile reads a request policy file; "" means IANA's defaults.
func loadPolicyFile(path string) (dnssec.CheckPolicy, error) {
	if path == "" {
		return dnssec.DefaultPolicy(), nil
	}
	b, err := readInput(path)
	if err != nil {
		return dnssec.CheckPolicy{}, usageErr("policy: %v", err)
	}
	p, err := dnssec.LoadPolicy(path, b)
	if err != nil {
		return dnssec.CheckPolicy{}, usageErr("%v", err)
	}
	return p, nil
}

// parseNow reads --now: RFC 3339, or a date (midnight UTC).
// textOptions joins a profile's text signing timing (nil: none) and
// --until, the end of a BIND KSR's period.
func textOptions(p *ceremony.Profile, until string) (*dnssec.TextOptions, error) {
	o := p.TextOptions()
	if until == "" {
		return o, nil
	}
	t, err := parseTime("--until", until)
	if err != nil {
		return nil, err
	}
	if o == nil {
		o = &dnssec.TextOptions{}
	}
	o.Until = t
	return o, nil
}

// timingArgs are the text signing options of --profile (a profile read
// for its text_signing alone; without that section, each tool's defaults)
// and --until; nil when neither is given.
func timingArgs(profilePath, until string) (*dnssec.TextOptions, error) {
	var prof *ceremony.Profile
	if profilePath != "" {
		var err error
		if prof, err = readProfileFile(profilePath); err != nil {
			return nil, err
		}
	}
	opts, err := textOptions(prof, until)
	if err == nil && opts == nil && prof != nil {
		opts = &dnssec.TextOptions{}
	}
	return opts, err
}

// needUntil refuses to sign a BIND KSR without the end of its period:
// dnssec-ksr sign needs it too (-e), and a BIND KSR does not carry it.
func needUntil(path, flag string, doc *dnssec.Document, o *dnssec.TextOptions) error {
	if doc.Format == dnssec.FormatBIND && (o == nil || o.Until.IsZero()) {
		return usageErr("%s: a BIND KSR does not say when its period ends: give %s TIME, the end (-e) it was requested for with dnssec-ksr request", path, flag)
	}
	return nil
}

func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC(), nil
	}
	return parseTime("--now", s)
}

// parseTime reads a date or an RFC 3339 time given to flag.
func parseTime(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, time.DateOnly, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageErr("%s %q: give a date (2017-02-01) or an RFC 3339 time", flag, s)
}

type ksrReport struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Words  string `json:"words"`
	ID     string `json:"id"`
	Domain string `json:"domain"`
	Serial string `json:"serial"`
	// Format is "" for IANA's XML, else knot or bind: a text KSR has no
	// serial, and Period says what it covers instead.
	Format string `json:"format,omitempty"`
	Period string `json:"period,omitempty"`
	// Timing says, for a text KSR, by which signer's timing it was cut.
	Timing  string          `json:"timing,omitempty"`
	Now     string          `json:"now"`
	Bundles []bundleRow     `json:"bundles"`
	Results []dnssec.Result `json:"results"`
	OK      bool            `json:"ok"`
}

type bundleRow struct {
	N          int      `json:"n"`
	ID         string   `json:"id"`
	Inception  string   `json:"inception"`
	Expiration string   `json:"expiration"`
	KeyTags    []uint16 `json:"key_tags"`
}

func runKSRCheck(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("ksr check", "usage: keyceremony ksr check KSR [--previous-skr SKR] [--policy FILE] [--profile FILE] [--until TIME] [--now TIME] [--json]", stderr)
	profilePath := fs.String("profile", "", "a profile whose text_signing cuts a Knot or BIND KSR (default: each tool's own defaults)")
	until := fs.String("until", "", "a BIND KSR's period end (dnssec-ksr's -e)")
	prevPath := fs.String("previous-skr", "", "the last SKR this signer produced, for the chain checks")
	policyPath := fs.String("policy", "", "a policy file (YAML) changing IANA's defaults")
	nowFlag := fs.String("now", "", "check as of this time (date or RFC 3339); default: now")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("ksr check", pos, "KSR file"); err != nil {
		return err
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	policy, err := loadPolicyFile(*policyPath)
	if err != nil {
		return err
	}
	var prev *dnssec.Document
	if *prevPath != "" {
		if _, prev, err = readSKR(*prevPath, "--previous-skr"); err != nil {
			return err
		}
	}
	opts, err := timingArgs(*profilePath, *until)
	if err != nil {
		return err
	}
	data, doc, err := readKSR(pos[0], "", opts)
	if err != nil {
		return err
	}
	d := dnssec.DigestOf(data)
	rep := ksrReport{File: filepath.Base(pos[0]), SHA256: d.Hex(), Words: d.Words(), ID: doc.ID, Domain: doc.Domain,
		Serial: doc.Serial, Now: now.Format(time.RFC3339)}
	for i, b := range doc.Request.Bundles {
		row := bundleRow{N: i + 1, ID: b.ID, Inception: b.Inception.Format(time.DateTime), Expiration: b.Expiration.Format(time.DateTime)}
		for _, k := range b.Keys {
			row.KeyTags = append(row.KeyTags, k.KeyTag)
		}
		rep.Bundles = append(rep.Bundles, row)
	}
	if rep.Format = doc.Format; doc.Format != "" && len(doc.Request.Bundles) > 0 {
		bs := doc.Request.Bundles
		rep.Period = bs[0].Inception.UTC().Format(time.DateTime) + " to " + bs[len(bs)-1].Expiration.UTC().Format(time.DateTime) + " UTC"
		o := dnssec.TextOptions{}
		if opts != nil {
			o = *opts
		}
		rep.Timing = o.Describe(doc.Format, bs[0].Keys[0].TTL)
	}
	rep.Results = dnssec.CheckKSR(doc, policy, now, prev)
	rep.OK = dnssec.Passed(rep.Results)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printKSRReport(safetext.Lines(stdout), rep) // the KSR's own text, escaped
	}
	if !rep.OK {
		for _, r := range rep.Results {
			if r.Status == dnssec.Fail {
				return badInput(fmt.Errorf("ksr check %s: %s: %s", pos[0], r.ID, r.Detail))
			}
		}
	}
	return nil
}

func printKSRReport(w io.Writer, rep ksrReport) {
	fmt.Fprintf(w, "KSR      %s\nSHA-256  %s\n         %s\n", rep.File, dnssec.GroupHex(rep.SHA256), rep.Words)
	serial := "serial " + rep.Serial
	if rep.Format != "" {
		// A text KSR (Knot's keymgr, BIND's dnssec-ksr) has no serial: it
		// is known by the period its records cover.
		serial = fmt.Sprintf("a %s KSR (no serial) covering %s", rep.Format, rep.Period)
	}
	fmt.Fprintf(w, "id %s · domain %s · %s · %d bundles · checked as of %s\n", rep.ID, rep.Domain, serial, len(rep.Bundles), rep.Now)
	if rep.Timing != "" {
		fmt.Fprintf(w, "cut by %s\n", rep.Timing)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%3s  %-36s  %-19s  %-19s  %s\n", "#", "bundle id", "inception (UTC)", "expiration (UTC)", "key tags")
	for _, b := range rep.Bundles {
		tags := make([]string, len(b.KeyTags))
		for i, t := range b.KeyTags {
			tags[i] = strconv.Itoa(int(t))
		}
		fmt.Fprintf(w, "%3d  %-36s  %-19s  %-19s  %s\n", b.N, b.ID, b.Inception, b.Expiration, strings.Join(tags, " "))
	}
	fmt.Fprintln(w)
	fails, warns := 0, 0
	for _, r := range rep.Results {
		mark := ui.StatusMark(r.Status)
		switch r.Status {
		case dnssec.Fail:
			fails++
		case dnssec.Warn:
			warns++
		}
		fmt.Fprintf(w, "%s %-27s %s\n", mark, r.ID, r.Detail)
	}
	fmt.Fprintln(w)
	if fails == 0 {
		fmt.Fprintf(w, "PASSED: %d checks, %d warnings\n", len(rep.Results), warns)
	} else {
		fmt.Fprintf(w, "FAILED: %d of %d checks\n", fails, len(rep.Results))
	}
}

func runKSRSign(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("ksr sign", "usage: keyceremony ksr sign KSR --profile FILE --out SKR [--until TIME] [--previous-skr SKR] [--schema NAME] [--now TIME] [--roster FILE --cards DIR] --yes", stderr)
	until := fs.String("until", "", "a BIND KSR's period end (dnssec-ksr's -e; required for a BIND KSR)")
	profilePath := fs.String("profile", "", "the profile: token, KSK inventory, schemas, KSK policy (required)")
	out := fs.String("out", "", "where to write the SKR; an existing file is never overwritten (required)")
	prevPath := fs.String("previous-skr", "", "the last SKR, for the chain and safety checks")
	schema := fs.String("schema", "", "the signing schema (default: the profile's)")
	nowFlag := fs.String("now", "", "check and sign as of this time (default: now)")
	yes := fs.Bool("yes", false, "sign without asking: the confirmation the console asks for")
	auth := &cardAuth{stdin: stdin, stderr: stderr}
	auth.flags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := requireArgs("ksr sign", pos, "KSR file", req{"--profile", *profilePath}, req{"--out", *out}); err != nil {
		return err
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
	opts, err := textOptions(p, *until)
	if err != nil {
		return err
	}
	data, ksr, err := readKSR(pos[0], "", opts)
	if err != nil {
		return err
	}
	if err := needUntil(pos[0], "--until", ksr, opts); err != nil {
		return err
	}
	d := dnssec.DigestOf(data)
	stdout = safetext.Lines(stdout) // the report quotes the KSR: escaped
	fmt.Fprintf(stdout, "KSR      %s\nSHA-256  %s\n         %s\n\n", filepath.Base(pos[0]), dnssec.GroupHex(d.Hex()), d.Words())
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
	fmt.Fprintf(stdout, "\n%d checks passed. SKR written: %s\nSHA-256  %s\n         %s\n", len(results), *out, dnssec.GroupHex(sd.Hex()), sd.Words())
	return nil
}
