package archtest

import (
	"slices"
	"strings"
	"testing"
)

// layers is the architecture as a table: which packages of the module each
// package may import, besides the pure core (which every package may use),
// and which standard packages it may not. The longest matching prefix
// rules; a package that no row matches may import only the pure core.
// Pure packages themselves are held to the stricter TestPureCoreDoesNoIO.
var layers = []struct {
	pkg    string
	may    []string // module packages (prefixes) beyond the pure core
	forbid []string // standard-library packages it may not import
}{
	// The live loop sits below the API: no HTTP, no HTML, no SQL.
	{"internal/control", []string{"internal/control"}, []string{"net/http", "html/template", "database/sql"}},
	{"internal/store", []string{"internal/store", "internal/sharedtest"}, []string{"net/http", "html/template"}},
	{"internal/plot", nil, []string{"net/http", "database/sql"}},
	{"internal/api", []string{"internal/api", "internal/buildinfo"}, []string{"html/template", "database/sql"}},
	{"internal/api/apitest", []string{"internal/api", "internal/client", "internal/store"}, nil},
	{"internal/client", []string{"internal/api"}, []string{"html/template", "database/sql"}},
	{"internal/web", []string{"internal/plot"}, []string{"database/sql"}},
	// The only package that imports client-go; its backends may use control.
	{"internal/k8s", []string{"internal/k8s", "internal/control", "internal/sharedtest"}, []string{"html/template", "database/sql"}},
	// The CLI wires everything; servecmd/live wires live scheduling.
	{"internal/cli", []string{"internal/cli", "internal/api", "internal/client", "internal/control", "internal/store", "internal/web", "internal/plot", "internal/k8s", "internal/buildinfo"}, []string{"database/sql"}},
	// The binary's version and VCS info (runtime/debug), for the CLI and /metrics.
	{"internal/buildinfo", nil, []string{"net/http", "database/sql"}},
	{"internal/sharedtest", nil, nil},
	{"internal/archtest", nil, nil},
	{"cmd", []string{"internal/cli"}, nil},
}

func under(name, prefix string) bool { return name == prefix || strings.HasPrefix(name, prefix+"/") }

// rule returns the row of the longest prefix that matches name, or -1.
func rule(name string) int {
	best := -1
	for i, l := range layers {
		if under(name, l.pkg) && (best < 0 || len(l.pkg) > len(layers[best].pkg)) {
			best = i
		}
	}
	return best
}

// allowed reports whether package from may import package to (both
// module-relative, or to a standard package).
func allowed(from, to string) bool {
	r := rule(from)
	if !strings.HasPrefix(to, "internal/") && !strings.HasPrefix(to, "cmd/") {
		return r < 0 || !slices.Contains(layers[r].forbid, to)
	}
	if isPure(to) || isPure(from) { // pure → pure is TestPureCoreDoesNoIO's
		return true
	}
	if r < 0 {
		return false
	}
	for _, p := range layers[r].may {
		if under(to, p) {
			return true
		}
	}
	return false
}

func TestLayers(t *testing.T) {
	for _, p := range list(t, "./...") {
		from := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, imp := range p.Imports {
			to := strings.TrimPrefix(imp, module+"/")
			if !allowed(from, to) {
				t.Errorf("%s imports %s: not allowed by the layers table", from, to)
			}
		}
	}
}

// TestLayersCanFail: the table forbids what the architecture forbids.
func TestLayersCanFail(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"internal/control", "internal/api", false},
		{"internal/control", "net/http", false},
		{"internal/control", "internal/jobs", true},
		{"internal/store/sqlite", "internal/control", false},
		{"internal/web", "internal/store/sqlite", false},
		{"internal/cli/servecmd/live", "internal/control/simbackend", true},
		{"internal/api", "internal/web", false},
		{"internal/k8s", "internal/api", false},
		{"cmd/granary", "internal/store/sqlite", false},
	} {
		if got := allowed(c.from, c.to); got != c.want {
			t.Errorf("allowed(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}
