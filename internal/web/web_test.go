package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

type fixed struct {
	sum inventory.Summary
	err error
}

func (f fixed) Summary(context.Context) (inventory.Summary, error) { return f.sum, f.err }

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestIndexShowsTotalsModelsAndStates(t *testing.T) {
	hbm := 7.68
	sum := inventory.Summary{
		Totals: inventory.SummaryTotals{
			Devices: 20480, Held: 20000,
			ByState: map[fleet.DeviceState]int{fleet.InService: 15000, fleet.Reserve: 4000, fleet.Maintenance: 500, fleet.Failed: 500, fleet.Retired: 480},
			PFLOPS:  map[fleet.Precision]float64{fleet.BF16: 1234.5},
			HBMTB:   hbm,
			ByClass: map[string]int{"3A090.a": 96, "not-3A090": 19904},
		},
		Models: []inventory.ModelSummary{{
			Model: "a800-sxm4-80gb", Name: "A800 <SXM4>", Vendor: "NVIDIA", Origin: "US", Devices: 96, Held: 96,
			ByState: map[fleet.DeviceState]int{fleet.InService: 90, fleet.Failed: 6},
			PFLOPS:  map[fleet.Precision]float64{fleet.BF16: 29.952}, HBMTB: &hbm, Classification: "3A090.a",
		}},
	}
	h, err := New(fixed{sum: sum}, slog.New(slog.DiscardHandler), func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) })
	if err != nil {
		t.Fatal(err)
	}
	code, body, hdr := get(t, h, "/")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`<span class="v" id="total-devices">20` + "\u202f" + `480</span>`,
		"1" + "\u202f" + "235",    // BF16 PFLOPS total
		"A800 &lt;SXM4&gt;",       // escaped
		`<td class="n">96</td>`,   // devices of the model
		`<td class="n">6</td>`,    // failed of the model
		`<td class="n">30.0</td>`, // BF16 PFLOPS of the model, 3 figures
		"3A090.a",
		`class="n state-retired">480`,
		"as of 2026-11-28 12:00 UTC",
		`<td><span class="cls cls-not-3a090">not-3A090</span></td><td class="n">19` + "\u202f" + `904</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<SXM4>") {
		t.Error("model name not escaped")
	}
	if code, css, _ := get(t, h, "/static/granary.css"); code != 200 || !strings.Contains(css, ".tile") {
		t.Errorf("stylesheet: %d", code)
	}
	if code, _, _ := get(t, h, "/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}
}

func TestIndexEmptyAndFailing(t *testing.T) {
	h, err := New(fixed{sum: inventory.Summary{Totals: inventory.SummaryTotals{ByState: map[fleet.DeviceState]int{}}}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := get(t, h, "/"); !strings.Contains(body, "The ledger is empty") {
		t.Error("empty ledger page lacks the hint")
	}
	h, _ = New(fixed{err: errors.New("db down")}, slog.New(slog.DiscardHandler), nil)
	if code, body, _ := get(t, h, "/"); code != 500 || strings.Contains(body, "db down") {
		t.Errorf("failing summary: %d %q", code, body)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1\u202f000", 20480: "20\u202f480", 1234567: "1\u202f234\u202f567", -1500: "-1\u202f500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

type jobsFixed struct {
	ov    JobsOverview
	err   error
	limit int
}

func (j *jobsFixed) JobsOverview(_ context.Context, limit int) (JobsOverview, error) {
	j.limit = limit
	return j.ov, j.err
}

func TestIndexJobsSection(t *testing.T) {
	sum := inventory.Summary{Totals: inventory.SummaryTotals{ByState: map[fleet.DeviceState]int{}}}
	log := slog.New(slog.DiscardHandler)

	// Without a scheduler the page has no jobs section.
	h, err := New(fixed{sum: sum}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := get(t, h, "/"); strings.Contains(body, `id="jobs"`) {
		t.Error("jobs section shown without a scheduler")
	}

	j := &jobsFixed{ov: JobsOverview{
		Policy:       "las-hetero",
		Running:      []JobRow{{ID: "job-1", Name: "pretrain", Team: "llm", Class: "llm-pretrain", Gang: 8, State: "running", Model: "h800-sxm5-80gb", Why: "placed-best — placed on H800: 1.6× its throughput on 910C"}},
		Waiting:      []JobRow{{ID: "job-2", Name: "tune", Team: "vision", Class: "vision-train", Gang: 4, State: "pending", Why: "gang-too-large — needs 4 × L20 on one node"}},
		RunningTotal: 1, WaitingTotal: 7,
	}}
	h, err = New(fixed{sum: sum}, log, nil, WithJobs(j))
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, h, "/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	if j.limit != jobRows {
		t.Errorf("asked for %d rows, want %d", j.limit, jobRows)
	}
	for _, want := range []string{`id="jobs"`, "policy las-hetero", "Running (1)", "Pending and preempted (7)",
		`<tr class="job-running"><td>job-1</td><td>pretrain</td><td>llm</td><td>llm-pretrain × 8</td><td>h800-sxm5-80gb</td>`,
		"1.6× its throughput on 910C", `<tr class="job-waiting"><td>job-2</td>`, "needs 4 × L20 on one node", `href="/jobs"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// A failing scheduler store is a 500, not a page with a silently missing section.
	h, _ = New(fixed{sum: sum}, log, nil, WithJobs(&jobsFixed{err: errors.New("db down")}))
	if code, _, _ := get(t, h, "/"); code != http.StatusInternalServerError {
		t.Errorf("failing jobs overview: status %d, want 500", code)
	}
}
