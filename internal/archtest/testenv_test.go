package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testenv copies scripts/testenv.sh beside an env.d holding the given
// service scripts and runs it with cmd.
func testenv(t *testing.T, services map[string]string, cmd ...string) (string, error) {
	t.Helper()
	src, err := os.ReadFile("../../scripts/testenv.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "scripts")
	if err := os.MkdirAll(filepath.Join(dir, "env.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testenv.sh"), src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range services {
		if err := os.WriteFile(filepath.Join(dir, "env.d", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := exec.Command("bash", append([]string{filepath.Join(dir, "testenv.sh")}, cmd...)...)
	out, err := c.CombinedOutput()
	return string(out), err
}

// TestTestenvFailsOnABrokenService: a service script that exits non-zero
// stops `make test` with its name, even when it printed a valid export line
// first (before, `eval "$(bash s)"` swallowed the failure and the suites
// needing the service skipped).
func TestTestenvFailsOnABrokenService(t *testing.T) {
	out, err := testenv(t, map[string]string{
		"a.sh": "echo 'export GRANARY_A=1'\n",
		"b.sh": "echo 'export GRANARY_B=1'\necho 'install failed' >&2\nexit 3\n",
	}, "sh", "-c", "echo RAN")
	if err == nil {
		t.Fatalf("testenv succeeded with a failing service script:\n%s", out)
	}
	if !strings.Contains(out, "b.sh failed (exit 3)") {
		t.Errorf("output does not name the failing script and status:\n%s", out)
	}
	if strings.Contains(out, "RAN") {
		t.Errorf("the command ran after a service failed:\n%s", out)
	}
}

// TestTestenvExportsWorkingServices: the exports of the scripts reach the
// command.
func TestTestenvExportsWorkingServices(t *testing.T) {
	out, err := testenv(t, map[string]string{
		"a.sh": "echo 'export GRANARY_A=one'\n",
		"b.sh": "echo 'export GRANARY_B=two'\n",
	}, "sh", "-c", `test "$GRANARY_A$GRANARY_B" = onetwo && echo RAN`)
	if err != nil || !strings.Contains(out, "RAN") {
		t.Fatalf("testenv: %v\n%s", err, out)
	}
}

// TestCIRunFailsOnMissingDependencies: .ci/run exports CI=true before
// `make test`, so that the browser, PostgreSQL and Kubernetes suites fail,
// not skip, when scripts/env.d could not provide what they need
// (sharedtest.Missing) — without relying on the runner to set CI.
func TestCIRunFailsOnMissingDependencies(t *testing.T) {
	src, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	export, run := -1, -1
	for i, l := range strings.Split(string(src), "\n") {
		switch strings.TrimSpace(l) {
		case "export CI=true":
			export = i
		case "make test":
			run = i
		}
	}
	if export < 0 || run < 0 || export > run {
		t.Fatalf(".ci/run must `export CI=true` before `make test` (export at line %d, make test at %d):\n%s", export+1, run+1, src)
	}
}
