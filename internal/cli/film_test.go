package cli

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyceremony/keyceremony/internal/filmtest"
	"github.com/keyceremony/keyceremony/transparency"
	"github.com/keyceremony/keyceremony/transparency/camera"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/mod/sumdb/note"
)

// filmCmd is the testscript command film (see TestScripts).
func filmCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || (len(args) != 2 && len(args) != 4) {
		ts.Fatalf("usage: film LOG OUT [forge SIZE | text TEXT]")
	}
	var notes [][]byte
	if len(args) == 4 && args[2] == "text" {
		notes = append(notes, []byte(args[3]))
	} else {
		dir := ts.MkAbs(args[0])
		names, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
		ts.Check(err)
		var sizes []int
		for _, n := range names {
			if s, err := strconv.Atoi(n.Name()); err == nil {
				sizes = append(sizes, s)
			}
		}
		sort.Ints(sizes)
		for _, s := range sizes {
			b, err := os.ReadFile(filepath.Join(dir, "checkpoints", strconv.Itoa(s)))
			ts.Check(err)
			if len(args) == 4 && args[2] == "forge" && args[3] == strconv.Itoa(s) {
				b = rewritten(ts, b, dir+".key")
			}
			notes = append(notes, b)
		}
	}
	var shots []filmtest.Shot
	for _, n := range notes {
		codes, err := camera.Chosen.Codes(n)
		ts.Check(err)
		for _, c := range codes {
			lines, err := c.HalfBlocks(1)
			ts.Check(err)
			view := "CHECKPOINT\n" + strings.Repeat("─", 160) + "\n"
			for _, l := range lines {
				view += "    \x1b[97;40m" + l + "\x1b[0m\n"
			}
			shots = append(shots, filmtest.Shot{View: view, For: time.Second})
		}
	}
	shots = append(shots, filmtest.Shot{View: "The ceremony is closed.", For: time.Second})
	ts.Check(filmtest.Film(context.Background(), ts.MkAbs(args[1]), shots, filmtest.Encoding{Width: 1280, Height: 720, Cols: 160, Rows: 45, CRF: 28}))
}

// rewritten is the checkpoint of a log whose entries were rewritten: the
// same origin and size, another root, signed with the log's key.
func rewritten(ts *testscript.TestScript, real []byte, keyFile string) []byte {
	skey, err := os.ReadFile(keyFile)
	ts.Check(err)
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	ts.Check(err)
	body, _ := transparency.SplitNote(real)
	origin, size, root, err := transparency.ParseCheckpointBody(string(body))
	ts.Check(err)
	root = sha256.Sum256(append(root[:], "rewritten"...))
	forged, err := note.Sign(&note.Note{Text: transparency.FormatCheckpointBody(origin, size, root)}, signer)
	ts.Check(err)
	return forged
}
