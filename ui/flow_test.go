package ui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keyceremony/keyceremony/ceremony/session"
)

// flow drives the real program (teatest) one key at a time, waiting after
// each for what the screen must show.
type flow struct {
	t   *testing.T
	tm  *teatest.TestModel
	out []byte // what the program drew since the last key
}

func startFlow(t *testing.T, c *Console) *flow {
	return &flow{t: t, tm: teatest.NewTestModel(t, c, teatest.WithInitialTermSize(c.width, c.height))}
}

// key sends k and waits until the screen shows want.
func (f *flow) key(k, want string) {
	f.t.Helper()
	f.out = nil
	switch k {
	case "enter":
		f.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	case "esc":
		f.tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	default:
		f.tm.Type(k)
	}
	f.wait(want)
}

func (f *flow) wait(want string) {
	f.t.Helper()
	buf := make([]byte, 64<<10)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		n, _ := f.tm.Output().Read(buf)
		f.out = append(f.out, buf[:n]...)
		if strings.Contains(ansi.Strip(string(f.out)), want) {
			return
		}
		if n == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	f.t.Fatalf("the screen never showed %q; since the last key it drew:\n%s", want, ansi.Strip(string(f.out)))
}

// quit asks to quit, checks the question explains the log is safe, says
// yes and returns the final model.
func (f *flow) quit() *Console {
	f.t.Helper()
	f.key("q", "resumes at the current step")
	f.tm.Type("y")
	return f.tm.FinalModel(f.t, teatest.WithFinalTimeout(15*time.Second)).(*Console)
}

// advanceTo plays the demo unattended until the step with the given id is
// next, then closes its log: a ceremony stopped there.
func advanceTo(t *testing.T, dir, step string) {
	t.Helper()
	c := consoleOn(t, dir, 160, 45, nil, nil)
	for i := 0; i < 300 && c.current().ID != step; i++ {
		if err := autoStep(c); err != nil {
			t.Fatal(err)
		}
	}
	if c.current().ID != step {
		t.Fatalf("the demo never reached step %s", step)
	}
	c.drv.Log().Close(context.Background())
}

// TestFlowKSRConfirmation: resumed before the KSR is loaded, the console
// asks for the cards again before the HSM is used, loads the KSR, shows its
// hash in hex and PGP words to compare with hash#1, and moves on only when
// the IW and then the RZM representative confirm it with their key; quit
// and resume land on the next step.
func TestFlowKSRConfirmation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	advanceTo(t, dir, "3.3")
	f := startFlow(t, consoleOn(t, dir, 160, 45, nil, nil))
	f.wait("RESUMED at step 3.3")
	f.wait("The console restarted: the HSM must be activated again")
	f.key("1", "card CO1 (Amara Okafor) accepted")
	f.key("2", "card CO2 (Bjorn Lindqvist) accepted")
	f.key("3", "quorum reached: CO1, CO2, CO3")
	f.key("enter", "HSM logged in")
	f.key("enter", "Compare this hash with the one received out of band")
	f.wait("SHA-256 ba59 9094 95d5 ad64")
	f.wait("shadow examine peachy molecule")
	f.key("w", "RZM confirms: w")
	f.key("w", "▶ STEP 3.4")
	final := f.quit()
	st := final.drv.Snapshot()
	if !final.quit || st.KSR == nil || !st.KSR.Confirmed || final.current().ID != "3.4" {
		t.Fatalf("after the flow: quit %v, KSR %+v, at %s", final.quit, st.KSR, final.current().ID)
	}
	final.drv.Log().Close(context.Background())
	g := startFlow(t, consoleOn(t, dir, 160, 45, nil, nil))
	g.wait("RESUMED at step 3.4")
	g.quit()
}

// TestFlowException: an exception typed into its field is logged, shown,
// and listed by e; esc leaves the list; the ceremony stays on its step.
func TestFlowException(t *testing.T) {
	c := newConsole(t, 160, 45)
	f := startFlow(t, c)
	f.wait("▶ STEP 1.1")
	f.key("x", "Exception:")
	for _, r := range "Camera 2 off" {
		f.tm.Type(string(r))
	}
	f.key("enter", "EXCEPTION at step 1.1: Camera 2 off")
	f.key("e", "[EXCEPTION] step 1.1: Camera 2 off")
	f.key("esc", "▶ STEP 1.1")
	final := f.quit()
	if st := final.drv.Snapshot(); len(st.Exceptions) != 1 || st.Next != 0 || st.Awaiting() != session.NextWitness {
		t.Fatalf("after the exception: %+v", st.Exceptions)
	}
}
