package servecmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/client"
)

var urlRE = regexp.MustCompile(`serving on (http://\S+)`)

// start runs `granary serve` in-process until the returned stop is called.
func start(t *testing.T, env map[string]string, args ...string) (url string, out *clitest.Buffer, stop func() error) {
	t.Helper()
	out, errb := &clitest.Buffer{}, &clitest.Buffer{}
	e := &console.Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := New(e)
	cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			return m[1], out, func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(15 * time.Second):
					t.Fatal("server did not stop within 15 s of cancel")
					return nil
				}
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\nstdout:\n%s\nstderr:\n%s", err, out, errb)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("no URL printed within 30 s\nstdout:\n%s\nstderr:\n%s", out, errb)
	return "", nil, nil
}

func TestServeDemoPrintsURLAndTokenAndStopsCleanly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	url, out, stop := start(t, nil, "--db", db, "--demo", "--demo-scale", "0.02")
	demoTok := regexp.MustCompile(`Admin token of the demo \(kept in (\S+)\): (gry_\S+)`)
	m := demoTok.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no token printed:\n%s", out)
	}
	if m[1] != db+".token" {
		t.Errorf("demo token kept in %s, want %s.token", m[1], db)
	}
	if fi, err := os.Stat(m[1]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo token file: %v %v", fi, err)
	}
	secret := m[2]
	c, err := client.New(url, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sum, err := c.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Totals.Devices < 300 || len(sum.Models) < 9 {
		t.Errorf("demo at scale 0.02: %d devices, %d models", sum.Totals.Devices, len(sum.Models))
	}
	for path, want := range map[string]string{"/": "Ascend 910C", "/healthz": "ok", "/readyz": "ready", "/metrics": "granary_devices{"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}

	// A restart of the demo does not seed again and prints the same token:
	// no admin token is minted.
	url, out, stop = start(t, nil, "--db", db, "--demo", "--demo-scale", "0.02")
	if m = demoTok.FindStringSubmatch(out.String()); m == nil || m[2] != secret {
		t.Fatalf("restarted demo printed %q, want the first token again:\n%s", m, out)
	}
	c, _ = client.New(url, secret, nil)
	if ts, err := c.Tokens(ctx); err != nil || len(ts) != 1 {
		t.Errorf("tokens after a demo restart: %+v, %v", ts, err)
	}
	sum2, err := c.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Totals.Devices != sum.Totals.Devices {
		t.Errorf("restart changed the fleet: %d → %d devices", sum.Totals.Devices, sum2.Totals.Devices)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServeBindsBeforeMinting: a first start whose port is taken fails
// before it touches the store, so no admin token nobody saw is left behind.
func TestServeBindsBeforeMinting(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	db := filepath.Join(t.TempDir(), "g.db")
	var out bytes.Buffer
	e := &console.Env{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := New(e)
	cmd.SetArgs([]string{"--addr", busy.Addr().String(), "--db", db})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "listening on") {
		t.Fatalf("serve on a taken port: %v", err)
	}
	if strings.Contains(out.String(), "gry_") {
		t.Errorf("a token was printed:\n%s", out.String())
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the store was created (%v): its first admin token would be unseen", err)
	}
}

func TestServeBootstrapTokenFromEnvironment(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	env := map[string]string{"GRANARY_BOOTSTRAP_TOKEN": "automation-secret-1"}
	url, out, stop := start(t, env, "--db", db)
	if strings.Contains(out.String(), "automation-secret-1") || !strings.Contains(out.String(), "GRANARY_BOOTSTRAP_TOKEN") {
		t.Errorf("stdout:\n%s", out)
	}
	c, _ := client.New(url, "automation-secret-1", nil)
	if _, err := c.Tokens(context.Background()); err != nil {
		t.Errorf("bootstrap token does not work as admin: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Second start on the same store: no token printed, the old one still works.
	url, out, stop = start(t, nil, "--db", db)
	if strings.Contains(out.String(), "token") {
		t.Errorf("second start printed a token:\n%s", out)
	}
	c, _ = client.New(url, "automation-secret-1", nil)
	if _, err := c.Tokens(context.Background()); err != nil {
		t.Errorf("bootstrap token after restart: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "nonsense"},
		{"--db", "mysql://x"},
		{"--log-level", "loud"},
		{"--demo-scale", "0"},
	} {
		e := &console.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		cmd := New(e)
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if console.ExitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, console.ExitCode(err), err)
		}
	}
}

// TestServeConfigSources: a bad value from the environment or the config
// file exits 2 naming the variable or the file, line and field; nothing is
// opened (the store file is not created).
func TestServeConfigSources(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	cfg := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfg, []byte("db: "+db+"\nlog-format: xml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"GRANARY_ADDR": "nonsense"}, nil, "$GRANARY_ADDR (--addr)"},
		{map[string]string{"GRANARY_LEASE": "forever"}, nil, "$GRANARY_LEASE (--lease)"},
		{map[string]string{"GRANARY_DEMO_SCALE": "99"}, nil, "$GRANARY_DEMO_SCALE (--demo-scale)"},
		{nil, []string{"--config", cfg}, cfg + ":2: log-format"},
		{map[string]string{"GRANARY_LOG_FORMAT": "yaml"}, []string{"--config", cfg}, "$GRANARY_LOG_FORMAT (--log-format)"},
		{map[string]string{"GRANARY_LOG_FORMAT": "yaml"}, []string{"--config", cfg, "--log-format", "csv"}, "--log-format \"csv\""},
	} {
		e := &console.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tc.env[k] }}
		cmd := New(e)
		cmd.SetArgs(append([]string{"--db", db}, tc.args...))
		if tc.args != nil && tc.args[0] == "--config" {
			cmd.SetArgs(tc.args) // the file's db
		}
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if console.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: exit %d (%v), want 2 naming %s", tc.env, tc.args, console.ExitCode(err), err, tc.want)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused configuration opened the store: %v", err)
	}
}

