package agentcmd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
)

const adminToken = "gry_agent_e2e_admin"

var urlRE = regexp.MustCompile(`serving on (http://\S+)`)

// serve builds cmd/granary once and starts `granary serve` on a fresh
// SQLite file; it returns the binary and the server URL.
func serve(t *testing.T) (bin, url string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "g.db"), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "GRANARY_BOOTSTRAP_TOKEN="+adminToken)
	stderr := &clitest.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen within 60 s\n%s", stderr)
	}
	return bin, url
}

// fakeTools writes shell scripts named like the vendor tools that print the
// recorded outputs of internal/hwprobe/testdata. nvidia-smi prints the file
// named by $NV_FILE.
func fakeTools(t *testing.T) string {
	t.Helper()
	td, err := filepath.Abs("../../hwprobe/testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	scripts := map[string]string{
		"nvidia-smi": `[ "$1 $2" = "-q -x" ] || { echo "usage" >&2; exit 2; }; cat "$NV_FILE"`,
		"dmesg":      `cat "$TD/dmesg-xid.txt"`,
		"npu-smi": `if [ "$#" = 1 ]; then cat "$TD/npu-smi-23.0.rc2-info.txt"; exit 0; fi
id="$5"
case "$3" in
board) sed -e "s/NPU ID *: 6/NPU ID                         : $id/" -e "s/10263/102$id3/" "$TD/npu-smi-23.0.rc2-board-6.txt" | sed "s/Serial Number *: .*/Serial Number                  : 1023VNY10M90001$id/" ;;
health) if [ "$id" = 6 ]; then cat "$TD/npu-smi-23.0.rc2-health-6.txt"; else sed "s/NPU ID *: 0/NPU ID                         : $id/" "$TD/npu-smi-23.0.rc2-health-0.txt"; fi ;;
esac`,
		"cnmon":  `cat "$TD/cnmon-5.10.22-info.txt"`,
		"hy-smi": `cat "$TD/hy-smi-2.0-all.txt"`,
	}
	for name, body := range scripts {
		s := "#!/bin/sh\nTD=" + td + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// agentRun runs `granary agent` with the fake tools first on PATH.
func agentRun(t *testing.T, bin, tools, nvFile string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"agent"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+tools+":/usr/bin:/bin", "NV_FILE="+nvFile, "GRANARY_TOKEN=", "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// TestAgentEndToEnd runs the real binary's agent against a real server
// with fake vendor tools on PATH: discovery, health rules, disappearance,
// a broken tool, and a token used for another node.
func TestAgentEndToEnd(t *testing.T) {
	ctx := context.Background()
	bin, url := serve(t)
	admin, err := client.New(url, adminToken, &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "gpu-e2e", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	tools := fakeTools(t)
	td, _ := filepath.Abs("../../hwprobe/testdata")
	nv := filepath.Join(td, "nvidia-smi-535.xml")

	// 1. First report: 8 GPUs, 8 NPUs, 2 MLUs, 2 DCUs enter the ledger;
	// the unhealthy ones change state at once.
	out, err := agentRun(t, bin, tools, nv, "--server", url, "--token", tok.Secret, "--node", "gpu-e2e", "--site", "sh1", "--once")
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	if !strings.Contains(out, "reported 20 devices of gpu-e2e: 20 new") {
		t.Fatalf("agent output:\n%s", out)
	}
	want := map[string]fleet.DeviceState{
		"1652823011000":    fleet.InService,   // healthy H800
		"1652823011003":    fleet.Failed,      // XID 48 in dmesg
		"1652823011005":    fleet.Failed,      // row remap failure, XID 79
		"1023VNY10M900016": fleet.Failed,      // npu-smi critical
		"1023VNY10M900012": fleet.InService,   // npu-smi warning: no rule
		"2211000382":       fleet.Maintenance, // retirement pending
		"PJ2341A00188":     fleet.InService,   // hot, but no throttle signal
	}
	check := func(want map[string]fleet.DeviceState) {
		t.Helper()
		for serial, st := range want {
			d, err := admin.Device(ctx, serial)
			if err != nil {
				t.Errorf("%s: %v", serial, err)
				continue
			}
			if d.State != st || d.Node != "gpu-e2e" {
				t.Errorf("%s: %s on %q, want %s on gpu-e2e", serial, d.State, d.Node, st)
			}
		}
	}
	check(want)
	h, err := admin.History(ctx, "1652823011005")
	if err != nil || len(h.Events) != 2 || h.Events[1].Actor != tok.ID || !strings.Contains(h.Events[1].Reason, "remap-failure") || !strings.Contains(h.Events[1].Reason, "XID 79") {
		t.Errorf("history of the failed GPU: %+v %v", h, err)
	}
	sum, err := admin.Summary(ctx)
	if err != nil || sum.Totals.Devices != 20 {
		t.Errorf("ledger holds %d devices, want 20 (%v)", sum.Totals.Devices, err)
	}

	// 2. GPU 0 is gone from a clean nvidia-smi run: maintenance. The
	// same XIDs again change nothing else.
	b, _ := os.ReadFile(nv)
	start := bytes.Index(b, []byte(`<gpu id="00000000:18:00.0">`))
	end := bytes.Index(b, []byte(`<gpu id="00000000:2A:00.0">`))
	less := append(append([]byte{}, b[:start]...), b[end:]...)
	less = bytes.Replace(less, []byte("<attached_gpus>8<"), []byte("<attached_gpus>7<"), 1)
	lessFile := filepath.Join(t.TempDir(), "nv7.xml")
	os.WriteFile(lessFile, less, 0o644)
	out, err = agentRun(t, bin, tools, lessFile, "--server", url, "--token", tok.Secret, "--node", "gpu-e2e", "--once")
	if err != nil || !strings.Contains(out, "1 state changes") || !strings.Contains(out, "disappeared") {
		t.Fatalf("second report: %v\n%s", err, out)
	}
	check(map[string]fleet.DeviceState{"1652823011000": fleet.Maintenance, "1652823011001": fleet.InService})

	// 3. nvidia-smi fails (no driver): a warning naming the tool and line,
	// no device invented, none marked disappeared.
	out, err = agentRun(t, bin, tools, filepath.Join(td, "nvidia-smi-nodriver.txt"), "--server", url, "--token", tok.Secret, "--node", "gpu-e2e", "--once")
	if err != nil || !strings.Contains(out, "warning: nvidia-smi: line 1: not nvidia-smi XML") || !strings.Contains(out, "0 state changes") {
		t.Fatalf("report with a broken nvidia-smi: %v\n%s", err, out)
	}
	check(map[string]fleet.DeviceState{"1652823011001": fleet.InService})

	// 4. The token used for another node is refused: non-zero exit, the
	// reason on stderr, nothing written.
	out, err = agentRun(t, bin, tools, nv, "--server", url, "--token", tok.Secret, "--node", "gpu-other", "--once")
	if err == nil || !strings.Contains(out, `may only report for node "gpu-e2e"`) {
		t.Fatalf("report for another node: %v\n%s", err, out)
	}
	nodes, err := admin.AgentNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Hostname != "gpu-e2e" || !nodes[0].Reachable {
		t.Errorf("agent nodes: %+v %v", nodes, err)
	}
	// 5. Dry run prints the devices and sends nothing.
	out, err = agentRun(t, bin, tools, nv, "--dry-run", "--node", "gpu-e2e")
	if err != nil || !strings.Contains(out, "node gpu-e2e: 20 devices") || !strings.Contains(out, "ascend-910b3") {
		t.Errorf("dry run: %v\n%s", err, out)
	}
}
