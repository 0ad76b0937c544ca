package sharedtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const helperEnv = "GRANARY_SHAREDTEST_HELPER"

// TestMissingHelper is run by TestMissingSkipsLocallyFailsUnderCI in a child
// process; on its own it does nothing.
func TestMissingHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	Missing(t, "the test dependency %s is absent", "x")
	t.Log("REACHED: Missing returned")
}

// TestMissingSkipsLocallyFailsUnderCI: the guard every skip on a missing
// dependency goes through skips without CI and fails with CI=true.
func TestMissingSkipsLocallyFailsUnderCI(t *testing.T) {
	child := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingHelper$", "-test.v", "-test.count=1")
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"=1")
		if ci != "" {
			env = append(env, "CI="+ci)
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := child("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestMissingHelper") || !strings.Contains(out, "the test dependency x is absent") {
		t.Errorf("without CI: want a skip naming the dependency, got %v:\n%s", err, out)
	}
	out, err = child("true")
	if err == nil || !strings.Contains(out, "--- FAIL: TestMissingHelper") || !strings.Contains(out, "CI=true") {
		t.Errorf("with CI=true: want a failure, got %v:\n%s", err, out)
	}
	if strings.Contains(out, "REACHED") {
		t.Errorf("with CI=true the test went on after Missing:\n%s", out)
	}
}
