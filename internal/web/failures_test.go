package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
	row := regexp.MustCompile(`<td><a href="/devices\?model=` + regexp.QuoteMeta(d.Model) + `">[^<]*</a></td><td>all</td>\s*<td class="n">[^<]*</td><td class="n"><a [^>]*>([0-9,]+)</a>`)
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
