package web

import (
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/perf"
)

var funcs = template.FuncMap{
	"num":      num,
	"int":      thousands,
	"pflops":   pflops,
	"ptr":      ptr,
	"progress": progress,
	"request":  func(j jobs.Job) string { return j.ShareText() },
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02")
	},
	"ints": func(v ...int) []int { return v },
	"has":  func(list []string, s string) bool { return slices.Contains(list, s) },
	"kv":   kvPrecision,
	"intp": func(p *int) string {
		if p == nil {
			return "–"
		}
		return strconv.Itoa(*p)
	},
	"strp": func(p *string) string {
		if p == nil {
			return "–"
		}
		return *p
	},
	"pct1": func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) },
	"gb":   func(b float64) string { return num(b / perf.GB) },
	"msec": func(d time.Duration) string { return num(float64(d) / float64(time.Millisecond)) },
	"perdev": func(p perf.Plan) string {
		if p.Devices() == 0 {
			return "–"
		}
		return num(p.OutputTokensPerS / float64(p.Devices()))
	},
	"last":        func(ds []inventory.Device) inventory.Device { return ds[len(ds)-1] },
	"failuresURL": failuresURL,
	"lastNode":    func(ns []inventory.Node) inventory.Node { return ns[len(ns)-1] },
	// cores is milli-cores as cores ("112", "0.5"); mib is MiB in the
	// largest binary unit that divides it ("2 TiB", "1536 GiB", "100 MiB").
	"cores": func(milli int64) string { return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64) },
	"mib": func(m int64) string {
		switch {
		case m%(1<<20) == 0:
			return strconv.FormatInt(m>>20, 10) + " TiB"
		case m%(1<<10) == 0:
			return strconv.FormatInt(m>>10, 10) + " GiB"
		}
		return strconv.FormatInt(m, 10) + " MiB"
	},
	"dense": func(c accel.Chip, p fleet.Precision) string {
		if v, ok := c.Dense(p); ok {
			return num(v)
		}
		return "–"
	},
	"sorts": func() []sortColumn { return chipColumns },
	"chosen": func(rows []chipRow, id string) bool {
		return slices.ContainsFunc(rows, func(r chipRow) bool { return r.Chip.ID == id })
	},
	"since": since,
	"state": func(m map[fleet.DeviceState]int, s fleet.DeviceState) int { return m[s] },
	"pct": func(n, total int) string {
		if total == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 1, 64)
	},
	"cls": func(s string) string {
		return "cls-" + strings.NewReplacer(".", "-", " ", "-").Replace(strings.ToLower(s))
	},
}

// thousands writes an integer with thin-space thousands separators: 20 000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u202f')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// num formats a quantity with three significant figures at most two decimals.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return thousands(int(v + 0.5))
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// pflops formats a model's PFLOPS at precision p, or "–" when the catalog
// does not know the rate.
func pflops(m map[fleet.Precision]float64, p fleet.Precision) string {
	v, ok := m[p]
	if !ok {
		return "–"
	}
	return num(v)
}

func ptr(v *float64) string {
	if v == nil {
		return "–"
	}
	return num(*v)
}

// progress is a job's share of its steps done, "–" before it has any.
func progress(j jobs.Job) string {
	if j.TotalSteps <= 0 {
		return "–"
	}
	return strconv.FormatFloat(100*j.StepsDone/j.TotalSteps, 'f', 1, 64) + " %"
}

// since is how long ago t was at now, to the minute.
func since(t, now time.Time) string {
	d := now.Sub(t).Round(time.Minute)
	if d < time.Minute {
		return "< 1m"
	}
	return strings.TrimSuffix(d.String(), "0s")
}

// shortName is a catalog model's display name, or its id when unknown.
func (h *Handler) shortName(id string) string {
	if c, ok := h.led.Catalog().Get(id); ok {
		return c.Name
	}
	return id
}

// sortEventsNewestFirst orders history entries by time, newest first.
func sortEventsNewestFirst(evs []inventory.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.After(evs[j].At) })
}
