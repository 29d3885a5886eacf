package ui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keyceremony/keyceremony/ceremony"
	"github.com/keyceremony/keyceremony/ceremony/session"
	"github.com/keyceremony/keyceremony/scripts"
)

// signingConsole is the console on the shipped quarterly signing script at
// 160×45, at its busiest screen: the KSR checked (15 results), the step's
// witnesses to confirm.
func signingConsole(b *testing.B) *Console {
	raw, _ := scripts.Get("signing")
	script, err := ceremony.LoadScriptWith("signing.yaml", raw, func(string) ([]byte, error) { return scripts.DemoRoster(), nil })
	if err != nil {
		b.Fatal(err)
	}
	c := newConsoleScript(b, 160, 45, script, nil)
	for i := 0; i < 200; i++ {
		if cur, ok := c.state.Current(); ok && cur.Action == ceremony.ActionKSRCheck && c.state.KSR != nil && c.state.KSR.Checked {
			return c
		}
		if err := autoStep(c); err != nil {
			b.Fatal(err)
		}
		c.cp = c.drv.Log().Latest()
	}
	b.Fatal("the signing script never reached its KSR check")
	return nil
}

// frameFloor is the baseline: measuring every line of a finished frame in
// terminal cells, the least any renderer does with a frame.
func frameFloor(frame string) int {
	n := 0
	for _, l := range strings.Split(frame, "\n") {
		n += lipgloss.Width(l)
	}
	return n
}

// BenchmarkConsoleView times View() of the signing script's busiest screen
// at 160×45, and in the same iterations the baseline frameFloor on the
// frame it drew.
func BenchmarkConsoleView(b *testing.B) {
	c := signingConsole(b)
	var view, base time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		frame := c.View()
		t1 := time.Now()
		frameFloor(frame)
		view, base = view+t1.Sub(t0), base+time.Since(t1)
	}
	report(b, view, base)
}

// BenchmarkKeypressToFrame times a key's Update and the View that follows
// (the frame the room sees next), for the keys of the signing screen: w
// (the witness confirms: the frame shows the work started; the log append
// itself runs in a command, off the frame's path), c (the checkpoint's QR
// code, full screen) and the key that closes it, ? and its close. The
// baseline is frameFloor on each frame.
func BenchmarkKeypressToFrame(b *testing.B) {
	c := signingConsole(b)
	keys := []tea.KeyMsg{keyMsg("c"), keyMsg("x"), keyMsg("?"), keyMsg("x"), keyMsg("w")}
	var frame, base time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, k := range keys {
			t0 := time.Now()
			c.Update(k)
			f := c.View()
			t1 := time.Now()
			frameFloor(f)
			frame, base = frame+t1.Sub(t0), base+time.Since(t1)
		}
		c.busy, c.page = "", pageCeremony // w's command is never run: the next w is a keypress again
		if c.state.Awaiting() != session.NextWitness {
			b.Fatal("the screen moved on")
		}
	}
	report(b, frame/time.Duration(len(keys)), base/time.Duration(len(keys)))
}

func report(b *testing.B, d, base time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(d.Microseconds())/n, "µs/frame")
	b.ReportMetric(float64(base.Microseconds())/n, "µs/baseline")
	if base > 0 {
		b.ReportMetric(float64(d)/float64(base), "×baseline")
	}
	b.ReportMetric(float64(d)/n/float64(time.Second/60)*100, "%of60Hz")
}
