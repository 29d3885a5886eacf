package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyceremony/keyceremony/transparency"
)

// YearScript is the name demo --script takes for a KSK's year rehearsed: a
// chain of rehearsals, each on the previous one's log.
const YearScript = "year"

// yearStep is one ceremony of the year: its folder, script and what it
// takes besides the log it follows.
type yearStep struct {
	name, script, what string
	extra              []string
}

// yearSteps are the year's ceremonies, in order, in dir: the key generated
// and backed up (its officers' new cards dealt); two quarterly signings;
// the officers replaced; the key restored at the other facility from the
// backup, under the recovery holders' quorum.
func yearSteps(dir string) []yearStep {
	at := func(name string) string { return filepath.Join(dir, name) }
	return []yearStep{
		{"1-keygen", "keygen", "key generation, backed up for the recovery holders", nil},
		{"2-signing-q1", "signing", "the first quarterly signing (2010 Q1)", nil},
		{"3-signing-q2", "signing", "the next quarterly signing (2010 Q2)", []string{"--cards", at("1-keygen-cards-2")}},
		{"4-officers", "officers", "three crypto officers replaced", []string{"--cards", at("1-keygen-cards-2")}},
		{"5-recovery", "recovery", "the KSK restored at the other facility", []string{"--recovery-cards", at("1-keygen-recovery-cards")}},
	}
}

// runYear rehearses the year, each ceremony on the previous one's log, and
// ends with verify --history over all of them, the officers' keys pinned
// by the first ceremony's published roster. Run again on the same folder,
// it goes on where it stopped: closed ceremonies are kept, an unfinished
// one resumes.
func runYear(ctx context.Context, h hooks, dir string, pass []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return operational(err)
	}
	steps := yearSteps(dir)
	var logs []string
	for i, st := range steps {
		log := filepath.Join(dir, st.name)
		if rep, err := transparency.Verify(os.DirFS(log), transparency.VerifyOptions{}); err == nil && rep.OK && rep.Closed {
			fmt.Fprintf(stdout, "A KSK's year, ceremony %d of %d (%s): closed already in %s\n", i+1, len(steps), st.what, log)
			logs = append(logs, log)
			continue
		}
		fmt.Fprintf(stdout, "\n═══ A KSK's year, ceremony %d of %d: %s (--script %s) ═══\n", i+1, len(steps), st.what, st.script)
		args := append([]string{"--script", st.script, "--log", log}, pass...)
		if i > 0 {
			args = append(args, "--previous-log", logs[i-1])
		}
		if err := runDemo(ctx, h, append(args, st.extra...), stdin, stdout, stderr); err != nil {
			return err
		}
		if rep, err := transparency.Verify(os.DirFS(log), transparency.VerifyOptions{}); err != nil || !rep.Closed {
			// Stopped before the end: the same command goes on from here.
			fmt.Fprintf(stdout, "\nThe year stopped at ceremony %d of %d; go on with:\n  keyceremony demo --script %s --log %s\n", i+1, len(steps), YearScript, dir)
			return nil
		}
		logs = append(logs, log)
	}
	fmt.Fprintf(stdout, "\n═══ The closing check: verify --history over the %d ceremonies ═══\n", len(logs))
	return verifyHistory(logs, filepath.Join(dir, "1-keygen-roster.yaml"), false, stdout)
}
