package archtest

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/granaryhq/granary"

// pure lists the core packages: data in, result out. They may not reach the
// network, disk, database, Kubernetes or the process.
var pure = []string{
	"internal/fleet",
	"internal/accel",
	"internal/exportctl",
	"internal/perf",
	"internal/models",
	"internal/sched",
	"internal/sim",
	"internal/forecast",
	"internal/names",
	"internal/hwprobe",
	"internal/share",
	"internal/decode",
	"internal/jobs",
	"internal/inventory",
	"internal/trace",
	"internal/demo",
}

// forbidden are packages whose presence in a pure package's dependencies
// means it can do I/O.
var forbidden = []string{
	"os", "os/exec", "os/signal", "net", "net/http", "database/sql", "syscall",
	"io/ioutil", "log", "log/slog",
}

var forbiddenPrefixes = []string{"k8s.io/", "sigs.k8s.io/controller-runtime", "modernc.org/sqlite", "github.com/jackc/"}

func isPure(name string) bool {
	for _, p := range pure {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	GoFiles    []string
	Dir        string
	Name       string
}

func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	args := append([]string{"list", "-json", "-deps=false"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestPureCoreDoesNoIO(t *testing.T) {
	all := list(t, "./...")
	present := map[string]pkg{}
	for _, p := range all {
		present[strings.TrimPrefix(p.ImportPath, module+"/")] = p
	}
	checked := 0
	for _, name := range pure {
		p, ok := present[name]
		if !ok {
			continue // not written yet
		}
		checked++
		// Direct imports of the pure package and of every package of this
		// module it reaches may not do I/O. Third-party libraries (a YAML
		// parser) may import os for their own file helpers, which the core
		// never calls, so only the prefixes below are checked transitively.
		direct := append([]string(nil), p.Imports...)
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/") {
				direct = append(direct, present[strings.TrimPrefix(d, module+"/")].Imports...)
			}
		}
		for _, d := range direct {
			for _, f := range forbidden {
				if d == f {
					t.Errorf("%s is pure but reaches %s", name, d)
				}
			}
			if strings.HasPrefix(d, module+"/") {
				if inner := strings.TrimPrefix(d, module+"/"); !isPure(inner) {
					t.Errorf("%s is pure but imports the edge package %s", name, inner)
				}
			}
		}
		for _, d := range p.Deps {
			for _, f := range forbiddenPrefixes {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s is pure but depends on %s", name, d)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no pure package found; is the module path right?")
	}
}

func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range list(t, "./...") {
		if len(p.GoFiles) == 0 {
			continue
		}
		found := 0
		fset := token.NewFileSet()
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				found++
			}
		}
		switch {
		case found == 0:
			t.Errorf("package %s has no doc comment", p.ImportPath)
		case found > 1:
			t.Errorf("package %s has %d doc comments; keep one (in doc.go or the main file)", p.ImportPath, found)
		}
	}
}

// TestForbiddenCheckCanFail proves the dependency check sees a known I/O
// package: the CLI edge must depend on os.
func TestForbiddenCheckCanFail(t *testing.T) {
	for _, p := range list(t, "./internal/cli") {
		for _, d := range p.Deps {
			if d == "os" {
				return
			}
		}
	}
	t.Fatal("internal/cli does not list os among its deps; the purity check would be blind")
}

// TestPureCoreHasNoWallClock keeps time a value in the core: no time.Now,
// time.Since or time.Sleep in non-test files of pure packages.
func TestPureCoreHasNoWallClock(t *testing.T) {
	for _, p := range list(t, "./...") {
		if !isPure(strings.TrimPrefix(p.ImportPath, module+"/")) {
			continue
		}
		for _, f := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []string{"time.Now(", "time.Since(", "time.Sleep(", "time.After(", "time.NewTimer(", "rand.Seed("} {
				if bytes.Contains(src, []byte(call)) {
					t.Errorf("%s/%s calls %s; pure packages take time and randomness as values", p.ImportPath, f, call)
				}
			}
		}
	}
}

// TestOnlyK8sImportsKubernetes keeps client-go and controller-runtime in
// one edge: internal/k8s and its subpackages.
func TestOnlyK8sImportsKubernetes(t *testing.T) {
	seen := false
	for _, p := range list(t, "./...") {
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		inK8s := name == "internal/k8s" || strings.HasPrefix(name, "internal/k8s/")
		for _, d := range p.Imports {
			if !strings.HasPrefix(d, "k8s.io/") && !strings.HasPrefix(d, "sigs.k8s.io/") {
				continue
			}
			if inK8s {
				seen = true
				continue
			}
			t.Errorf("%s imports %s; only internal/k8s/... may talk to Kubernetes", name, d)
		}
	}
	if !seen {
		t.Fatal("internal/k8s imports no k8s.io package; the check would be blind")
	}
}
