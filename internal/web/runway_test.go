package web

import (
	"bytes"
	"context"
	"log/slog"
	"mime/multipart"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/inventory"
)

// The runway page: sign-in needed; the default plan (no fleet) forecasts
// the live ledger with the fan chart and the levers; a broken plan is a
// 400 that names the line and marks it, with nothing run.
func TestRunwayPage(t *testing.T) {
	led := demoLedger(t, 0.02)
	h, err := New(led, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(b *browser, plan string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("plan", plan)
		mw.Close()
		req := httptest.NewRequest("POST", "/runway", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if b.cookie != nil {
			req.AddCookie(b.cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	anon := &browser{t: t, h: h}
	if code, _ := post(anon, defaultPlan); code != 401 {
		t.Errorf("runway without a session: %d", code)
	}
	_, secret, err := led.CreateToken(context.Background(), inventory.RoleViewer, "v")
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, h: h}
	b.do("POST", "/signin", url.Values{"token": {secret}})
	if code, body, _ := b.do("GET", "/runway", nil); code != 200 || !strings.Contains(body, "horizon_months: 72") {
		t.Fatalf("GET /runway: %d", code)
	}
	code, body := post(b, defaultPlan)
	if code != 200 || !strings.Contains(body, "Runway of the live inventory") || !strings.Contains(body, `id="runway-p50"`) ||
		strings.Count(body, `<figure class="chart"><svg role="img"`) != 2 || !strings.Contains(body, "<h3>Levers, best first</h3>") {
		t.Fatalf("POST /runway: %d\n%.3000s", code, body)
	}
	bad := strings.Replace(defaultPlan, "horizon_months: 72", "horizon_months: lots", 1)
	code, body = post(b, bad)
	if code != 400 || !strings.Contains(body, "plan:4") || !strings.Contains(body, `<li class="bad"><span class="ln">4</span>`) || strings.Contains(body, `id="runway-p50"`) {
		t.Errorf("broken plan: %d\n%.3000s", code, body)
	}
}
