package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureImports: ARCHITECTURE.md's table of the imports inside
// the module is the one go list gives, package for package.
func TestArchitectureImports(t *testing.T) {
	const mod = "github.com/keyceremony/keyceremony"
	doc, err := os.ReadFile(filepath.Join("..", "..", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (.*) \\|$")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.NewReplacer("`", "", "—", "").Replace(m[2])
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", mod+"/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(l, "|")
		name := strings.TrimPrefix(pkg, mod+"/")
		if pkg == mod {
			name = "(main)"
		}
		listed[name] = true
		var inside []string
		for _, i := range strings.Fields(imports) {
			if strings.HasPrefix(i, mod+"/") {
				inside = append(inside, strings.TrimPrefix(i, mod+"/"))
			}
		}
		doc, ok := documented[name]
		if !ok {
			t.Errorf("ARCHITECTURE.md does not list package %s (it imports %s)", name, strings.Join(inside, ", "))
			continue
		}
		if got := strings.Join(inside, ", "); got != doc {
			t.Errorf("ARCHITECTURE.md: %s imports %q, go list says %q", name, doc, got)
		}
	}
	for name := range documented {
		if !listed[name] {
			t.Errorf("ARCHITECTURE.md lists %s, which is not a package of the module", name)
		}
	}
}

// TestEngineIsLight: the log format and the engine link neither Tessera,
// OpenTelemetry nor PKCS#11; the verifier (which reads tiles through
// Tessera's layout) links no PKCS#11 and builds without cgo.
func TestEngineIsLight(t *testing.T) {
	const mod = "github.com/keyceremony/keyceremony"
	deps := func(pkgs ...string) []string {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	heavy := func(what string, deps []string, prefixes ...string) {
		for _, dep := range deps {
			for _, p := range prefixes {
				if strings.HasPrefix(dep, p) {
					t.Errorf("%s links %s", what, dep)
				}
			}
		}
	}
	heavy("the engine", deps(mod+"/ceremony/event", mod+"/ceremony"), "github.com/transparency-dev/tessera", "go.opentelemetry.io/", "github.com/miekg/pkcs11")
	heavy("the verifier", deps(mod+"/ceremony/audit"), "github.com/miekg/pkcs11")
	build := exec.Command("go", "build", "-o", os.DevNull, mod+"/ceremony/audit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("ceremony/audit does not build without cgo: %v\n%s", err, out)
	}
}
