package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

// fixed is a ledger with a fixed summary, no nodes and no events; the
// other methods are not called by the fleet and jobs pages.
type fixed struct {
	Ledger
	sum inventory.Summary
	err error
}

func (f fixed) Summary(context.Context) (inventory.Summary, error) { return f.sum, f.err }
func (f fixed) Catalog() *accel.Catalog                            { return accel.Default() }
func (f fixed) Nodes(context.Context) ([]inventory.Node, error)    { return nil, nil }
func (f fixed) Events(context.Context, inventory.EventFilter) ([]inventory.Event, error) {
	return nil, nil
}

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
		"1" + "\u202f" + "235", // BF16 PFLOPS total
		"A800 &lt;SXM4&gt;",    // escaped
		`<a href="/devices?model=a800-sxm4-80gb&amp;state=failed">6</a>`, // failed of the model, linked
		`<td class="n">30.0</td>`, // BF16 PFLOPS of the model, 3 figures
		"3A090.a",
		`class="n state-retired"><a href="/devices?state=retired">480</a>`,
		"read 2026-11-28 12:00:00 UTC",
		`<td><span class="cls cls-3a090-a">3A090.a</span></td>`,                        // the model's class under the latest rules
		`<td class="n"><a href="/devices?class=3A090.a&amp;rules=2023-10">96</a></td>`, // its devices, linked to the class's list
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

// fakeJobs is an in-memory web.Jobs over a slice of jobs.
type fakeJobs struct {
	jobs  []jobs.Job
	teams []jobs.TeamStatus
	round jobs.Round
	err   error
	asked []jobs.Filter
}

func (f *fakeJobs) Scheduler() (time.Time, string) {
	return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), "las-hetero"
}
func (f *fakeJobs) LastRound(context.Context) (jobs.Round, error)    { return f.round, f.err }
func (f *fakeJobs) Teams(context.Context) ([]jobs.TeamStatus, error) { return f.teams, f.err }
func (f *fakeJobs) CountJobs(_ context.Context, flt jobs.Filter) (int, error) {
	n := 0
	for _, j := range f.jobs {
		if flt.Match(&j) {
			n++
		}
	}
	return n, f.err
}
func (f *fakeJobs) Jobs(_ context.Context, flt jobs.Filter) ([]jobs.Job, error) {
	f.asked = append(f.asked, flt)
	var out []jobs.Job
	skip := flt.Offset
	for _, j := range f.jobs {
		if !flt.Match(&j) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if flt.Limit == 0 || len(out) < flt.Limit {
			out = append(out, j)
		}
	}
	return out, f.err
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

	j := &fakeJobs{round: jobs.Round{Seq: 3, Running: 1, Waiting: 7}, jobs: []jobs.Job{
		{ID: "job-1", Spec: jobs.Spec{Name: "pretrain", Team: "llm", Class: "llm-pretrain", Gang: 8}, State: jobs.Running,
			Placement: &jobs.Placement{Model: "h800-sxm5-80gb"}, Why: jobs.Explanation{Code: "placed-best", Message: "placed on H800: 1.6× its throughput on 910C"}},
		{ID: "job-2", Spec: jobs.Spec{Name: "tune", Team: "vision", Class: "vision-train", Gang: 4}, State: jobs.Pending,
			Why: jobs.Explanation{Code: "gang-too-large", Message: "needs 4 × L20 on one node"}},
	}}
	h, err = New(fixed{sum: sum}, log, nil, WithJobs(j, nil))
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, h, "/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, f := range j.asked {
		if f.Limit != jobRows {
			t.Errorf("asked for %d rows, want %d", f.Limit, jobRows)
		}
	}
	for _, want := range []string{`id="jobs"`, "policy las-hetero", "Running (1)", "Pending and preempted (7)",
		`<tr class="job-running"><td><a href="/jobs/job-1">job-1</a></td><td>pretrain</td><td>llm</td><td>llm-pretrain × 8</td><td>h800-sxm5-80gb</td>`,
		"1.6× its throughput on 910C", `<tr class="job-waiting"><td><a href="/jobs/job-2">job-2</a></td>`, "needs 4 × L20 on one node", `href="/jobs"`,
		`href="/jobs?state=waiting">All 7 waiting jobs`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// A failing scheduler store is a 500, not a page with a silently missing section.
	h, _ = New(fixed{sum: sum}, log, nil, WithJobs(&fakeJobs{err: errors.New("db down")}, nil))
	if code, body, _ := get(t, h, "/"); code != http.StatusInternalServerError || strings.Contains(body, "db down") {
		t.Errorf("failing jobs overview: status %d, want 500", code)
	}
}

