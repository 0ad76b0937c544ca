package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/buildinfo"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// metrics holds the API's collectors. They are registered on the registry
// given to New, never on the global default registry.
type metrics struct {
	latency *prometheus.HistogramVec
}

// readyFunc is Options.Ready (nil: always ready).
type readyFunc func(context.Context) error

func newMetrics(reg prometheus.Registerer, counts deviceCounter, ready readyFunc, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "granary",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Latency of HTTP requests by method, route pattern (without the method) and status code.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "code"}),
	}
	b := buildinfo.Read()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "granary_build_info",
		Help:        "Always 1; the labels name the running build (module version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.Go},
	})
	build.Set(1)
	readyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "granary_ready",
		Help: "1 when /readyz would answer ready (the store answers, recent scheduling rounds succeed), else 0.",
	}, func() float64 {
		if ready == nil {
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			return 0
		}
		return 1
	})
	for _, c := range []prometheus.Collector{m.latency, build, readyGauge, &deviceCollector{counts: counts, log: log}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// deviceCounter counts devices by site, model and state, with the model's
// export class.
type deviceCounter func(ctx context.Context) ([]inventory.SiteCount, error)

// deviceCollector reads the device counts from the ledger at scrape time, so
// the gauge is never stale and needs no bookkeeping on writes.
type deviceCollector struct {
	counts deviceCounter
	log    *slog.Logger
}

var devicesDesc = prometheus.NewDesc("granary_devices",
	"Devices in the stockpile ledger by site, catalog model, state and the model's export class (latest rule set); "+
		"every state of a (site, model) present is listed, zeros included.",
	[]string{"site", "model", "state", "export_class"}, nil)

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- devicesDesc }

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		c.log.Error("metrics: counting devices", "err", err)
		ch <- prometheus.NewInvalidMetric(devicesDesc, err)
		return
	}
	type group struct{ site, model, class string }
	n := map[group]map[fleet.DeviceState]int{}
	for _, k := range counts {
		g := group{k.Site, k.Model, k.Class}
		if n[g] == nil {
			n[g] = map[fleet.DeviceState]int{}
		}
		n[g][k.State] += k.Devices
	}
	for g, by := range n {
		for _, st := range fleet.DeviceStates {
			ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(by[st]), g.site, g.model, string(st), g.class)
		}
	}
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument observes each request's latency under the mux's route pattern
// (not the raw path, so serials do not explode the label set) and logs it.
func (m *metrics) instrument(next http.Handler, log *slog.Logger, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		d := now().Sub(start)
		route := routeOf(r.Pattern)
		m.latency.WithLabelValues(r.Method, route, strconv.Itoa(code)).Observe(d.Seconds())
		level := slog.LevelDebug
		if code >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", code), slog.Duration("duration", d))
	})
}

// routeOf is the route label of a mux pattern: the path part, without the
// method ("GET /api/v1/devices/{serial}" → "/api/v1/devices/{serial}"), or
// "unmatched" when no route matched.
func routeOf(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimSpace(path)
	}
	if pattern == "" {
		return "unmatched"
	}
	return pattern
}
