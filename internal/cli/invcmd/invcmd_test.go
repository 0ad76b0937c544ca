package invcmd

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type run struct {
	code           int
	stdout, stderr string
}

// granary runs one CLI command (built by mk) against srv with token.
func granary(t *testing.T, env map[string]string, mk func(*console.Env) *cobra.Command, args ...string) run {
	t.Helper()
	out, errs, code := clitest.Command(t, env, mk, args...)
	return run{code, out, errs}
}

func setup(t *testing.T) (*apitest.Server, map[string]string) {
	srv := apitest.Start(t, apitest.Options{})
	env := map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": apitest.AdminSecret, "HOME": t.TempDir()}
	return srv, env
}

func TestSummaryJSONGolden(t *testing.T) {
	_, env := setup(t)
	r := granary(t, env, New, "import", "testdata/fleet.csv")
	if r.code != 0 || !strings.Contains(r.stdout, "imported 10 devices") {
		t.Fatalf("import: %+v", r)
	}
	r = granary(t, env, New, "summary", "-o", "json")
	if r.code != 0 {
		t.Fatalf("summary: %+v", r)
	}
	clitest.Golden(t, *update, "summary.golden.json", r.stdout)
	// The contract of the issue: totals {devices, by_state} and one entry
	// per model with model, devices, by_state, pflops, hbm_tb, classification.
	for _, key := range []string{`"totals"`, `"devices": 10`, `"by_state"`, `"models"`, `"model": "a800-sxm4-80gb"`, `"pflops"`, `"hbm_tb"`, `"classification"`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("summary JSON lacks %s", key)
		}
	}
	r = granary(t, env, New, "summary")
	if r.code != 0 {
		t.Fatalf("summary table: %+v", r)
	}
	clitest.Golden(t, *update, "summary.golden.txt", r.stdout)
}

