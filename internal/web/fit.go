package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/perf"
	"github.com/granaryhq/granary/internal/plot"
)

// fitPage is /fit: the form, and when a model is chosen the same plans as
// `granary fit serve` with the memory breakdown drawn.
type fitPage struct {
	Models     []models.Model
	Chips      []accel.Chip
	Precisions []fleet.Precision
	// The form's values.
	Model, Precision, Concurrency string
	Input, Output, Devices        int
	Chosen                        []string // chip ids
	Upload                        string   // the uploaded config.json's name
	// The answer (nil before a model is chosen).
	Request *perf.ServeRequest
	Plans   []perf.Plan
	Memory  template.HTML // chart: memory per device by part
	Error   string        // bad input, shown above the form
}

// maxConfigBytes bounds an uploaded config.json.
const maxConfigBytes = 1 << 20

func (h *Handler) fitForm(w http.ResponseWriter, r *http.Request) {
	h.fit(w, r, r.URL.Query(), nil, "")
}

// fitUpload is the form with a Hugging Face config.json instead of a
// catalog model (multipart POST; it changes nothing, so no session).
func (h *Handler) fitUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConfigBytes+64<<10)
	if err := r.ParseMultipartForm(maxConfigBytes); err != nil {
		h.fit(w, r, url.Values{}, nil, fmt.Sprintf("The upload could not be read (at most %d KiB): %v", maxConfigBytes>>10, err))
		return
	}
	f, hdr, err := r.FormFile("config")
	if err != nil {
		h.fit(w, r, r.MultipartForm.Value, nil, "Choose a config.json file to upload.")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		h.fit(w, r, r.MultipartForm.Value, nil, "The upload could not be read.")
		return
	}
	m, err := models.ParseHFConfig(hdr.Filename, data)
	if err != nil {
		h.fit(w, r, r.MultipartForm.Value, nil, err.Error())
		return
	}
	h.fit(w, r, r.MultipartForm.Value, &m, "")
}

func (h *Handler) fit(w http.ResponseWriter, r *http.Request, v url.Values, upload *models.Model, problem string) {
	cat := h.led.Catalog()
	pg := fitPage{Models: models.Default().All(), Chips: cat.All(), Precisions: fleet.Precisions,
		Model: v.Get("model"), Precision: cmpOr(v.Get("precision"), "bf16"), Concurrency: cmpOr(v.Get("concurrency"), "max"),
		Input: 2048, Output: 512, Chosen: v["chips"], Error: problem}
	if len(pg.Chosen) == 0 {
		pg.Chosen = h.fleetModels(r)
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	}
	if upload != nil {
		pg.Upload, pg.Model = upload.Name, ""
	}
	if problem == "" && (pg.Model != "" || upload != nil) {
		req, chips, err := fitRequest(v, upload, cat, pg.Chosen)
		if err != nil {
			pg.Error, status = err.Error(), http.StatusBadRequest
		} else {
			pg.Request, pg.Input, pg.Output, pg.Devices = &req, req.Input, req.Output, req.Devices
			pg.Plans = perf.ServeAll(req, chips)
			if pg.Memory, err = memoryChart(req, pg.Plans); err != nil {
				h.log.WarnContext(r.Context(), "web: chart", "err", err)
			}
		}
	}
	h.render(w, r, status, "fit.html", view{Title: "Fit", Nav: "fit", Sub: "Which chips serve a model, how many, how fast (as granary fit serve)", Body: pg})
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fleetModels are the catalog ids of the models the ledger holds: the
// default chips to compare.
func (h *Handler) fleetModels(r *http.Request) []string {
	sum, err := h.led.Summary(r.Context())
	if err != nil {
		return nil
	}
	var ids []string
	for _, m := range sum.Models {
		ids = append(ids, m.Model)
	}
	return ids
}

// fitRequest reads the form as `granary fit serve` reads its flags; an
// error names the field and the valid values.
func fitRequest(v url.Values, upload *models.Model, cat *accel.Catalog, chosen []string) (perf.ServeRequest, []accel.Chip, error) {
	var r perf.ServeRequest
	if upload != nil {
		r.Model = *upload
	} else {
		m, err := models.Default().Resolve(v.Get("model"))
		if err != nil {
			return r, nil, fmt.Errorf("model: %w", err)
		}
		r.Model = m
	}
	p, err := fleet.ParsePrecision(cmpOr(v.Get("precision"), "bf16"))
	if err != nil {
		return r, nil, fmt.Errorf("precision: %w", err)
	}
	r.Precision = p
	ints := map[string]*int{"input": &r.Input, "output": &r.Output, "devices": &r.Devices}
	r.Input, r.Output = 2048, 512
	for name, dst := range ints {
		s := strings.TrimSpace(v.Get(name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return r, nil, fmt.Errorf("%s %q is not a whole number", name, s)
		}
		*dst = n
	}
	if r.Devices < 0 || r.Devices > 65536 {
		return r, nil, fmt.Errorf("devices %d out of range (valid: 0 for the smallest that fits, or 1..65536)", r.Devices)
	}
	if c := strings.TrimSpace(v.Get("concurrency")); c != "" && c != "max" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return r, nil, fmt.Errorf("concurrency %q: want max or a whole number ≥ 1", c)
		}
		r.Concurrency = n
	}
	if err := r.Validate(); err != nil {
		return r, nil, errors.New(strings.ReplaceAll(err.Error(), "--", ""))
	}
	var chips []accel.Chip
	for _, id := range chosen {
		c, err := cat.Resolve(id)
		if err != nil {
			return r, nil, fmt.Errorf("chips: %w", err)
		}
		chips = append(chips, c)
	}
	if len(chips) == 0 {
		chips = cat.All()
	}
	return r, chips, nil
}

// memoryChart draws each chip's memory per device: weights, KV cache,
// activations and the rest, stacked (GB).
func memoryChart(r perf.ServeRequest, plans []perf.Plan) (template.HTML, error) {
	var cats []string
	parts := []plot.Series{{Name: "weights"}, {Name: "KV cache"}, {Name: "activations"}, {Name: "other"}}
	for _, p := range plans {
		if p.Memory.Budget == 0 {
			continue
		}
		cats = append(cats, fmt.Sprintf("%s ×%d", p.Chip.Name, p.Devices()))
		for i, v := range []float64{p.Memory.Weights, p.Memory.KVCache, p.Memory.Activations, p.Memory.Other} {
			parts[i].Values = append(parts[i].Values, v/perf.GB)
		}
	}
	if len(cats) == 0 {
		return "", nil
	}
	p, err := plot.StackedBars(fmt.Sprintf("%s at %s: memory per device", r.Model.Name, r.Precision), "GB per device", cats, parts)
	if err != nil {
		return "", err
	}
	return svg(p, "Memory per device by part for each chip; the table has the numbers")
}

// kvPrecision is the request's KV-cache precision as fit serve prints it.
func kvPrecision(r perf.ServeRequest) fleet.Precision {
	if r.KVPrecision != "" {
		return r.KVPrecision
	}
	return perf.DefaultKVPrecision(r.Precision)
}
