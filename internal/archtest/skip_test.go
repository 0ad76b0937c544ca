package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// optIn lists the environment variables a test may skip on because they
// opt INTO a run (a heavy figure run, a re-executed helper process), not
// because something is missing. A variable naming a dependency (a server
// URL, a data directory) does not belong here: skip on it through
// sharedtest.Missing, which fails under CI=true.
var optIn = map[string]bool{
	"GRANARY_FIGURES":         true, // heavy figure runs (internal/sim/figures_test.go)
	"GRANARY_CRASH_HELPER_DB": true, // the re-executed scheduler of control's SIGKILL test
}

// guard is the one function allowed to call Skip on a missing dependency.
const guard = "internal/sharedtest/sharedtest.go"

// TestSkipsGoThroughTheCIGuard keeps every future skip honest: a test may
// call t.Skip/Skipf/SkipNow directly only under `if testing.Short()` or an
// opt-in variable of optIn; anything else (a missing file, service, binary)
// must call sharedtest.Missing, which skips locally and fails under CI=true.
func TestSkipsGoThroughTheCIGuard(t *testing.T) {
	root := "../.."
	var files []string
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	byDir := map[string][]string{}
	for _, f := range files {
		byDir[filepath.Dir(f)] = append(byDir[filepath.Dir(f)], f)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	skips := 0
	for _, d := range dirs {
		fset := token.NewFileSet()
		parsed := map[string]*ast.File{}
		for _, f := range byDir[d] {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(fset, f, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			parsed[f] = af
		}
		consts := stringConsts(parsed)
		for f, af := range parsed {
			rel, _ := filepath.Rel(root, f)
			if filepath.ToSlash(rel) == guard {
				continue
			}
			n, bad := unguardedSkips(fset, af, consts)
			skips += n
			for _, b := range bad {
				t.Errorf("%s: skips without sharedtest.Missing; a missing dependency must fail under CI=true (or add an opt-in variable to optIn)", b)
			}
		}
	}
	if skips == 0 {
		t.Fatal("found no Skip call at all; is the walk looking at the right tree?")
	}
}

// TestSkipCheckCanFail feeds the checker a skip on a missing binary and the
// two allowed forms.
func TestSkipCheckCanFail(t *testing.T) {
	src := `package x
import ("os"; "os/exec"; "testing")
const helper = "GRANARY_CRASH_HELPER_DB"
func TestA(t *testing.T) {
	if _, err := exec.LookPath("kind"); err != nil {
		t.Skip("no kind")
	}
	if os.Getenv("GRANARY_TEST_POSTGRES") == "" {
		t.Skipf("no database")
	}
	if testing.Short() {
		t.Skip("short")
	}
	if os.Getenv(helper) == "" {
		t.SkipNow()
	}
	if os.Getenv("GRANARY_FIGURES") != "1" {
		t.Skip("heavy")
	}
	t.Skip("bare")
}`
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, "x_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, bad := unguardedSkips(fset, af, stringConsts(map[string]*ast.File{"x": af}))
	if n != 6 || len(bad) != 3 {
		t.Fatalf("saw %d skips, flagged %v; want 6 skips, 3 flagged (LookPath, the database URL, the bare skip)", n, bad)
	}
	for i, line := range []string{":6:", ":9:", ":20:"} {
		if !strings.Contains(bad[i], line) {
			t.Errorf("flagged %v, want line %s", bad, line)
		}
	}
}

// stringConsts maps the names of a package's string constants to their values.
func stringConsts(files map[string]*ast.File) map[string]string {
	out := map[string]string{}
	for _, af := range files {
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								out[name.Name] = v
							}
						}
					}
				}
			}
		}
	}
	return out
}

// unguardedSkips counts the Skip/Skipf/SkipNow calls of a file and returns
// the positions of those not under an allowed condition.
func unguardedSkips(fset *token.FileSet, af *ast.File, consts map[string]string) (int, []string) {
	n := 0
	var bad []string
	var stack []ast.Node
	ast.Inspect(af, func(node ast.Node) bool {
		if node == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, node)
		call, ok := node.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Skip" && sel.Sel.Name != "Skipf" && sel.Sel.Name != "SkipNow") {
			return true
		}
		n++
		if !allowedSkip(stack, consts) {
			bad = append(bad, fset.Position(call.Pos()).String())
		}
		return true
	})
	return n, bad
}

// allowedSkip reports whether the innermost if around the call tests
// testing.Short() or an opt-in variable.
func allowedSkip(stack []ast.Node, consts map[string]string) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		ifs, ok := stack[i].(*ast.IfStmt)
		if !ok {
			continue
		}
		allowed := false
		ast.Inspect(ifs.Cond, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch {
			case pkg.Name == "testing" && sel.Sel.Name == "Short":
				allowed = true
			case pkg.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv") && len(call.Args) == 1:
				var name string
				switch a := call.Args[0].(type) {
				case *ast.BasicLit:
					name, _ = strconv.Unquote(a.Value)
				case *ast.Ident:
					name = consts[a.Name]
				}
				if optIn[name] {
					allowed = true
				}
			}
			return true
		})
		return allowed
	}
	return false
}