func TestImportRejectedExits2WithPositions(t *testing.T) {
	_, env := setup(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("serial,model,state\nX1,A800,in-service\nX2,Z9000,reserve\nX3,H20,lost\nX1,H20,reserve\n"), 0o644)
	r := granary(t, env, New, "import", bad)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %+v", r.code, r)
	}
	for _, want := range []string{bad + ":3:4: unknown model", bad + ":4:8: unknown state", bad + ":5:1: duplicate serial", "nothing imported"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = granary(t, env, New, "list", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"devices": []`) {
		t.Errorf("devices after a rejected import: %+v", r)
	}
}

func TestListSetStateHistory(t *testing.T) {
	srv, env := setup(t)
	if r := granary(t, env, New, "import", "testdata/fleet.csv"); r.code != 0 {
		t.Fatal(r)
	}
	r := granary(t, env, New, "list", "--model", "A800", "--state", "in-service")
	if r.code != 0 || strings.Count(r.stdout, "A800-000") != 2 || strings.Contains(r.stdout, "A800-0003") {
		t.Errorf("list A800 in-service: %+v", r)
	}
	// --q and --sort as the API takes them: shanghai's devices, models then serials Z to A.
	r = granary(t, env, New, "list", "--q", "SHANGHAI", "--sort", "-model", "-o", "csv")
	var serials []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		serials = append(serials, strings.Split(line, ",")[0])
	}
	if want := []string{"H20-0003", "H20-0002", "H20-0001", "910B3-0002", "910B3-0001"}; r.code != 0 || !slices.Equal(serials, want) {
		t.Errorf("list --q SHANGHAI --sort -model: %v, want %v (%+v)", serials, want, r)
	}
	r = granary(t, env, New, "list", "--class", "3A090.a", "--sort", "-serial", "-o", "csv")
	if r.code != 0 || !strings.Contains(r.stdout, "\nA800-0004,") || strings.Contains(r.stdout, "H20-") || strings.Index(r.stdout, "A800-0004") > strings.Index(r.stdout, "A800-0001") {
		t.Errorf("list --class 3A090.a --sort -serial: %+v", r)
	}
	if r := granary(t, env, New, "list", "--sort", "cost"); r.code != 2 || !strings.Contains(r.stderr, "sort") {
		t.Errorf("list --sort cost: %+v, want exit 2 naming sort", r)
	}
	r = granary(t, env, New, "list", "--all", "--limit", "3", "-o", "csv")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 11 || !strings.HasPrefix(r.stdout, "serial,model,state,node,site,pool,acquired,cost_usd,warranty_until,labels,node_cpu_milli,node_memory_mib\n") {
		t.Errorf("list --all -o csv: %+v", r)
	}
	// The CSV listing imports again into an empty server, identically.
	srv2 := apitest.Start(t, apitest.Options{})
	env2 := map[string]string{"GRANARY_SERVER": srv2.URL, "GRANARY_TOKEN": apitest.AdminSecret}
	f := filepath.Join(t.TempDir(), "again.csv")
	os.WriteFile(f, []byte(r.stdout), 0o644)
	if r2 := granary(t, env2, New, "import", f); r2.code != 0 {
		t.Fatalf("re-import: %+v", r2)
	}
	if a, b := granary(t, env, New, "summary", "-o", "json"), granary(t, env2, New, "summary", "-o", "json"); a.stdout != b.stdout {
		t.Errorf("summary after CSV round trip differs:\n%s\n%s", a.stdout, b.stdout)
	}

	op := srv.Token(t, inventory.RoleOperator)
	envOp := map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": op}
	r = granary(t, envOp, New, "set-state", "A800-0001", "A800-0002", "--state", "maintenance", "--reason", "fan noise")
	if r.code != 0 || strings.Count(r.stdout, "maintenance") != 2 {
		t.Errorf("set-state: %+v", r)
	}
	// One refused change (retired) among good ones: exit 1, 409 explained.
	r = granary(t, envOp, New, "set-state", "A800-0004", "A800-0001", "--state", "in-service", "--reason", "back")
	if r.code != 1 || !strings.Contains(r.stderr, "A800-0004") || !strings.Contains(r.stderr, "allowed transitions: none") || !strings.Contains(r.stdout, "A800-0001") {
		t.Errorf("set-state with a retired device: %+v", r)
	}
	r = granary(t, envOp, New, "history", "A800-0001", "-o", "csv")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.Contains(lines[1], "imported") || !strings.Contains(lines[2], "fan noise") || !strings.Contains(lines[3], ",maintenance,in-service,back,") {
		t.Errorf("history: %+v", r)
	}
	if r := granary(t, envOp, New, "history", "NOPE"); r.code != 2 {
		t.Errorf("history of a missing device: exit %d", r.code)
	}
	// Viewers may not write.
	view := map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": srv.Token(t, inventory.RoleViewer)}
	if r := granary(t, view, New, "set-state", "A800-0001", "--state", "failed", "--reason", "x"); r.code != 1 || !strings.Contains(r.stderr, "403") {
		t.Errorf("viewer set-state: %+v", r)
	}
	if r := granary(t, envOp, New, "set-state", "A800-0001", "--state", "failed"); r.code != 2 {
		t.Errorf("set-state without reason: %+v", r)
	}
}

func TestTokenAndConfigFile(t *testing.T) {
	srv, env := setup(t)
	r := granary(t, env, NewToken, "create", "--role", "viewer", "--name", "grafana")
	secret := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(secret, "gry_") {
		t.Fatalf("token create: %+v", r)
	}
	// The config file gives server and token when the environment does not.
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "granary"), 0o755)
	os.WriteFile(filepath.Join(home, ".config", "granary", "config.yaml"), []byte("server: "+srv.URL+"\ntoken: "+secret+"\n"), 0o600)
	cfgEnv := map[string]string{"HOME": home}
	if r := granary(t, cfgEnv, New, "summary", "-o", "json"); r.code != 0 {
		t.Errorf("summary with the config file: %+v", r)
	}
	if r := granary(t, cfgEnv, NewToken, "create", "--role", "admin"); r.code != 1 || !strings.Contains(r.stderr, "403") {
		t.Errorf("viewer creating a token: %+v", r)
	}
	r = granary(t, env, NewToken, "list", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"grafana"`) || strings.Contains(r.stdout, secret) {
		t.Errorf("token list: %+v", r)
	}
	if r := granary(t, map[string]string{"GRANARY_SERVER": srv.URL, "HOME": t.TempDir()}, New, "summary"); r.code != 1 || !strings.Contains(r.stderr, "GRANARY_TOKEN") {
		t.Errorf("no token: %+v", r)
	}
	os.WriteFile(filepath.Join(home, ".config", "granary", "config.yaml"), []byte("server: x\ntokn: y\n"), 0o600)
	if r := granary(t, cfgEnv, New, "summary"); r.code != 2 || !strings.Contains(r.stderr, "tokn") {
		t.Errorf("bad config file: %+v", r)
	}
	if r := granary(t, env, NewToken, "create", "--role", "root"); r.code != 2 {
		t.Errorf("bad role: %+v", r)
	}
}