// TestServeFromEnvironmentAndFile: the store comes from the config file and
// the log format from the environment; the URL line is followed by the
// GRANARY_SERVER export line.
func TestServeFromEnvironmentAndFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "fromfile.db")
	cfg := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfg, []byte("db: "+db+"\nlog-format: text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, out, stop := start(t, map[string]string{"GRANARY_LOG_FORMAT": "json"}, "--config", cfg)
	if !strings.Contains(out.String(), "export GRANARY_SERVER="+url+"\n") || !strings.Contains(out.String(), "export GRANARY_TOKEN=gry_") {
		t.Errorf("stdout lacks the export lines:\n%s", out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the config file's db was not used: %v", err)
	}
}

// TestServePolicy: issue 14's `serve --policy granary` is accepted and the
// live scheduler runs it (the jobs page names it); so is
// `--policy las-hetero-packed` with a --throughputs file that has the pair
// throughputs; without them (the estimated table has none) a *-packed
// policy is refused with exit 2 naming the first missing pair.
func TestServePolicy(t *testing.T) {
	dir := t.TempDir()
	url, _, stop := start(t, nil, "--db", filepath.Join(dir, "g.db"), "--policy", "granary")
	resp, err := http.Get(url + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "policy <b>granary</b>") {
		t.Errorf("GET /jobs under --policy granary: %d, body lacks the policy:\n%.400s", resp.StatusCode, b)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}

	tp := filepath.Join(dir, "pairs.json")
	if err := os.WriteFile(tp, []byte(`{"v100": {"('ResNet-18 (batch size 16)', 1)": {"null": 10, "('ResNet-18 (batch size 16)', 1)": [6, 6]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _, stop = start(t, nil, "--db", filepath.Join(dir, "p.db"), "--policy", "las-hetero-packed", "--throughputs", tp)
	resp, err = http.Get(url + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "policy <b>las-hetero-packed</b>") {
		t.Errorf("GET /jobs under --policy las-hetero-packed: %d, body lacks the policy:\n%.400s", resp.StatusCode, b)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}

	// Refused policies exit 2 before anything is opened: no store file
	// (and so no bootstrap token nobody saw) is left behind.
	for policy, want := range map[string]string{
		"las-hetero-packed": "--policy: policy las-hetero-packed: not found: space sharing needs pair throughputs: missing pair (",
		"bogus":             "las-hetero", // the valid names are listed
	} {
		db := filepath.Join(dir, policy+".db")
		e := &console.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		cmd := New(e)
		cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--db", db, "--policy", policy})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err = cmd.ExecuteContext(context.Background())
		if console.ExitCode(err) != 2 || !strings.Contains(err.Error(), want) {
			t.Errorf("--policy %s: exit %d (%v), want 2 saying %q", policy, console.ExitCode(err), err, want)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("--policy %s: the store %s exists after the refusal (%v)", policy, db, err)
		}
	}
	// --kube: a table whose pairs can share a device on the cluster (V100,
	// NVIDIA: HAMi's names) passes the policy checks and goes on to
	// connect (the cluster here does not answer: exit 2 naming it); one
	// whose only pairs are on a vendor without sharing names (Ascend) is
	// refused, naming the models, before anything is opened.
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ascend := filepath.Join(dir, "ascend.json")
	if err := os.WriteFile(ascend, []byte(`{"910b3": {"('ResNet-18 (batch size 16)', 1)": {"null": 10, "('ResNet-18 (batch size 16)', 1)": [6, 6]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ table, want, db string }{
		{tp, "--kube: ", "k.db"},
		{ascend, "--policy las-hetero-packed --kube: no pair of " + ascend + " can share a device on Kubernetes", "a.db"},
	} {
		e := &console.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		cmd := New(e)
		cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--db", filepath.Join(dir, tc.db), "--kube", "--kubeconfig", kc, "--policy", "las-hetero-packed", "--throughputs", tc.table})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if console.ExitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), tc.want) || (tc.table == tp && strings.Contains(err.Error(), "no pair")) {
			t.Errorf("--kube --policy las-hetero-packed --throughputs %s: exit %d (%v), want 2 saying %q", tc.table, console.ExitCode(err), err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.db")); !os.IsNotExist(err) {
		t.Errorf("the store exists after the refusal of the Ascend pairs (%v)", err)
	}
}

// TestServeSharePacker: an unknown --share-packer is exit 2 naming the
// flag and the packers, before anything is opened.
func TestServeSharePacker(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	e := &console.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := New(e)
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--db", db, "--share-packer", "tetris"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(context.Background())
	if console.ExitCode(err) != 2 || !strings.Contains(err.Error(), `--share-packer: unknown packer "tetris"`) || !strings.Contains(err.Error(), "fgd, granary") {
		t.Errorf("--share-packer tetris: exit %d (%v), want 2 naming the packers", console.ExitCode(err), err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the store %s exists after the refusal (%v)", db, err)
	}
}
