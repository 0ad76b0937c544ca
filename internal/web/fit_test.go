package web

import (
	"bytes"
	"log/slog"
	"mime/multipart"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// The fit page shows one row per chip chosen with the plan's device count
// and parallelism; bad input is a 400 naming the field; an uploaded
// config.json is fitted like a catalog model, and a broken one is refused
// with its field named.
func TestFitPage(t *testing.T) {
	h, err := New(fixed{sum: inventory.Summary{Totals: inventory.SummaryTotals{ByState: map[fleet.DeviceState]int{}}}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, h, "/fit?model=Llama-3-70B&precision=bf16&chips=h800-sxm5-80gb&chips=l20-48gb")
	if code != 200 {
		t.Fatalf("/fit: %d", code)
	}
	// 70 B parameters at 2 bytes are 140 GB of weights: two 80 GB H800s
	// (70.6 GB each with the embeddings) and four 48 GB L20s.
	for _, want := range []string{`<a href="/chips/h800-sxm5-80gb">H800 SXM5 80GB</a></td>
    <td class="n">2</td><td>2×1×1</td>`, `<a href="/chips/l20-48gb">L20 48GB</a></td>
    <td class="n">4</td><td>4×1×1</td>`, `role="img"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/fit lacks %q", want)
		}
	}
	if n := strings.Count(body, `<tr class="fits">`); n != 2 {
		t.Errorf("%d plans that fit, want 2", n)
	}
	for q, want := range map[string]string{"model=Llama-3-70B&precision=bf99": "unknown precision", "model=Nope-9000": "model", "model=Llama-3-70B&input=x": "input", "model=Llama-3-70B&concurrency=0": "concurrency", "model=Llama-3-70B&chips=zz9": "chips"} {
		if code, body, _ := get(t, h, "/fit?"+q); code != 400 || !strings.Contains(body, want) {
			t.Errorf("/fit?%s: %d, want 400 naming %q", q, code, want)
		}
	}
	upload := func(name string, data []byte) (int, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile("config", name)
		fw.Write(data)
		mw.WriteField("precision", "bf16")
		mw.WriteField("chips", "h800-sxm5-80gb")
		mw.Close()
		req := httptest.NewRequest("POST", "/fit", &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	cfg, err := os.ReadFile("../models/testdata/llama-3.1-8b.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body = upload("llama-3.1-8b.json", cfg)
	if code != 200 || !regexp.MustCompile(`H800 SXM5 80GB</a></td>\s*<td class="n">1</td>`).MatchString(body) {
		t.Errorf("upload of an 8B config: %d\n%.3000s", code, body)
	}
	if code, body = upload("broken.json", []byte(`{"hidden_size": 4096}`)); code != 400 || !strings.Contains(body, "model_type") {
		t.Errorf("broken config: %d", code)
	}
}
