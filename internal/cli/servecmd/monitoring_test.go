package servecmd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/sharedtest"
)

// deployDir is the repository's deploy/ directory.
func deployDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy")
}

var metricRE = regexp.MustCompile(`\b(?:granary_[a-z_]+|DCGM_FI_[A-Z_]+)\b`)

// servedFamilies scrapes url/metrics and returns each family's type by name.
func servedFamilies(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// served reports whether a metric name used in a query is on /metrics: a
// family, or a histogram's _bucket/_count/_sum series.
func served(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suf); ok && fams[base] == "histogram" {
			return true
		}
	}
	return false
}

// TestDeployMonitoring checks deploy/prometheus/alerts.yaml with promtool
// (scripts/env.d/promtool.sh builds it), the Grafana dashboard's structure,
// and that every metric either names is served by `granary serve --demo`
// (with one agent report, so the agent series exist).
func TestDeployMonitoring(t *testing.T) {
	dir := deployDir(t)
	rules := filepath.Join(dir, "prometheus", "alerts.yaml")
	var exprs []string

	// The alert rules: promtool, and each rule's fields.
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("%s: %v", rules, err)
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: no severity label or summary annotation", r.Alert)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	for _, a := range []string{"GranarySchedulingRoundsFailing", "GranarySchedulingRoundsSlow", "GranaryJobsWaitingLong", "GranaryDeviceFailures", "GranaryAgentSilent", "GranaryNotReady"} {
		if !alerts[a] {
			t.Errorf("alerts.yaml lacks %s", a)
		}
	}
	checkDashboard(t, filepath.Join(dir, "grafana", "granary-dashboard.json"), &exprs)

	// Every metric named is served.
	url, out, stop := start(t, nil, "--db", filepath.Join(t.TempDir(), "g.db"), "--demo", "--demo-scale", "0.02", "--round", "1s")
	defer stop()
	m := regexp.MustCompile(`export GRANARY_TOKEN=(gry_\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no token printed:\n%s", out)
	}
	reportOnce(t, url, m[1])
	var fams map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for names := []string{}; ; {
		fams = servedFamilies(t, url)
		names = names[:0]
		for _, e := range exprs {
			for _, n := range metricRE.FindAllString(e, -1) {
				if !served(fams, n) && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
		if len(names) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("metrics named in deploy/ but not on /metrics: %v", names)
			break
		}
		time.Sleep(250 * time.Millisecond) // the first rounds fill the histograms
	}

	promtool := os.Getenv("GRANARY_TEST_PROMTOOL")
	if promtool == "" {
		sharedtest.Missing(t, "no promtool (run scripts/env.d/promtool.sh, or set GRANARY_TEST_PROMTOOL)")
		return
	}
	pout, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, pout)
	}
	t.Logf("promtool: %s", strings.TrimSpace(string(pout)))
}

// reportOnce posts one agent report (no devices) so the agent series exist.
func reportOnce(t *testing.T, url, tok string) {
	t.Helper()
	ctx := context.Background()
	admin, err := client.New(url, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	at, err := admin.CreateAgentToken(ctx, "node-x", "monitoring test")
	if err != nil {
		t.Fatal(err)
	}
	ag, err := client.New(url, at.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ag.Report(ctx, inventory.AgentReport{Node: "node-x", Site: "test"}); err != nil {
		t.Fatal(err)
	}
}

// checkDashboard validates the dashboard's structure (the fields Grafana
// needs to import it) and collects its panels' queries.
func checkDashboard(t *testing.T, path string, exprs *[]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos *struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Errorf("dashboard: uid %q title %q schemaVersion %d, %d panels", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if !slices.Contains([]string{"timeseries", "stat", "table", "gauge", "bargauge"}, p.Type) || p.Title == "" || p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %d %q: type %q, gridPos %+v", p.ID, p.Title, p.Type, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.RefID == "" || q.Expr == "" || !metricRE.MatchString(q.Expr) {
				t.Errorf("panel %q: target %+v names no Granary metric", p.Title, q)
			}
			*exprs = append(*exprs, q.Expr)
		}
	}
}