// The jobs list: every job reachable by paging, filters narrow it, bad
// parameters are a 400 page that says what is valid.
func TestJobsPage(t *testing.T) {
	f := &fakeJobs{teams: []jobs.TeamStatus{{Team: jobs.Team{Name: "llm", Weight: 2}, Running: 60}, {Team: jobs.Team{Name: "vision", Weight: 1}}}}
	states := []jobs.State{jobs.Running, jobs.Pending, jobs.Completed}
	for i := range 130 {
		team := "llm"
		if i%2 == 1 {
			team = "vision"
		}
		f.jobs = append(f.jobs, jobs.Job{ID: jobs.FormatID(int64(i + 1)), Spec: jobs.Spec{Name: fmt.Sprintf("run-%03d", i), Team: team, Class: "c", Gang: 1},
			State: states[i%3], SubmittedAt: time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)})
	}
	f.jobs[0].DeviceMilli = 250 // a share of one device
	f.jobs[3].Gang = 8
	h, err := New(fixed{}, slog.New(slog.DiscardHandler), nil, WithJobs(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	rows := func(body string) int { return strings.Count(body, `<tr class="job-`) }
	// Active jobs: running and pending, 2/3 of 130 = 87 (i%3 != 2).
	active := 0
	for i := range 130 {
		if i%3 != 2 {
			active++
		}
	}
	code, body, _ := get(t, h, "/jobs")
	if code != 200 || rows(body) != jobsPerPage || !strings.Contains(body, fmt.Sprintf("1–50 of %d<", active)) {
		t.Fatalf("/jobs: %d, %d rows\n%.2000s", code, rows(body), body)
	}
	// Each job's request as users read it: a share, one device, a gang.
	for _, want := range []string{"<td>c, 0.25 of a device</td>", "<td>c, 1 device</td>", "<td>c, 8 devices</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("/jobs does not show %s", want)
		}
	}
	if !strings.Contains(body, `href="/jobs?page=2" rel="next"`) || !strings.Contains(body, `href="/jobs?page=2" rel="last"`) {
		t.Error("no link to the next and last page")
	}
	_, body, _ = get(t, h, "/jobs?page=2")
	if rows(body) != active-jobsPerPage || !strings.Contains(body, "job-130") && !strings.Contains(body, "job-129") {
		t.Errorf("page 2: %d rows", rows(body))
	}
	if strings.Contains(body, `rel="next"`) || !strings.Contains(body, fmt.Sprintf("51–%d of %d<", active, active)) {
		t.Error("the last page links further or miscounts")
	}
	if _, body, _ = get(t, h, "/jobs?page=9"); rows(body) != active-jobsPerPage || !strings.Contains(body, fmt.Sprintf("51–%d of %d<", active, active)) {
		t.Error("a page past the end does not show the last page")
	}
	if _, body, _ = get(t, h, "/jobs?team=nobody"); rows(body) != 0 || !strings.Contains(body, "0 of 0") || !strings.Contains(body, "No job matches") {
		t.Error("an empty list is not 0 of 0")
	}
	_, body, _ = get(t, h, "/jobs?state=all&team=vision&q=run-12")
	// vision is odd i; run-12x with odd x: 121,123,125,127,129.
	if n := rows(body); n != 5 || !strings.Contains(body, "1–5 of 5<") {
		t.Errorf("vision run-12x: %d rows, want 5", n)
	}
	// The search is the store's (jobs.Filter.Text), one page at a time.
	if last := f.asked[len(f.asked)-1]; last.Text != "run-12" || last.Team != "vision" || last.Limit != jobsPerPage {
		t.Errorf("the search asked the store for %+v; want Text run-12, team vision, one page", last)
	}
	// A search is paged, any case, and its links keep it: every job's
	// name has "run", 130 = 50 + 50 + 30.
	_, body, _ = get(t, h, "/jobs?state=all&q=RUN&page=3")
	if n := rows(body); n != 30 || !strings.Contains(body, "101–130 of 130<") || !regexp.MustCompile(`href="[^"]*q=RUN[^"]*" rel="prev"`).MatchString(body) {
		t.Errorf("page 3 of a search: %d rows, want 30, 101–130 of 130 and a link back that keeps q", n)
	}
	_, body, _ = get(t, h, "/jobs?state=completed")
	if strings.Contains(body, "job-running") || rows(body) == 0 {
		t.Error("state filter does not narrow to completed jobs")
	}
	for q, want := range map[string]string{"state=sleeping": "valid: active, waiting", "page=0": "not a page number", "page=x": "not a page number"} {
		code, body, _ := get(t, h, "/jobs?"+q)
		if code != 400 || !strings.Contains(body, want) {
			t.Errorf("/jobs?%s: %d, want 400 with %q", q, code, want)
		}
	}
	h, _ = New(fixed{}, slog.New(slog.DiscardHandler), nil)
	if code, body, _ := get(t, h, "/jobs"); code != 404 || !strings.Contains(body, "No scheduler runs") {
		t.Errorf("/jobs without a scheduler: %d", code)
	}
}