func TestImportJSONAndStdin(t *testing.T) {
	_, env := setup(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "fleet.json")
	os.WriteFile(f, []byte(`{"nodes":[{"hostname":"gy1-910c-0001","site":"guizhou","interconnect_domain":"gy1-hccs-01"}],
"devices":[{"serial":"J-1","model":"910C","state":"in-service","node":"gy1-910c-0001","labels":{"rack":"r1"}},
{"serial":"J-2","model":"910C","state":"reserve","cost_usd":28000}]}`), 0o644)
	if r := granary(t, env, New, "import", f, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"devices": 2`) {
		t.Fatalf("JSON import: %+v", r)
	}
	// A JSON file with an unknown key is rejected whole, naming the key.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"serial":"J-3","model":"910C","state":"reserve"},{"serial":"J-4","model":"910C","state":"reserve","colour":"red"}]`), 0o644)
	if r := granary(t, env, New, "import", bad); r.code != 2 || !strings.Contains(r.stderr, "colour") || !strings.Contains(r.stderr, bad+":1:") {
		t.Errorf("bad JSON import: %+v", r)
	}
	// CSV on stdin.
	var out, errb bytes.Buffer
	e := &console.Env{Stdin: strings.NewReader("serial,model,state\nS-1,L20,reserve\n"), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	cmd := New(e)
	cmd.SetArgs([]string{"import", "-"})
	if err := cmd.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "imported 1 devices") {
		t.Errorf("stdin import: %v %s %s", err, out.String(), errb.String())
	}
	if r := granary(t, env, New, "list", "-o", "json"); r.code != 0 || strings.Count(r.stdout, `"serial"`) != 3 || strings.Contains(r.stdout, "J-3") {
		t.Errorf("after imports: %+v", r)
	}
	if r := granary(t, env, New, "import", f, "--format", "xml"); r.code != 2 {
		t.Errorf("--format xml: %+v", r)
	}
}

