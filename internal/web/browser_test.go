package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/sharedtest"
)

const adminToken = "gry_browser_test_admin"

// chromium finds the browser: $GRANARY_TEST_CHROMIUM (set by
// scripts/env.d/chromium.sh) or chromium on PATH.
func chromium(t *testing.T) string {
	for _, c := range []string{os.Getenv("GRANARY_TEST_CHROMIUM"), "chromium", "chromium-browser"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	sharedtest.Missing(t, "no Chromium (run scripts/env.d/chromium.sh, or set GRANARY_TEST_CHROMIUM)")
	return ""
}

// axe reads the axe-core engine: $GRANARY_TEST_AXE (set by
// scripts/env.d/axe.sh).
func axe(t *testing.T) string {
	p := os.Getenv("GRANARY_TEST_AXE")
	if p == "" {
		sharedtest.Missing(t, "no axe-core (run scripts/env.d/axe.sh, or set GRANARY_TEST_AXE)")
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return string(b)
}

// accessibility runs axe-core in the page and returns its serious and
// critical violations, each with up to three of the elements at fault.
func accessibility(t *testing.T, ctx context.Context, axeJS string) []string {
	t.Helper()
	if axeJS == "" {
		return nil
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeJS+";undefined", chromedp.EvalIgnoreExceptions)); err != nil {
		t.Fatalf("loading axe-core: %v", err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join("; ")))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	return v
}

var urlRE = regexp.MustCompile(`serving on (http://\S+)`)

// serve builds cmd/granary and runs `granary serve --demo` on a loopback
// port with a known admin token; it returns the URL.
func serve(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--demo", "--demo-scale", "0.05", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "b.db"), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "GRANARY_BOOTSTRAP_TOKEN="+adminToken)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", stderr.String())
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(90 * time.Second):
		t.Fatalf("serve did not start\n%s", stderr.String())
	}
	return ""
}

// watcher collects what a page must not have: console errors, uncaught
// exceptions, failed requests and error statuses.
type watcher struct {
	mu       sync.Mutex
	problems []string
	bytes    float64 // transferred since the last take (encoded, as on the wire)
}

func (w *watcher) add(format string, a ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, fmt.Sprintf(format, a...))
}

func (w *watcher) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems, w.bytes = nil, 0
	return p
}

func (w *watcher) transferred() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes
}

func (w *watcher) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			w.add("console %s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		w.add("exception: %s", ev.ExceptionDetails.Text)
	case *network.EventLoadingFinished:
		w.mu.Lock()
		w.bytes += ev.EncodedDataLength
		w.mu.Unlock()
	case *network.EventLoadingFailed:
		w.add("request failed: %s (%s)", ev.RequestID, ev.ErrorText)
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			w.add("%d for %s", ev.Response.Status, ev.Response.URL)
		}
	}
}

