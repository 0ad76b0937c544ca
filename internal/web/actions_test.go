package web

import (
	"bytes"
	"context"
	"html"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// liveServer is the dashboard over one real SQLite store holding the demo
// stockpile and n pending jobs, with the jobs service as web.Jobs and
// web.JobControl (as servecmd wires it, without a scheduler loop).
func liveServer(t *testing.T, n int) (*Handler, *inventory.Service, *jobs.Service) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(3, 4)), Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Scale: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		j := jobs.Job{Spec: jobs.Spec{Name: "run-" + jobs.FormatID(int64(i+1)), Team: "llm", Class: "llm-pretrain", Gang: 8, TotalSteps: 1000},
			State: jobs.Pending, SubmittedAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
			Why: jobs.Explanation{Code: "waiting-for-devices", Message: "waits for 8 × H800 on one node"}}
		if _, err := st.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	w, err := jobs.NewWorkloads([]sched.ThroughputEntry{{Class: "llm-pretrain", Gang: 8, Model: "h800-sxm5-80gb", StepsPerSecond: 1}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(led, slog.New(slog.DiscardHandler), nil, WithJobs(benchJobs{st: st, svc: svc}, svc))
	if err != nil {
		t.Fatal(err)
	}
	return h, led, svc
}

// Cancelling from the job page: refused without a session, for a viewer,
// without the CSRF field, from another origin and after the token was
// deleted — each with a page that says so and the job still pending; done
// for an operator, with the token as the actor in the job's history; a
// second cancel is a 409 that says why.
func TestCancelNeedsRoleAndCSRF(t *testing.T) {
	h, led, svc := liveServer(t, 3)
	ctx := context.Background()
	const id = "job-2"
	_, viewer, _ := led.CreateToken(ctx, inventory.RoleViewer, "v")
	opTok, operator, _ := led.CreateToken(ctx, inventory.RoleOperator, "op")
	gone, goneSecret, _ := led.CreateToken(ctx, inventory.RoleOperator, "gone")
	pending := func(when string) {
		t.Helper()
		if j, err := svc.Get(ctx, id); err != nil || j.State != jobs.Pending {
			t.Fatalf("%s: the job is %s (%v), want still pending", when, j.State, err)
		}
	}
	path := "/jobs/" + id + "/cancel"

	anon := &browser{t: t, h: h}
	if code, body, _ := anon.do("POST", path, url.Values{}); code != http.StatusUnauthorized || !strings.Contains(body, "role operator") {
		t.Errorf("cancel without a session: %d", code)
	}
	pending("without a session")

	v := &browser{t: t, h: h}
	v.do("POST", "/signin", url.Values{"token": {viewer}})
	if _, body, _ := v.do("GET", "/jobs/"+id, nil); strings.Contains(body, `id="cancel"`) || !strings.Contains(body, "Operators and admins can cancel") {
		t.Error("a viewer is offered the cancel button, or not told who can cancel")
	}
	if code, body, _ := v.do("POST", path, url.Values{"csrf": {"0123"}}); code != http.StatusForbidden || !strings.Contains(body, "needs role operator") {
		t.Errorf("viewer's cancel: %d", code)
	}
	pending("a viewer's cancel")

	op := &browser{t: t, h: h}
	op.do("POST", "/signin", url.Values{"token": {operator}})
	if code, body, _ := op.do("POST", path, url.Values{}); code != http.StatusForbidden || !strings.Contains(body, "CSRF") || !strings.Contains(body, "nothing was changed") {
		t.Errorf("cancel without CSRF: %d", code)
	}
	pending("a cancel without CSRF")
	_, body, _ := op.do("GET", "/jobs/"+id, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `id="cancel"`) {
		t.Fatal("the operator's job page has no cancel form")
	}
	if code, _, _ := op.do("POST", path, url.Values{"csrf": {m[1]}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site cancel: %d, want 403", code)
	}
	pending("a cross-site cancel")

	// An expired session: the token is deleted after sign-in.
	g := &browser{t: t, h: h}
	g.do("POST", "/signin", url.Values{"token": {goneSecret}})
	_, body, _ = g.do("GET", "/jobs/"+id, nil)
	gm := csrfRE.FindStringSubmatch(body)
	if gm == nil {
		t.Fatal("the second operator's job page has no cancel form")
	}
	if err := led.DeleteToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := g.do("POST", path, url.Values{"csrf": {gm[1]}}); code != http.StatusUnauthorized || !strings.Contains(body, "no longer valid") || g.cookie != nil {
		t.Errorf("cancel with a deleted token's session: %d", code)
	}
	pending("a cancel after the token was deleted")

	code, _, hdr := op.do("POST", path, url.Values{"csrf": {m[1]}})
	if code != http.StatusSeeOther {
		t.Fatalf("operator's cancel: %d", code)
	}
	j, err := svc.Get(ctx, id)
	if err != nil || j.State != jobs.Cancelled {
		t.Fatalf("after the operator's cancel: %s (%v)", j.State, err)
	}
	if last := j.History[len(j.History)-1]; last.Kind != "cancelled" || !strings.Contains(last.Message, opTok.ID) {
		t.Errorf("the history does not name the canceller %s: %+v", opTok.ID, last)
	}
	if _, body, _ := op.do("GET", hdr.Get("Location"), nil); !strings.Contains(body, "Cancelled; now cancelled") || !strings.Contains(body, `id="job-state">cancelled`) {
		t.Error("the job page does not show the cancel")
	}
	if code, body, _ := op.do("POST", path, url.Values{"csrf": {m[1]}}); code != http.StatusConflict || !strings.Contains(body, "Not cancelled") {
		t.Errorf("a second cancel: %d", code)
	}
	for _, other := range []string{"job-1", "job-3"} {
		if j, _ := svc.Get(ctx, other); j.State != jobs.Pending {
			t.Errorf("%s is %s: cancelling %s touched it", other, j.State, id)
		}
	}
}

// Bad input on every page: malformed filters and page parameters, uploads
// that are not a plan or a config.json, unknown ids. Each is a 4xx page
// with a message saying what is wrong (and, for parameters, what is
// valid), never a 500 or a stack trace, and the ledger is unchanged.
func TestBadInputNeverA500(t *testing.T) {
	h, led, _ := liveServer(t, 120)
	ctx := context.Background()
	_, secret, _ := led.CreateToken(ctx, inventory.RoleViewer, "v")
	b := &browser{t: t, h: h}
	b.do("POST", "/signin", url.Values{"token": {secret}})
	before, err := led.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	clean := func(what string, code int, body, want string) {
		t.Helper()
		if code < 400 || code >= 500 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want a 4xx naming %q\n%.600s", what, code, want, body)
		}
		for _, leak := range []string{"goroutine ", "panic", ".go:", "runtime error", "sql:", "SQLITE"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the page shows %q", what, leak)
			}
		}
	}
	for path, want := range map[string]string{
		"/devices?state=sleeping":                       "in-service",
		"/devices?limit=0":                              "1 to 1000",
		"/nodes?limit=0":                                "1 to 1000",
		"/devices?limit=abc":                            "not a page size",
		"/devices?limit=-5":                             "not a page size",
		"/devices?limit=1000000":                        "1 to 1000",
		"/devices?sort=cost":                            "serial, model",
		"/devices?sort=-":                               "device order",
		"/devices?class=3A090.z":                        "3A090.a",
		"/devices?class=3A090.a&rules=x":                "2022-10",
		"/devices?after=%zz":                            "malformed",
		"/history?state=reserve":                        "YYYY-MM-DD",
		"/history?day=2026-13-01&state=reserve":         "not a date",
		"/history?day=2026-11-01":                       "in-service",
		"/history?day=2026-11-01&state=gone":            "unknown state",
		"/history?day=2026-11-01&state=reserve&limit=0": "1 to 1000",
		"/jobs?q=50%":                                   "malformed",
		"/devices?model=no-such-chip":                   "no-such-chip",
		"/devices/no-such-serial":                       "No device has serial",
		"/nodes/no-such-host":                           "No node has hostname",
		"/jobs?page=x":                                  "not a page number",
		"/jobs?page=0":                                  "not a page number",
		"/jobs?page=-3":                                 "not a page number",
		"/jobs?state=sleeping":                          "valid: active",
		"/jobs/job-999999":                              "No job has id",
		"/jobs/not-an-id":                               "No job has id",
		"/chips?sort=x":                                 "",
		"/chips/no-such-chip":                           "",
		"/?rules=1999":                                  "2022-10",
		"/fit?model=Llama-3-70B&precision=fp3":          "precision",
		"/fit?model=Llama-3-70B&devices=many":           "devices",
		"/fit?model=no-such-model":                      "no-such-model",
		"/no/such/page":                                 "There is no page",
	} {
		code, body, _ := b.do("GET", path, nil)
		clean(path, code, body, want)
	}

	upload := func(path, field, name string, data []byte, extra map[string]string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile(field, name)
		fw.Write(data)
		for k, v := range extra {
			mw.WriteField(k, v)
		}
		mw.Close()
		req := httptest.NewRequest("POST", path, &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.AddCookie(b.cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\xff\xfe")
	config := []byte(`{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32}`)
	for name, data := range map[string][]byte{"chart.png": png, "config.json": config, "notes.txt": []byte("this is not a plan\n"), "empty.yaml": []byte("{}\n")} {
		code, body := upload("/runway", "file", name, data, nil)
		clean("runway upload "+name, code, body, name)
		if strings.Contains(body, `id="runway-p50"`) {
			t.Errorf("runway upload %s: a forecast ran", name)
		}
	}
	for name, data := range map[string][]byte{"chart.png": png, "plan.yaml": []byte("horizon_months: 72\nfleet: []\n"), "array.json": []byte(`[1, 2]`)} {
		code, body := upload("/fit", "config", name, data, map[string]string{"precision": "bf16"})
		clean("fit upload "+name, code, body, "config")
	}
	// A form that is not a form.
	req := httptest.NewRequest("POST", "/runway", strings.NewReader("--x\r\nbroken"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	req.AddCookie(b.cookie)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	clean("a broken multipart form", rec.Code, rec.Body.String(), "could not be read")

	after, err := led.Events(ctx, inventory.EventFilter{})
	if err != nil || len(after) != len(before) {
		t.Errorf("bad input changed the ledger: %d → %d events (%v)", len(before), len(after), err)
	}
}

// Every number on the fleet page that links to the devices list is the
// count that list reports ("N devices match", counted by the store): the
// totals, states, models × states, and export classes with their
// in-service and reserve devices.
func TestFleetNumbersMatchTheirLists(t *testing.T) {
	h, led, _ := liveServer(t, 0)
	_, secret, _ := led.CreateToken(context.Background(), inventory.RoleViewer, "v")
	b := &browser{t: t, h: h}
	b.do("POST", "/signin", url.Values{"token": {secret}})
	// Retire two devices, so the held devices are not every device.
	retired := 0
	for _, st := range fleet.DeviceStates {
		if retired == 2 || !slices.Contains(inventory.AllowedTransitions(st), fleet.Retired) {
			continue
		}
		page, err := led.List(context.Background(), inventory.Filter{State: st, Limit: 2 - retired})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Devices {
			if _, err := led.SetState(context.Background(), d.Serial, fleet.Retired, "end of life", "test"); err != nil {
				t.Fatal(err)
			}
			retired++
		}
	}
	code, body, _ := b.do("GET", "/", nil)
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	links := regexp.MustCompile(`<a (?:class="tile" )?href="(/(?:devices|history|nodes)[^"]*)"(?: title="[^"]*")?>(?:<span class="v"[^>]*>)?([0-9\x{202f}]+)<`).FindAllStringSubmatch(body, -1)
	seen := map[string]bool{}
	days, nodes := 0, 0
	for _, l := range links {
		href := html.UnescapeString(l[1])
		what := "devices"
		switch {
		case strings.HasPrefix(href, "/history?"):
			days++
		case strings.HasPrefix(href, "/nodes?"):
			nodes++
			what = "nodes"
		}
		seen[strings.SplitN(strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(href, "/devices"), "/history"), "?"), "=", 2)[0]] = true
		_, list, _ := b.do("GET", href, nil)
		m := regexp.MustCompile(`<span id="count">([0-9\x{202f}]+) ` + what + ` match`).FindStringSubmatch(list)
		if m == nil || m[1] != l[2] {
			t.Errorf("%s: the fleet page says %s, the list %v", href, l[2], m)
		}
	}
	for _, k := range []string{"", "state", "model", "class", "day"} {
		if !seen[k] && !(k == "" && strings.Contains(body, `href="/devices">`)) {
			t.Errorf("no number links to a list filtered by %q", k)
		}
	}
	all, err := led.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(links) < 30 || days < 2*len(fleet.DeviceStates) || nodes != len(sitesOf(all)) || nodes < 2 {
		t.Errorf("%d linked numbers on the fleet page, %d of them in the per-day table, %d nodes per site (%d sites)", len(links), days, nodes, len(sitesOf(all)))
	}
	t.Logf("%d linked numbers on the fleet page, %d of them in the per-day table, %d nodes per site: each equals its list's count", len(links), days, nodes)

	// The held, PFLOPS and HBM tiles link to the held devices, whose
	// count is the held tile and whose chips' dense rates and memory
	// total the others.
	tile := func(id string) string {
		m := regexp.MustCompile(`<a class="tile" href="([^"]*)" title="[^"]+"><span class="v" id="` + id + `">([^<]+)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no linked tile %s", id)
		}
		if m[1] != "/devices?state=held" {
			t.Errorf("tile %s links to %s, not the held devices", id, m[1])
		}
		return m[2]
	}
	_, list, _ := b.do("GET", "/devices?state=held&limit=1000", nil)
	if m := regexp.MustCompile(`<span id="count">([0-9\x{202f}]+) devices match`).FindStringSubmatch(list); m == nil || m[1] != tile("held") {
		t.Errorf("the held tile says %s, its list %v", tile("held"), m)
	}
	cat := led.Catalog()
	rates, hbm, held := map[fleet.Precision]float64{}, 0.0, 0
	for after := ""; ; {
		page, err := led.List(context.Background(), inventory.Filter{Held: true, After: after, Limit: inventory.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Devices {
			if d.State == fleet.Retired {
				t.Fatalf("the held list has retired %s", d.Serial)
			}
			held++
			c, ok := cat.Get(d.Model)
			if !ok {
				continue
			}
			for _, p := range []fleet.Precision{fleet.BF16, fleet.FP8} {
				if v, ok := c.Dense(p); ok {
					rates[p] += v / 1000
				}
			}
			if c.MemoryGB != nil {
				hbm += *c.MemoryGB / 1000
			}
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if all, err := led.Count(context.Background(), inventory.Filter{}); err != nil || held == 0 || held == all {
		t.Errorf("%d held devices of %d (%v): the ledger should have retired ones too", held, all, err)
	}
	if got, want := tile("pflops-bf16"), pflops(rates, fleet.BF16); got != want {
		t.Errorf("the BF16 PFLOPS tile says %s, its list totals %s", got, want)
	}
	if got, want := tile("pflops-fp8"), pflops(rates, fleet.FP8); got != want {
		t.Errorf("the FP8 PFLOPS tile says %s, its list totals %s", got, want)
	}
	if got, want := tile("hbm-tb"), num(hbm); got != want {
		t.Errorf("the HBM tile says %s, its list totals %s", got, want)
	}
	t.Logf("held %s devices: %s BF16 PFLOPS, %s FP8 PFLOPS, %s HBM TB, each the total over the held list", tile("held"), tile("pflops-bf16"), tile("pflops-fp8"), tile("hbm-tb"))
}

// Every number of the jobs page's teams table links to the jobs list it
// counts (the team's running or waiting jobs), and equals that list's
// total.
func TestJobsNumbersMatchTheirLists(t *testing.T) {
	h, _, _ := liveServer(t, 75)
	b := &browser{t: t, h: h}
	code, body, _ := b.do("GET", "/jobs", nil)
	if code != 200 {
		t.Fatalf("GET /jobs: %d", code)
	}
	links := regexp.MustCompile(`<a href="(/jobs\?team=[^"]*state=(?:running|waiting))">([0-9\x{202f}]+)</a>`).FindAllStringSubmatch(body, -1)
	waiting := 0
	for _, l := range links {
		href := html.UnescapeString(l[1])
		_, list, _ := b.do("GET", href, nil)
		m := regexp.MustCompile(`<nav class="pager" aria-label="Pages">\s*<span>(?:[0-9\x{202f}]+–[0-9\x{202f}]+ of )?([0-9\x{202f}]+)(?: of 0)?</span>`).FindStringSubmatch(list)
		if m == nil || m[1] != l[2] {
			t.Errorf("%s: the jobs page says %s, the list %v", href, l[2], m)
		}
		if strings.HasSuffix(href, "waiting") && l[2] != "0" {
			waiting++
		}
	}
	if len(links) < 2 || waiting == 0 {
		t.Errorf("%d linked numbers in the teams table, %d of them non-zero waiting counts", len(links), waiting)
	}
}
