package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the API's collectors. They are registered on the registry
// given to New, never on the global default registry.
type metrics struct {
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, counts deviceCounter, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "granary",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Latency of HTTP requests by method, route pattern and status code.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "code"}),
	}
	if err := reg.Register(m.latency); err != nil {
		return nil, err
	}
	if err := reg.Register(&deviceCollector{counts: counts, log: log}); err != nil {
		return nil, err
	}
	return m, nil
}

// deviceCounter counts devices by catalog model and state.
type deviceCounter func(ctx context.Context) (map[[2]string]int, error)

// deviceCollector reads the device counts from the ledger at scrape time, so
// the gauge is never stale and needs no bookkeeping on writes.
type deviceCollector struct {
	counts deviceCounter
	log    *slog.Logger
}

var devicesDesc = prometheus.NewDesc("granary_devices",
	"Devices in the stockpile ledger by catalog model and state.",
	[]string{"model", "state"}, nil)

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
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
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
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
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
