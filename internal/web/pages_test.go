package web

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
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
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// demoLedger is a real ledger (SQLite in a temporary directory) holding
// the demo stockpile at scale.
func demoLedger(t testing.TB, scale float64) *inventory.Service {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(7, 8)), Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Scale: scale})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return led
}

// browser is a minimal client: cookies kept, redirects not followed.
type browser struct {
	t      *testing.T
	h      http.Handler
	cookie *http.Cookie
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			b.cookie = c
			if c.MaxAge < 0 {
				b.cookie = nil
			}
		}
	}
	return rec.Code, rec.Body.String(), rec.Result().Header
}

var (
	serialRE = regexp.MustCompile(`<td><a href="/devices/([^"]+)">`)
	nextRE   = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	csrfRE   = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
)

// signedOut is a browser on led's dashboard, without a session, that was
// sent to the sign-in form (401) for path, and a viewer token to sign in.
func signedOut(t *testing.T, led *inventory.Service, path string) (*browser, string) {
	t.Helper()
	h, err := New(led, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, h: h}
	if code, body, _ := b.do("GET", path, nil); code != 401 || !strings.Contains(body, `action="/signin"`) {
		t.Fatalf("%s without a session: %d", path, code)
	}
	_, viewer, err := led.CreateToken(context.Background(), inventory.RoleViewer, "v")
	if err != nil {
		t.Fatal(err)
	}
	return b, viewer
}

