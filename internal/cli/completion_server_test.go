package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// Job ids, team names and serials complete from the server the command
// would talk to (GRANARY_SERVER, GRANARY_TOKEN); with no server there is
// nothing to propose and completion still exits 0.
func TestCompletionFromServer(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var b inventory.Batch
	for i := range 8 {
		b.Devices = append(b.Devices, inventory.Device{Serial: fmt.Sprintf("L20-%02d", i), Model: "l20-48gb", Node: "n0", State: fleet.InService, UpdatedAt: time.Now()})
	}
	b.Devices = append(b.Devices, inventory.Device{Serial: "H800-01", Model: "h800-sxm5-80gb", Node: "n1", State: fleet.Reserve, UpdatedAt: time.Now()})
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	w, _ := jobs.NewWorkloads([]sched.ThroughputEntry{{Class: "resnet50", Gang: 1, Model: "l20-48gb", StepsPerSecond: 1}})
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, apitest.Options{Store: st, API: func(o *api.Options) { o.Register = append(o.Register, api.JobRoutes(svc)) }})
	j, err := svc.Submit(ctx, jobs.Spec{Name: "train", Team: "vision", Class: "resnet50", Gang: 1, TotalSteps: 10}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutTeam(ctx, jobs.Team{Name: "llm", Weight: 2}); err != nil {
		t.Fatal(err)
	}
	completeAt := func(url string, args ...string) []string {
		t.Helper()
		var out, errb bytes.Buffer
		vars := map[string]string{"GRANARY_SERVER": url, "GRANARY_TOKEN": apitest.AdminSecret, "HOME": t.TempDir()}
		env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] },
			IsTerminal: func(io.Writer) bool { return false }}
		if code := cli.Run(ctx, env, append([]string{"__complete"}, args...)); code != 0 {
			t.Fatalf("__complete %q: exit %d %s", args, code, errb.String())
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		return got
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"jobs", "describe", ""}, []string{j.ID + "\ttrain (vision, pending)"}},
		{[]string{"jobs", "cancel", "job-"}, []string{j.ID + "\ttrain (vision, pending)"}},
		{[]string{"jobs", "describe", j.ID, ""}, nil}, // one argument
		{[]string{"teams", "delete", ""}, []string{"llm", "vision"}},
		{[]string{"teams", "set", "l"}, []string{"llm"}},
		{[]string{"jobs", "list", "--team", "v"}, []string{"vision"}},
		{[]string{"inventory", "history", "L20-0"}, []string{"L20-00", "L20-01", "L20-02", "L20-03", "L20-04", "L20-05", "L20-06", "L20-07"}},
		{[]string{"inventory", "set-state", "L20-00", "H8"}, []string{"H800-01"}},
	} {
		if got := completeAt(srv.URL, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := completeAt("http://127.0.0.1:1", "teams", "delete", ""); len(got) != 0 {
		t.Errorf("no server: %q", got)
	}
}
