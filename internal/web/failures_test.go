package web

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// The failures page shows the ledger's own failure counts: failing one
// in-service device adds exactly one failure to its model's row; a bad
// confidence is a 400 naming the valid range; without the capability the
// page is a 404, not a 500.
func TestFailuresPage(t *testing.T) {
	led := demoLedger(t, 0.02)
	ctx := context.Background()
	h, err := New(led, slog.New(slog.DiscardHandler), nil, WithFailures(led))
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, h: h}
	pg, err := led.List(ctx, inventory.Filter{State: fleet.InService, Limit: 1})
	if err != nil || len(pg.Devices) != 1 {
		t.Fatalf("no device in service: %v", err)
	}
	d := pg.Devices[0]
	row := regexp.MustCompile(`<td><a href="/devices\?model=` + regexp.QuoteMeta(d.Model) + `">[^<]*</a></td><td>all</td>\s*<td class="n">[^<]*</td><td class="n">(?:<a [^>]*>)?([0-9,]+)<`)
	failuresOf := func() string {
		t.Helper()
		code, body, _ := b.do(http.MethodGet, "/failures", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /failures: %d\n%s", code, body)
		}
		m := row.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no row for %s in\n%s", d.Model, body)
		}
		return strings.ReplaceAll(m[1], ",", "")
	}
	before := failuresOf()
	if _, err := led.SetState(ctx, d.Serial, fleet.Failed, "test", "test"); err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(before, &n)
	if got, want := failuresOf(), fmt.Sprint(n+1); got != want {
		t.Errorf("%s failures after failing %s: %s, want %s", d.Model, d.Serial, got, want)
	}

	// Every failures count links to the failures it counts (the model's,
	// in the row's age band); the list needs a sign-in, says as many,
	// lists each once across its pages, each of the model, in the band.
	if code, _, _ := b.do(http.MethodGet, failuresURL(d.Model, "all"), nil); code != http.StatusUnauthorized {
		t.Errorf("the failures list without a session: %d, want 401", code)
	}
	_, viewer, err := led.CreateToken(ctx, inventory.RoleViewer, "v")
	if err != nil {
		t.Fatal(err)
	}
	b.do(http.MethodPost, "/signin", url.Values{"token": {viewer}})
	_, body, _ := b.do(http.MethodGet, "/failures", nil)
	defer func(n int) { failureRowsPerPage = n }(failureRowsPerPage)
	failureRowsPerPage = 3
	pages := 0
	links := regexp.MustCompile(`<a href="(/failures/events\?[^"]+)">([0-9\x{202f}]+)</a>`).FindAllStringSubmatch(body, -1)
	bands := map[string]bool{}
	for _, l := range links {
		href := html.UnescapeString(l[1])
		u, _ := url.Parse(href)
		model, band := u.Query().Get("model"), u.Query().Get("band")
		bands[band] = true
		seen := map[string]bool{}
		for path := href; path != ""; pages++ {
			code, list, _ := b.do(http.MethodGet, path, nil)
			if code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
			if m := regexp.MustCompile(`<p id="count">([0-9\x{202f}]+) failures match`).FindStringSubmatch(list); m == nil || m[1] != l[2] {
				t.Errorf("%s: the failures page says %s, the list %v", path, l[2], m)
			}
			for _, row := range regexp.MustCompile(`<time datetime="([^"]+)">[^<]*</time></td><td><a href="/devices/([^"]+)">[^<]*</a></td>\s*<td>([^<]*)</td><td>([^<]*)</td>`).FindAllStringSubmatch(list, -1) {
				if seen[row[1]+row[2]] || !strings.HasSuffix(row[3], "→ failed") || (band != "all" && html.UnescapeString(row[4]) != band) {
					t.Errorf("%s: row %v (listed before: %v)", path, row[1:], seen[row[1]+row[2]])
				}
				seen[row[1]+row[2]] = true
				if dev, err := led.Get(ctx, row[2]); err != nil || dev.Model != model {
					t.Errorf("%s: %s is a %s (%v)", path, row[2], dev.Model, err)
				}
			}
			path = ""
			if m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(list); m != nil {
				path = html.UnescapeString(m[1])
			}
		}
		if fmt.Sprint(len(seen)) != strings.ReplaceAll(l[2], "\u202f", "") {
			t.Errorf("%s: %d failures listed across the pages, the failures page says %s", href, len(seen), l[2])
		}
	}
	if len(links) < 3 || !bands["all"] || len(bands) < 2 || pages <= len(links) {
		t.Errorf("%d linked failure counts in bands %v, %d pages", len(links), bands, pages)
	}
	t.Logf("%d linked failure counts (bands %v), each equal to its list (%d pages of 3)", len(links), bands, pages)
	for path, want := range map[string]string{failuresURL(d.Model, "9y"): "not an age band", "/failures/events?band=all": "model is missing", failuresURL(d.Model, "all") + "&page=x": "not a page number"} {
		if code, body, _ := b.do(http.MethodGet, path, nil); code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 400 with %q", path, code, want)
		}
	}

	if code, body, _ := b.do(http.MethodGet, "/failures?confidence=2", nil); code != http.StatusBadRequest || !strings.Contains(body, "from 0.5 to 0.999") {
		t.Errorf("confidence=2: %d, want 400 naming the range\n%s", code, body)
	}
	bare, err := New(led, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := (&browser{t: t, h: bare}).do(http.MethodGet, "/failures", nil); code != http.StatusNotFound {
		t.Errorf("without failure statistics: %d, want 404", code)
	}
}