// The dashboard in a real headless Chromium against a real `granary serve
// --demo`: every page loads without a console error, a failed request or
// horizontal overflow at 1280 px; the numbers match the API; filters and
// sorting change what is shown; paging reaches the last device; sign-in, a
// state change and a cancel work end to end for an operator and are not
// offered to a viewer.
func TestBrowserDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives a browser")
	}
	chrome := chromium(t)
	axeJS := axe(t)
	base := serve(t)
	ctx := context.Background()
	admin, err := client.New(base, adminToken, &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := admin.CreateToken(ctx, inventory.RoleViewer, "browser-viewer")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := admin.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 4*time.Minute)
	defer cancelT()
	w := &watcher{}
	if err := chromedp.Listen(bctx, w.listen); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("GRANARY_SCREENSHOTS") // a directory, for looking at the pages

	// visit loads a page and checks it is clean and fits 1280 px.
	// check asserts the page now shown is clean, fits 1280 px and passes
	// axe-core; it saves a screenshot when asked.
	check := func(name, path string) {
		t.Helper()
		if kb := w.transferred() / 1024; kb > 300 {
			t.Errorf("%s (%s): %.0f KB transferred, more than 300 KB", name, path, kb)
		} else if name == "fleet" {
			t.Logf("fleet page: %.0f KB transferred (page, stylesheet, script, icon)", kb)
		}
		scrollW := eval[int](t, bctx, `document.documentElement.scrollWidth`)
		clientW := eval[int](t, bctx, `document.documentElement.clientWidth`)
		for _, p := range w.take() {
			t.Errorf("%s (%s): %s", name, path, p)
		}
		if scrollW > clientW {
			// Name the innermost elements past the right edge.
			wide := eval[string](t, bctx, `(() => { const w = document.documentElement.clientWidth, past = e => e.getBoundingClientRect().right > w + 1, out = [];
				for (const e of document.querySelectorAll("body *")) if (past(e) && ![...e.children].some(past)) out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " " + JSON.stringify((e.innerText || "").slice(0, 60)));
				return out.slice(0, 5).join("; "); })()`)
			t.Errorf("%s (%s): %d px wide in a %d px window (horizontal overflow): %s", name, path, scrollW, clientW, wide)
		}
		for _, v := range accessibility(t, bctx, axeJS) {
			t.Errorf("%s (%s): accessibility: %s", name, path, v)
		}
		if shots != "" {
			_ = chromedp.Do(bctx, chromedp.EmulateViewport(1400, 900))
			if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
				_ = os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
			}
			_ = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900))
		}
	}
	// visit loads a page and checks it.
	visit := func(name, path string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(base+path), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			t.Fatalf("%s (%s): %v", name, path, err)
		}
		check(name, path)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	count := func(sel string) int {
		t.Helper()
		return eval[int](t, bctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
	}
	num := func(s string) string {
		return strings.Map(func(r rune) rune { return map[bool]rune{true: r, false: -1}[r >= '0' && r <= '9'] }, s)
	}

	// refused submits a form (built in the page, as a hand-made or stale
	// form would be) to path and checks the page that comes back says why
	// (want) with the status code; the refusal's own error status is not
	// a page problem.
	refused := func(what, path string, fields map[string]string, code int, want string) {
		t.Helper()
		js, _ := json.Marshal(fields)
		_ = eval[bool](t, bctx, fmt.Sprintf(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = %q;
			for (const [k, v] of Object.entries(%s)) { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.append(i); }
			document.body.append(f); f.submit(); return true; })()`, path, js))
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("p.problem"))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := text("p.problem"); !strings.Contains(got, want) {
			t.Errorf("%s: the page says %q, want %q", what, got, want)
		}
		probs := w.take()
		if len(probs) != 1 || !strings.HasPrefix(probs[0], fmt.Sprint(code)) {
			t.Errorf("%s: %v, want one %d", what, probs, code)
		}
	}

	// Public pages. The first load of the fleet page: a fresh browser cache.
	w.take()
	visit("fleet", "/")
	if got, want := num(text("#total-devices")), fmt.Sprint(sum.Totals.Devices); got != want {
		t.Errorf("fleet page: %s devices, the API says %s", got, want)
	}
	if got, want := num(text("#in-service")), fmt.Sprint(sum.Totals.ByState[fleet.InService]); got != want {
		t.Errorf("fleet page: %s in service, the API says %s", got, want)
	}
	if n := count("figure.chart svg[role=img]"); n < 2 {
		t.Errorf("fleet page: %d charts", n)
	}
	states := []string{"in-service", "reserve", "maintenance", "failed", "retired"}
	for _, p := range legendOverBars(t, bctx, states, 2) {
		t.Errorf("fleet page: %s", p)
	}
	visit("jobs", "/jobs")
	for _, p := range legendOverBars(t, bctx, []string{"in use", "guaranteed"}, 1) {
		t.Errorf("jobs page: %s", p)
	}
	// A live update: the page re-reads itself (every 10 s) without a reload.
	readAt := text("header .sub")
	_ = eval[bool](t, bctx, `window.noReload = true`)
	for deadline := time.Now().Add(30 * time.Second); text("header .sub") == readAt; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the jobs page did not update itself within 30 s")
		}
	}
	if !eval[bool](t, bctx, `window.noReload === true`) {
		t.Error("the jobs page reloaded instead of updating in place")
	}
	for _, p := range w.take() {
		t.Errorf("live update: %s", p)
	}
	visit("chips", "/chips")
	first := text("table.chips tbody tr td:nth-child(2)")
	visit("chips-by-bf16", "/chips?sort=bf16&desc=1")
	if top := text("table.chips tbody tr td:nth-child(2)"); top == first || top == "" {
		t.Errorf("sorting by BF16 kept %q first", top)
	}
	visit("chip", "/chips/h800-sxm5-80gb")
	if n := count("table.rules tbody tr"); n < 2 {
		t.Errorf("chip page: %d rule sets", n)
	}
	visit("fit", "/fit?model=Llama-3-70B&precision=bf16")
	if n := count("table.fit tr.fits"); n == 0 {
		t.Error("fit: no chip of the demo fleet serves Llama-3-70B")
	}
	visit("compare", "/chips?compare=h800-sxm5-80gb&compare=ascend-910c")
	if n := count("table.compare thead th"); n != 3 {
		t.Errorf("compare: %d columns, want 3", n)
	}

	// Sign in as a viewer: the devices list, no actions.
	visit("signin", "/signin?next=/devices")
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#token"), viewer.Secret), chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#count"))); err != nil {
		t.Fatal(err)
	}
	w.take()
	// Numbers on the fleet page, clicked: each list counts what was
	// clicked. A past day of the per-day table (its numbers no longer
	// change), its oldest day, a model × state, an export class in
	// reserve, the reserve and held tiles and a site's nodes. The table is opened and the link
	// followed in one step, so the page's live update cannot swap it in
	// between.
	visit("fleet-signed-in", "/")
	for _, sel := range []string{`table.days tbody tr:nth-child(2) td a`, `table.days tbody tr:last-child td a`,
		`table.models tbody td.n a[href*="state="]`, `table.classes tbody td.n a[href*="state=reserve"]`, `a.tile[href="/devices?state=reserve"]`,
		`a.tile[href="/devices?state=held"]`, `table.sites tbody td.n a[href^="/nodes?site="]`} {
		clicked := eval[[]string](t, bctx, fmt.Sprintf(`(() => { const a = document.querySelector(%q); if (!a) return [];
			const d = a.closest("details"); if (d) d.open = true;
			const out = [a.textContent, a.getAttribute("href")]; a.click(); return out; })()`, sel))
		if len(clicked) != 2 {
			t.Errorf("fleet page: no number at %s", sel)
			continue
		}
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#count"))); err != nil {
			t.Fatalf("following %s (%s): %v", sel, clicked[1], err)
		}
		check("fleet-number", clicked[1])
		if got := num(strings.Split(text("#count"), " match")[0]); got != num(clicked[0]) || got == "" {
			t.Errorf("fleet page: %s (%s) says %s, its list %q", sel, clicked[1], num(clicked[0]), text("#count"))
		}
		visit("fleet-signed-in", "/")
	}
	// The table stays open when the page updates itself.
	_ = eval[bool](t, bctx, `(() => { document.querySelector("#day-numbers").open = true; return true; })()`)
	readAt = text("header .sub")
	for deadline := time.Now().Add(30 * time.Second); text("header .sub") == readAt; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fleet page did not update itself within 30 s")
		}
	}
	if !eval[bool](t, bctx, `document.querySelector("#day-numbers").open`) {
		t.Error("the fleet page's per-day numbers closed when the page updated itself")
	}
	visit("devices", "/devices")
	if got := text("#count"); num(strings.Split(got, "devices")[0]) != fmt.Sprint(sum.Totals.Devices) {
		t.Errorf("devices page says %q, the API counts %d", got, sum.Totals.Devices)
	}
	// A filter narrows: choose failed in the form.
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`select[name=state]`), "failed"), chromedp.Submit(chromedp.CSS(`select[name=state]`)), chromedp.WaitVisible(chromedp.CSS("#count"))); err != nil {
		t.Fatal(err)
	}
	failed := sum.Totals.ByState[fleet.Failed]
	if got := num(strings.Split(text("#count"), "devices")[0]); got != fmt.Sprint(failed) || count("td.state-failed") != min(failed, 100) || count("table.devices tbody tr") != min(failed, 100) {
		t.Errorf("failed filter: page says %s, %d rows; the API counts %d", got, count("table.devices tbody tr"), failed)
	}
	w.take()
	// Paging reaches the last device.
	var (
		serials []string
		needle  string // a node's name in upper case: search folds case
		matches int    // the API's devices whose serial, node, site or model contain it
	)
	if err := admin.AllDevices(ctx, client.ListOptions{}, func(ds []api.Device) error {
		for _, d := range ds {
			serials = append(serials, d.Serial)
			if needle == "" && d.Node != "" {
				needle = strings.ToUpper(d.Node)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := admin.AllDevices(ctx, client.ListOptions{}, func(ds []api.Device) error {
		for _, d := range ds {
			if strings.Contains(strings.ToLower(d.Serial+"\n"+d.Node+"\n"+d.Site+"\n"+d.Model), strings.ToLower(needle)) {
				matches++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Search narrows (typed into the filter form, the state filter cleared)
	// to as many devices as the API has with that text.
	visit("devices-search", "/devices")
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`input[name=q]`), needle), chromedp.Submit(chromedp.CSS(`input[name=q]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`input[name=q][value=%q]`, needle)))); err != nil { // the new page, server-rendered
		t.Fatal(err)
	}
	if rows := count("table.devices tbody tr"); matches == 0 || matches >= len(serials) || rows != min(matches, 100) {
		t.Errorf("search %q: %d rows; the API has %d of %d devices with it", needle, rows, matches, len(serials))
	}
	w.take()
	visit("devices-paged", "/devices?limit=500")
	for pages := 1; count(`nav.pager a[rel=next]`) > 0; pages++ {
		if pages > 50 {
			t.Fatal("more than 50 pages")
		}
		next := eval[string](t, bctx, `document.querySelector("nav.pager a[rel=next]").getAttribute("href")`)
		visit(fmt.Sprintf("devices-page-%d", pages+1), next)
	}
	lastSerial := eval[string](t, bctx, `[...document.querySelectorAll("table.devices tbody tr td:first-child")].pop().innerText`)
	if want := slices.Max(serials); lastSerial != want {
		t.Errorf("the last page ends at %q, the ledger's last device is %q", lastSerial, want)
	}
	// The runway of the live inventory, from the editor's default plan.
	visit("runway", "/runway")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#run")), chromedp.WaitVisible(chromedp.CSS("#runway-p50"))); err != nil {
		t.Fatal(err)
	}
	check("runway-result", "POST /runway")
	if n := count("figure.chart svg"); n != 2 {
		t.Errorf("runway: %d charts, want the fan and the levers", n)
	}
	// Failure rates learned from the ledger.
	visit("failures", "/failures")
	if count("table.failures tbody tr") == 0 {
		t.Error("failures: no model row")
	}
	// A failures count, clicked: its list says as many.
	if clicked := eval[[]string](t, bctx, `(() => { const a = document.querySelector('table.failures a[href^="/failures/events"]'); if (!a) return [];
		const out = [a.textContent, a.getAttribute("href")]; a.click(); return out; })()`); len(clicked) != 2 {
		t.Error("failures: no failures count links to its list")
	} else {
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#count"))); err != nil {
			t.Fatalf("following %s: %v", clicked[1], err)
		}
		check("failure-events", clicked[1])
		if got := num(strings.Split(text("#count"), " match")[0]); got != num(clicked[0]) || got == "" {
			t.Errorf("failures: %s says %s, its list %q", clicked[1], num(clicked[0]), text("#count"))
		}
	}
	target := serials[len(serials)/2]
	visit("device-as-viewer", "/devices/"+target)
	if count(`form[action$="/state"]`) != 0 {
		t.Error("a viewer is offered the state change")
	}
	page, err := admin.Jobs(ctx, client.JobListOptions{State: "all", Limit: 1000})
	jobs := page.Jobs
	if err != nil || len(jobs) == 0 {
		t.Fatalf("no jobs in the demo: %v", err)
	}
	var active string
	for _, j := range jobs {
		if j.State == "running" || j.State == "pending" {
			active = j.ID
		}
	}
	if active == "" {
		t.Fatal("no active job")
	}
	// The jobs list: a search typed into the form (upper case) lists the
	// jobs whose id, name or class has the text, as many as the API's list
	// has (read again after the page: the demo submits jobs), and a list
	// longer than a page pages on.
	jobMatches := func(needle string) int {
		all, err := admin.Jobs(ctx, client.JobListOptions{State: "all", Limit: 1000})
		if err != nil || len(all.Jobs) >= 1000 {
			t.Fatalf("the API's jobs: %d, %v", len(all.Jobs), err)
		}
		n := 0
		for _, j := range all.Jobs {
			if strings.Contains(j.ID, needle) || strings.Contains(strings.ToLower(j.Name), needle) || strings.Contains(strings.ToLower(j.Class), needle) {
				n++
			}
		}
		return n
	}
	jobNeedle := strings.ToUpper(jobs[len(jobs)/2].Name)
	visit("jobs-search", "/jobs?state=all")
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`input[name=q]`), jobNeedle), chromedp.Submit(chromedp.CSS(`input[name=q]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`input[name=q][value=%q]`, jobNeedle)))); err != nil {
		t.Fatal(err)
	}
	if rows, n := count("table.jobs tbody tr"), jobMatches(strings.ToLower(jobNeedle)); n == 0 || rows != min(n, 50) {
		t.Errorf("jobs search %q: %d rows; the API has %d jobs with it", jobNeedle, rows, n)
	}
	for _, p := range w.take() {
		t.Errorf("jobs search: %s", p)
	}
	// Paging: 60 more jobs (the demo has a page's worth), found by their
	// name; next walks every page to the last, and the pages list exactly
	// those jobs, each once; first goes back.
	var extra []api.NewJob
	for i := range 60 {
		extra = append(extra, api.NewJob{Name: fmt.Sprintf("paging-%02d", i), Team: jobs[0].Team, Class: jobs[0].Class, Gang: jobs[0].Gang, TotalSteps: 1e6})
	}
	added, err := admin.SubmitJobs(ctx, extra)
	if err != nil || len(added) != len(extra) {
		t.Fatalf("submitting %d jobs: %d, %v", len(extra), len(added), err)
	}
	visit("jobs-paged", "/jobs?state=all&q=paging-")
	seen := map[string]int{}
	pages := 0
	for {
		pages++
		for _, id := range eval[[]string](t, bctx, `[...document.querySelectorAll("table.jobs tbody tr td:first-child a")].map(a => a.textContent)`) {
			seen[id]++
		}
		if count(`nav.pager a[rel=next]`) == 0 || pages > 5 {
			break
		}
		next := eval[string](t, bctx, `document.querySelector("nav.pager a[rel=next]").getAttribute("href")`)
		visit(fmt.Sprintf("jobs-page-%d", pages+1), next)
	}
	if pager := text("nav.pager"); pages != 2 || !strings.HasPrefix(pager, "51–60 of 60") {
		t.Errorf("jobs paging: %d pages, the last says %q; want 2, 51–60 of 60", pages, pager)
	}
	for _, j := range added {
		if seen[j.ID] != 1 {
			t.Errorf("jobs paging: %s (%s) listed %d times", j.ID, j.Name, seen[j.ID])
		}
	}
	if len(seen) != len(added) {
		t.Errorf("jobs paging: %d jobs listed, %d submitted", len(seen), len(added))
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`nav.pager a[rel=first]`)), chromedp.WaitVisible(chromedp.CSS("table.jobs"))); err != nil {
		t.Fatal(err)
	}
	check("jobs-first-page", "first")
	if pager := text("nav.pager"); !strings.HasPrefix(pager, "1–50 of 60") {
		t.Errorf("jobs paging: back on the first page the pager says %q", pager)
	}
	visit("jobs-all", "/jobs?state=all")
	visit("job-as-viewer", "/jobs/"+active)
	if count("#cancel") != 0 {
		t.Error("a viewer is offered the cancel button")
	}
	// A viewer's state change and cancel, posted anyway, are refused and
	// change nothing.
	viewerBefore, err := admin.Device(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	refused("a viewer's state change", "/devices/"+target+"/state", map[string]string{"to": "maintenance", "reason": "viewer", "csrf": "00"}, 403, "needs role operator")
	refused("a viewer's cancel", "/jobs/"+active+"/cancel", map[string]string{"csrf": "00"}, 403, "needs role operator")
	if d, err := admin.Device(ctx, target); err != nil || d.State != viewerBefore.State {
		t.Errorf("after a viewer's refused change the device is %s (was %s): %v", d.State, viewerBefore.State, err)
	}
	if j, err := admin.Job(ctx, active); err != nil || j.State == "cancelled" {
		t.Errorf("after a viewer's refused cancel the job is %s: %v", j.State, err)
	}

	// Sign out; sign in as the admin (an operator and more).
	if err := chromedp.Do(bctx, chromedp.Submit(chromedp.CSS(`form[action="/signout"]`)), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatal(err)
	}
	// Without a session the forms are refused with the sign-in page.
	visit("fleet-signed-out", "/")
	refused("a cancel without a session", "/jobs/"+active+"/cancel", map[string]string{"csrf": "00"}, 401, "role operator")
	if j, err := admin.Job(ctx, active); err != nil || j.State == "cancelled" {
		t.Errorf("after a refused cancel without a session the job is %s: %v", j.State, err)
	}
	visit("signin-admin", "/signin?next=/devices/"+target)
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#device-state"))); err != nil {
		t.Fatal(err)
	}
	w.take()
	before, err := admin.Device(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	to := eval[string](t, bctx, `document.querySelector("#to").options[0].value`)
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#reason"), "browser test"), chromedp.Submit(chromedp.CSS("#reason")),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`))); err != nil {
		t.Fatal(err)
	}
	after, err := admin.Device(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if string(after.State) != to || after.State == before.State || text("#device-state") != to {
		t.Errorf("state change: %s → %s (page %q), asked for %s", before.State, after.State, text("#device-state"), to)
	}
	w.take()
	visit("job", "/jobs/"+active)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#cancel")), chromedp.WaitVisible(chromedp.CSS(`p.notice`))); err != nil {
		t.Fatal(err)
	}
	j, err := admin.Job(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != "cancelled" || text("#job-state") != "cancelled" {
		t.Errorf("after cancel: the API says %s, the page %q", j.State, text("#job-state"))
	}
	for _, p := range w.take() {
		t.Errorf("after the actions: %s", p)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// legendClearJS finds, in each chart of the page, the legend (the labels
// given, widened by the swatch beside them) and the shapes painted in a
// swatch's colour outside it (bars, lines), and reports every shape whose
// bounding box meets the legend's, a legend label cut off at the chart's
// edge, and a chart without such shapes.
const legendClearJS = `(labels, want) => {
	const out = [];
	let charts = 0;
	document.querySelectorAll("figure.chart svg").forEach((svg, i) => {
		const texts = [...svg.querySelectorAll("text")].filter(t => labels.includes(t.textContent.trim()));
		if (texts.length !== labels.length) return;
		charts++;
		const r = texts.map(t => t.getBoundingClientRect()), sw = 36;
		const L = {x0: Math.min(...r.map(b => b.left)) - sw, x1: Math.max(...r.map(b => b.right)) + sw,
			y0: Math.min(...r.map(b => b.top)), y1: Math.max(...r.map(b => b.bottom))};
		const box = svg.getBoundingClientRect();
		if (L.x1 - sw > box.right || L.y0 < box.top) out.push("chart " + i + ": the legend (" + [L.x0 + sw, L.y0, L.x1 - sw, L.y1].map(Math.round) + ") leaves the chart (" + [box.left, box.top, box.right, box.bottom].map(Math.round) + ")");
		const inside = b => b.left >= L.x0 && b.right <= L.x1 && b.top >= L.y0 && b.bottom <= L.y1;
		const plain = ["none", "rgb(255, 255, 255)", "rgb(0, 0, 0)"]; // background, outlines, axes
		const paint = p => { const s = getComputedStyle(p); return [s.fill, s.stroke].filter(c => c && !plain.includes(c)); };
		const paths = [...svg.querySelectorAll("path")];
		const swatches = new Set(paths.filter(p => inside(p.getBoundingClientRect())).flatMap(paint));
		let shapes = 0;
		for (const p of paths) {
			const b = p.getBoundingClientRect();
			if (inside(b) || !paint(p).some(c => swatches.has(c)) || b.width + b.height === 0) continue;
			shapes++;
			if (b.left < L.x1 && L.x0 < b.right && b.top < L.y1 && L.y0 < b.bottom)
				out.push("chart " + i + ": a shape at (" + [b.left, b.top, b.right, b.bottom].map(Math.round) + ") meets the legend at (" + [L.x0, L.y0, L.x1, L.y1].map(Math.round) + ")");
		}
		if (shapes === 0) out.push("chart " + i + ": no bar or line in the legend's colours");
	});
	if (charts < want) out.push(charts + " charts with the legend " + labels.join(", ") + ", want " + want);
	return out;
}`

// legendOverBars runs legendClearJS on the page shown: want charts carry
// a legend of labels, and none of them lets it cover a bar or a line.
func legendOverBars(t *testing.T, ctx context.Context, labels []string, want int) []string {
	t.Helper()
	js, err := json.Marshal(labels)
	if err != nil {
		t.Fatal(err)
	}
	return eval[[]string](t, ctx, fmt.Sprintf("(%s)(%s, %d)", legendClearJS, js, want))
}
