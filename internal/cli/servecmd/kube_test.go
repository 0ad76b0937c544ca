package servecmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/cli/console"
)

// A kubeconfig whose API server does not answer: exit 2 (a usage error)
// naming the server URL and the error, before anything is served.
func TestServeKubeUnreachableExits2(t *testing.T) {
	dir := t.TempDir()
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
	var out, errb strings.Builder
	e := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	cmd := New(e)
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "g.db"), "--kube", "--kubeconfig", kc})
	err := cmd.ExecuteContext(context.Background())
	var ue console.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T): want a usage error (exit 2)", err, err)
	}
	for _, want := range []string{"https://127.0.0.1:1", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(out.String(), "serving on") {
		t.Errorf("served although the cluster is unreachable:\n%s", out.String())
	}
}

func TestServeKubeFlagsValidate(t *testing.T) {
	c := Default()
	c.Kubeconfig = "x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--kubeconfig needs --kube") {
		t.Errorf("--kubeconfig without --kube: %v", err)
	}
	c = Default()
	c.Kube, c.Demo = true, true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("--kube --demo: %v", err)
	}
}