// Devices: sign-in needed; every device reachable by paging, in serial
// order, as many as the summary counts; filters narrow; bad parameters are
// a 400 that says what is valid.
func TestDevicesPagingAndFilters(t *testing.T) {
	led := demoLedger(t, 0.02)
	ctx := context.Background()
	b, viewer := signedOut(t, led, "/devices")
	if code, body, _ := b.do("POST", "/signin", url.Values{"token": {"gry_nope"}, "next": {"/devices"}}); code != 401 || !strings.Contains(body, "That token is unknown") || b.cookie != nil {
		t.Fatalf("unknown token: %d", code)
	}
	code, _, hdr := b.do("POST", "/signin", url.Values{"token": {viewer}, "next": {"/devices"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/devices" || b.cookie == nil || !b.cookie.HttpOnly || b.cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in: %d %v %+v", code, hdr, b.cookie)
	}
	sum, err := led.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var serials []string
	path := "/devices?limit=50"
	for pages := 0; path != ""; pages++ {
		code, body, _ := b.do("GET", path, nil)
		if code != 200 || pages > 1000 {
			t.Fatalf("%s: %d", path, code)
		}
		for _, m := range serialRE.FindAllStringSubmatch(body, -1) {
			serials = append(serials, m[1])
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(serials) != sum.Totals.Devices {
		t.Fatalf("paging showed %d devices, the ledger has %d", len(serials), sum.Totals.Devices)
	}
	for i := 1; i < len(serials); i++ {
		if serials[i-1] >= serials[i] {
			t.Fatalf("not in serial order at %d: %s, %s", i, serials[i-1], serials[i])
		}
	}
	// A filter narrows to what the summary counts.
	_, body, _ := b.do("GET", "/devices?state=failed&limit=1000", nil)
	if n := len(serialRE.FindAllString(body, -1)); n != sum.Totals.ByState[fleet.Failed] || n == 0 || strings.Count(body, `class="state-in-service"`) > 0 {
		t.Errorf("failed devices: %d rows, summary says %d", n, sum.Totals.ByState[fleet.Failed])
	}
	if !strings.Contains(body, thousands(sum.Totals.ByState[fleet.Failed])+" devices match") {
		t.Error("the page does not say how many devices match")
	}
	for q, want := range map[string]string{"state=sleeping": "in-service", "limit=0": "1 to 1000", "limit=x": "1 to 1000", "model=zz9000": "model", "after=!!!": "cursor"} {
		code, body, _ := b.do("GET", "/devices?"+q, nil)
		if code != 400 || !strings.Contains(body, want) || strings.Contains(body, "goroutine") {
			t.Errorf("/devices?%s: %d, want 400 naming %q", q, code, want)
		}
	}
	// Search narrows to the devices whose serial, node, site or model
	// contain the text (a naive filter of the ledger is the oracle), in the
	// chosen order, and the links keep the filters.
	all, err := led.List(ctx, inventory.Filter{Limit: inventory.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	// Class filters keep the devices whose model the classifier puts in the
	// class under the chosen rules, classified here one device at a time.
	classOf := func(d inventory.Device, rules string) string {
		rs, err := exportctl.LookupRuleSet(rules)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := led.Catalog().Get(d.Model)
		return string(exportctl.Classify(c, rs).Classification)
	}
	classes := map[string]bool{}
	for _, c := range []struct {
		q, sort, class, rules, state string
		none                         bool // the demo has no such device
	}{
		{q: serials[3]}, {q: strings.ToUpper(all.Devices[5].Node), sort: "site"}, {q: "0001", sort: "node"}, {q: "ascend", sort: "model"}, {q: "zz-nothing", sort: "node", none: true},
		{q: "0", sort: "-model"}, {q: "1", sort: "-serial"}, {q: "2", sort: "-node", state: "in-service"},
		{class: "3A090.a"}, {class: "not-3A090", rules: "2022-10", sort: "-model"}, {class: "3a090.B", rules: "2023-10", none: true}, {class: "insufficient-data", q: "1"},
	} {
		var want []inventory.Device
		for _, d := range all.Devices {
			if strings.Contains(strings.ToLower(d.Serial+"\n"+d.Node+"\n"+d.Site+"\n"+d.Model), strings.ToLower(c.q)) &&
				(c.class == "" || strings.EqualFold(classOf(d, c.rules), c.class)) && (c.state == "" || string(d.State) == c.state) {
				want = append(want, d)
			}
		}
		if (len(want) == 0) != c.none {
			t.Errorf("%+v: the demo has %d such devices", c, len(want))
		}
		if c.class != "" && !c.none {
			classes[strings.ToLower(c.class)] = true
		}
		// The order written out: the key, then the serial, both reversed
		// for a leading "-".
		desc := strings.HasPrefix(c.sort, "-")
		slices.SortFunc(want, func(a, b inventory.Device) int {
			if desc {
				a, b = b, a
			}
			return cmp.Or(strings.Compare(a.SortKey(c.sort), b.SortKey(c.sort)), strings.Compare(a.Serial, b.Serial))
		})
		v := url.Values{"limit": {"1000"}, "state": {c.state}, "q": {c.q}, "sort": {c.sort}, "class": {c.class}, "rules": {c.rules}}
		code, body, _ := b.do("GET", "/devices?"+v.Encode(), nil)
		var got []string
		for _, m := range serialRE.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		var wantSerials []string
		for _, d := range want {
			wantSerials = append(wantSerials, d.Serial)
		}
		if code != 200 || !slices.Equal(got, wantSerials) {
			t.Errorf("%+v: %d, %d rows, want %d", c, code, len(got), len(wantSerials))
		}
		if !strings.Contains(body, `<span id="count">`+thousands(len(want))+" devices match") {
			t.Errorf("%+v: the page does not say %d devices match", c, len(want))
		}
		// The Model header keeps the filters; it sorts by model, or by
		// model descending when the list is by model already.
		wantSort := "sort=model"
		if c.sort == "model" {
			wantSort = "sort=-model"
		}
		wantClass := ""
		if c.class != "" {
			b, _ := exportctl.ParseBand(c.class)
			wantClass = "class=" + url.QueryEscape(string(b))
		}
		if m := regexp.MustCompile(`<a href="([^"]+)">Model( [↑↓])?</a>`).FindStringSubmatch(body); len(want) > 0 &&
			(m == nil || c.q != "" && !strings.Contains(m[1], "q="+url.QueryEscape(c.q)) || !strings.Contains(m[1], wantClass) || !regexp.MustCompile(wantSort+`(&|$)`).MatchString(m[1])) {
			t.Errorf("%+v: the Model header does not keep the filters and %s: %v", c, wantSort, m)
		}
	}
	if len(classes) < 3 {
		t.Errorf("class cases cover %d classes", len(classes))
	}
	for q, want := range map[string]string{"sort=cost": "serial, model, state, site, node", "sort=-cost": "descending", "sort=-": "device order", "class=3A090.z": "3A090.a, 3A090.b, not-3A090, insufficient-data", "class=3A090.a&rules=1999": "2022-10"} {
		if code, body, _ := b.do("GET", "/devices?"+q, nil); code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 400 naming %q", q, code, want)
		}
	}
}

// A state change from the device page: refused for viewers, without the
// CSRF field and from another origin, with nothing changed; done for an
// operator, and the history records it with the token as the actor.
func TestStateChangeNeedsRoleAndCSRF(t *testing.T) {
	led := demoLedger(t, 0.01)
	ctx := context.Background()
	h, err := New(led, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	page, err := led.List(ctx, inventory.Filter{State: fleet.InService, Limit: 1})
	if err != nil || len(page.Devices) == 0 {
		t.Fatal(err)
	}
	serial := page.Devices[0].Serial
	before, _ := led.History(ctx, serial)
	_, viewer, _ := led.CreateToken(ctx, inventory.RoleViewer, "v")
	opTok, operator, _ := led.CreateToken(ctx, inventory.RoleOperator, "op")
	form := url.Values{"to": {"maintenance"}, "reason": {"fan noise"}}

	v := &browser{t: t, h: h}
	v.do("POST", "/signin", url.Values{"token": {viewer}})
	_, body, _ := v.do("GET", "/devices/"+serial, nil)
	if strings.Contains(body, `action="/devices/`+serial+`/state"`) {
		t.Error("a viewer sees the state form")
	}
	if code, _, _ := v.do("POST", "/devices/"+serial+"/state", form); code != http.StatusForbidden {
		t.Errorf("viewer's change: %d, want 403", code)
	}
	anon := &browser{t: t, h: h}
	if code, _, _ := anon.do("POST", "/devices/"+serial+"/state", form); code != http.StatusUnauthorized {
		t.Errorf("change without a session: %d, want 401", code)
	}

	op := &browser{t: t, h: h}
	op.do("POST", "/signin", url.Values{"token": {operator}})
	if code, body, _ := op.do("POST", "/devices/"+serial+"/state", form); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("change without CSRF: %d", code)
	}
	_, body, _ = op.do("GET", "/devices/"+serial, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the operator's device page has no state form")
	}
	form.Set("csrf", m[1])
	if code, _, _ := op.do("POST", "/devices/"+serial+"/state", form, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site change: %d, want 403", code)
	}
	if after, _ := led.History(ctx, serial); len(after) != len(before) {
		t.Fatalf("refused changes wrote history: %d → %d events", len(before), len(after))
	}
	code, _, hdr := op.do("POST", "/devices/"+serial+"/state", form)
	if code != http.StatusSeeOther {
		t.Fatalf("operator's change: %d", code)
	}
	after, _ := led.History(ctx, serial)
	last := after[len(after)-1]
	if len(after) != len(before)+1 || last.To != fleet.Maintenance || last.Reason != "fan noise" || last.Actor != opTok.ID {
		t.Errorf("history after the change: %+v", last)
	}
	if _, body, _ := op.do("GET", hdr.Get("Location"), nil); !strings.Contains(body, "Moved from in-service to maintenance") || !strings.Contains(body, `id="device-state" class="state-maintenance"`) {
		t.Error("the device page does not show the change")
	}
	// A refused transition says why and changes nothing.
	if code, body, _ := op.do("POST", "/devices/"+serial+"/state", url.Values{"to": {"failed"}, "reason": {""}, "csrf": {m[1]}}); code != http.StatusConflict || !strings.Contains(body, "reason") {
		t.Errorf("change without a reason: %d", code)
	}
	// Deleting the token ends the session.
	if err := led.DeleteToken(ctx, opTok.ID); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := op.do("GET", "/devices/"+serial, nil); code != 401 || !strings.Contains(body, "no longer valid") || op.cookie != nil {
		t.Errorf("deleted token's session: %d", code)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/devices?state=failed": "/devices?state=failed", "": "/", "//evil.example/x": "/", "https://evil.example/": "/", "devices": "/", "/\\evil": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// Nodes: sign-in needed; paging every site's list (and the list of every
// site) walks exactly the ledger's nodes of that site, in hostname order,
// each once, each linked to its page, and "N nodes match" is that many;
// a bad page size is a 400.
func TestNodesListPagingAndSites(t *testing.T) {
	led := demoLedger(t, 0.02)
	ctx := context.Background()
	b, viewer := signedOut(t, led, "/nodes")
	b.do("POST", "/signin", url.Values{"token": {viewer}})
	all, err := led.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"": nil} // "": every site
	bySite := map[string][]string{}
	for _, n := range all {
		want[""] = append(want[""], n.Hostname)
		bySite[n.Site] = append(bySite[n.Site], n.Hostname)
	}
	if len(bySite) < 2 || len(all) < 20 {
		t.Fatalf("the demo ledger has %d nodes at %d sites: too few to test paging by site", len(all), len(bySite))
	}
	hostRE := regexp.MustCompile(`<td><a href="/nodes/([^"]+)">`)
	countRE := regexp.MustCompile(`<span id="count">([0-9\x{202f}]+) nodes match`)
	walk := func(first string) (hosts []string, counts []string) {
		path := first
		for pages := 0; path != ""; pages++ {
			code, body, _ := b.do("GET", path, nil)
			if code != 200 || pages > 1000 {
				t.Fatalf("%s: %d", path, code)
			}
			for _, m := range hostRE.FindAllStringSubmatch(body, -1) {
				hosts = append(hosts, m[1])
			}
			if m := countRE.FindStringSubmatch(body); m != nil {
				counts = append(counts, m[1])
			}
			path = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		return hosts, counts
	}
	check := func(first string, want []string) {
		t.Helper()
		got, counts := walk(first)
		sorted := slices.Clone(want)
		slices.Sort(sorted)
		if !slices.Equal(got, sorted) {
			t.Errorf("%s: paging listed %d nodes, the ledger has %d (%v…)", first, len(got), len(sorted), got[:min(3, len(got))])
		}
		for _, c := range counts {
			if c != thousands(len(want)) {
				t.Errorf("%s: a page says %s nodes match, the ledger has %d", first, c, len(want))
			}
		}
		if len(counts) == 0 {
			t.Errorf("%s: no count", first)
		}
	}
	check("/nodes?limit=7", want[""])
	for site, hosts := range bySite {
		check(nodesQuery{Site: site, BySite: true, Limit: 5}.url(""), hosts)
	}
	if code, body, _ := b.do("GET", "/nodes?site=no-such-site", nil); code != 200 || !strings.Contains(body, "No node matches") {
		t.Errorf("an unknown site: %d", code)
	}
	if code, body, _ := b.do("GET", "/nodes?limit=0", nil); code != 400 || !strings.Contains(body, "is not a page size") {
		t.Errorf("limit=0: %d", code)
	}
}

// A node's page shows the CPU and memory the ledger records for jobs (the
// demo's H800 nodes: a DGX H800's 112 cores and 2 TiB).
func TestNodePageResources(t *testing.T) {
	led := demoLedger(t, 0.02)
	b, viewer := signedOut(t, led, "/nodes")
	b.do("POST", "/signin", url.Values{"token": {viewer}})
	all, err := led.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host := ""
	for _, n := range all {
		if strings.Contains(n.Hostname, "-h800-") {
			host = n.Hostname
			break
		}
	}
	if host == "" {
		t.Fatal("no H800 node in the demo ledger")
	}
	code, body, _ := b.do("GET", "/nodes/"+host, nil)
	if code != 200 || !strings.Contains(body, "<dt>CPU for jobs</dt><dd>112 cores</dd>") || !strings.Contains(body, "<dt>Memory for jobs</dt><dd>2 TiB</dd>") {
		t.Errorf("/nodes/%s: %d, want 112 cores and 2 TiB among its facts", host, code)
	}
}
