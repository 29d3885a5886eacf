package ceremony

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyceremony/keyceremony/scripts"
)

func demoScript(t testing.TB) *Script {
	t.Helper()
	b, err := scripts.Get("demo")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadScript("demo.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDemoScript(t *testing.T) {
	s := demoScript(t)
	steps := s.Steps()
	if len(s.Acts) != 5 || len(steps) < 18 || len(steps) > 22 {
		t.Fatalf("%d acts, %d steps", len(s.Acts), len(steps))
	}
	if s.Quorum.Threshold != 3 || len(s.Quorum.Cards) != 7 {
		t.Fatalf("quorum %d of %d", s.Quorum.Threshold, len(s.Quorum.Cards))
	}
	if steps[0].Line == 0 || len(s.Digest) != 64 {
		t.Fatal("lines or digest not set")
	}
}

const minimal = `ceremony: Test
zone: "."
roles:
  - {id: CA, title: Ceremony Administrator}
  - {id: IW, title: Internal Witness}
acts:
  - title: Only act
    steps:
      - id: "1.1"
        role: CA
        text: Do the thing.
        witnesses: [IW]
`

func TestScriptProblems(t *testing.T) {
	cases := []struct {
		name, edit, want string
	}{
		{"unknown key", "zone: \".\"\nflavour: x", `test.yaml:3: field flavour not found`},
		{"duplicate key", "zone: \".\"\nzone: x", `test.yaml:3: mapping key "zone" already defined at line 2`},
		{"undeclared role", "role: CA\n        text: Do", `test.yaml:9: step 1.1: role "RZM" is not declared`},
		{"undeclared witness", "witnesses: [IW]", `test.yaml:9: step 1.1: witness "SA" is not declared`},
		{"unknown action", "witnesses: [IW]", `test.yaml:9: step 1.1: unknown action "ksr.eat"`},
		{"bad step id", `id: "1.1"`, `test.yaml:9: step id "one" is not act.step`},
		{"wrong act", `id: "1.1"`, `test.yaml:9: step 2.1 is in act 1`},
		{"no confirmation", "witnesses: [IW]", `test.yaml:9: step 1.1: action ksr.sign is irreversible and needs a typed confirmation`},
		{"sign before quorum", "witnesses: [IW]", `step 1.1 (ksr.sign) needs a ksr.check step before it`},
		{"unknown show", "witnesses: [IW]", `test.yaml:9: step 1.1: show: "the-moon" is not something the screen shows`},
		{"empty after_close", "", `after_close: line 2 is empty`},
		{"escape in a step text", "", `test.yaml:9: step 1.1: holds a control, format or invalid character (1.1 CA Do \x1b[2Jthe thing.`},
		{"bidi override in the title", "", `ceremony: holds a control, format or invalid character`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := minimal
			switch c.name {
			case "unknown key", "duplicate key":
				src = strings.Replace(src, `zone: "."`, c.edit, 1)
			case "undeclared role":
				src = strings.Replace(src, "role: CA", "role: RZM", 1)
			case "undeclared witness":
				src = strings.Replace(src, "witnesses: [IW]", "witnesses: [SA]", 1)
			case "unknown action":
				src = strings.Replace(src, "witnesses: [IW]", "witnesses: [IW]\n        action: ksr.eat", 1)
			case "bad step id":
				src = strings.Replace(src, `id: "1.1"`, `id: "one"`, 1)
			case "wrong act":
				src = strings.Replace(src, `id: "1.1"`, `id: "2.1"`, 1)
			case "unknown show":
				src = strings.Replace(src, "witnesses: [IW]", "witnesses: [IW]\n        show: [log-key, the-moon]", 1)
			case "escape in a step text":
				src = strings.Replace(src, "text: Do the thing.", `text: "Do \e[2Jthe thing."`, 1)
			case "bidi override in the title":
				src = strings.Replace(src, "ceremony: ", "ceremony: \u202e", 1)
			case "empty after_close":
				src += "after_close:\n  - Stop the stream.\n  - \"\"\n"
			case "no confirmation", "sign before quorum":
				src = strings.Replace(src, "witnesses: [IW]", "witnesses: [IW]\n        action: ksr.sign", 1)
			}
			_, err := LoadScript("test.yaml", []byte(src))
			if !errors.Is(err, ErrScript) {
				t.Fatalf("err = %v, want ErrScript", err)
			}
			var se *ScriptError
			errors.As(err, &se)
			for _, p := range se.Problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Fatalf("problems %q do not include %q", se.Problems, c.want)
		})
	}
	if _, err := LoadScript("test.yaml", []byte(minimal)); err != nil {
		t.Fatalf("minimal script: %v", err)
	}
}