// Issue 16: `inventory list -o csv` re-imports as is — labels whose values
// hold ';', '=' or '\', Unicode serials, nodes and sites — and an import
// placing a device on a known node at another site is refused.
func TestCSVRoundTripExact(t *testing.T) {
	srv, env := setup(t)
	ctx := context.Background()
	for _, d := range []api.NewDevice{
		{Serial: "BI-ü-雪", Model: "H800", State: fleet.InService, Node: "节点-1", Site: "北京", Labels: map[string]string{"po": "a;b", "eq": "k=v", "bs": `c:\x`}},
		{Serial: "a/b?c#d%e", Model: "910B3", State: fleet.Reserve, Labels: map[string]string{"note": "\"quoted\", comma"}},
	} {
		if _, err := srv.Client(t, apitest.AdminSecret).CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	first := granary(t, env, New, "list", "--all", "-o", "csv")
	if first.code != 0 {
		t.Fatal(first)
	}
	srv2, env2 := setup(t)
	f := filepath.Join(t.TempDir(), "again.csv")
	os.WriteFile(f, []byte(first.stdout), 0o644)
	if r := granary(t, env2, New, "import", f); r.code != 0 {
		t.Fatalf("re-import: %+v", r)
	}
	if again := granary(t, env2, New, "list", "--all", "-o", "csv"); again.stdout != first.stdout {
		t.Errorf("CSV round trip differs:\n%s\n%s", first.stdout, again.stdout)
	}
	d, err := srv2.Ledger.Get(ctx, "BI-ü-雪")
	if err != nil || d.Labels["po"] != "a;b" || d.Labels["eq"] != "k=v" || d.Labels["bs"] != `c:\x` {
		t.Errorf("labels after the round trip: %v %v", d.Labels, err)
	}
	os.WriteFile(f, []byte("serial,model,state,node,site\nX-1,H800,reserve,节点-1,上海\n"), 0o644)
	r := granary(t, env, New, "import", f)
	if r.code != 2 || !strings.Contains(r.stderr, `node "节点-1" is at site "北京" in the ledger, not "上海"`) {
		t.Errorf("node at another site: %+v", r)
	}
}

// Nodes' CPU and memory: imported with their devices, listed by
// `inventory nodes` (cores and GiB; "-" when not recorded), written by
// `list -o csv` beside each device so that the listing imports again as
// the same nodes; a bad figure is exit 2 naming file, line and column.
func TestNodeFigures(t *testing.T) {
	_, env := setup(t)
	f := filepath.Join(t.TempDir(), "nodes.csv")
	os.WriteFile(f, []byte("serial,model,state,node,site,node_cpu_milli,node_memory_mib\n"+
		"H-1,H800,in-service,dgx-1,bj1,112000,2097152\n"+
		"H-2,H800,in-service,dgx-1,bj1,,\n"+
		"L-1,L20,reserve,pcie-1,bj1,,\n"), 0o644)
	if r := granary(t, env, New, "import", f); r.code != 0 {
		t.Fatal(r)
	}
	r := granary(t, env, New, "nodes")
	if r.code != 0 || !regexp.MustCompile(`(?m)^dgx-1 +bj1 +- +112 +2048$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^pcie-1 +bj1 +- +- +-$`).MatchString(r.stdout) {
		t.Errorf("nodes:\n%s%s", r.stdout, r.stderr)
	}
	list := granary(t, env, New, "list", "--all", "-o", "csv")
	if list.code != 0 || !strings.Contains(list.stdout, "\nH-2,h800-sxm5-80gb,in-service,dgx-1,bj1,,,,,,112000,2097152\n") {
		t.Errorf("list -o csv:\n%s", list.stdout)
	}
	_, env2 := setup(t)
	os.WriteFile(f, []byte(list.stdout), 0o644)
	if r := granary(t, env2, New, "import", f); r.code != 0 {
		t.Fatalf("re-import: %+v", r)
	}
	if a, b := granary(t, env, New, "nodes", "-o", "json"), granary(t, env2, New, "nodes", "-o", "json"); a.code != 0 || a.stdout != b.stdout || !strings.Contains(a.stdout, `"cpu_milli": 112000`) {
		t.Errorf("nodes after the CSV round trip differ:\n%s\n%s", a.stdout, b.stdout)
	}
	os.WriteFile(f, []byte("serial,model,state,node,node_cpu_milli\nX-1,H800,reserve,n9,-4\n"), 0o644)
	if r := granary(t, env, New, "import", f); r.code != 2 || !strings.Contains(r.stderr, `nodes.csv:2:21: node_cpu_milli "-4" is not a whole number of milli-cores`) {
		t.Errorf("a negative CPU: %+v", r)
	}
}
