package liveserve

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/web"
)

// pageRows caps each table of the /jobs page.
const pageRows = 200

var page = template.Must(template.New("jobs").Funcs(template.FuncMap{
	"pct": func(j jobs.Job) float64 {
		if j.TotalSteps <= 0 {
			return 0
		}
		return 100 * j.StepsDone / j.TotalSteps
	},
	"ago": func(t time.Time, now time.Time) string { return now.Sub(t).Round(time.Minute).String() },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Granary — jobs</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:2em}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;font-size:90%}th{background:#f4f4f4}code{font-size:85%}</style></head>
<body><h1>Jobs</h1>
<p>Scheduler clock {{.Now.Format "2006-01-02 15:04:05"}} · policy <b>{{.Policy}}</b>{{if .Round.Seq}} · last round at {{.Round.At.Format "15:04:05"}}: {{.Round.Running}} running, {{.Round.Waiting}} waiting, {{.Round.Duration}}{{end}} · <a href="/">fleet</a> · <a href="/api/v1/openapi.json">API</a></p>
<h2>Teams</h2>
<table><tr><th>team</th><th>weight</th><th>running</th><th>waiting</th><th>devices in use</th><th>guaranteed</th><th>borrowed</th><th>lent</th></tr>
{{range .Teams}}<tr><td>{{.Name}}</td><td>{{.Weight}}</td><td>{{.Running}}</td><td>{{.Waiting}}</td><td>{{range $m, $n := .Use}}{{$m}}={{$n}} {{end}}</td><td>{{range $m, $n := .Guarantees}}{{$m}}={{$n}} {{end}}</td><td>{{range $m, $n := .Borrowed}}{{$m}}={{$n}} {{end}}</td><td>{{range $m, $n := .Lent}}{{$m}}={{$n}} {{end}}</td></tr>
{{end}}</table>
<h2>Running ({{len .Running}}{{if .MoreRunning}}+{{end}})</h2>
<table><tr><th>id</th><th>name</th><th>team</th><th>class × gang</th><th>on</th><th>progress</th><th>why</th></tr>
{{range .Running}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Team}}</td><td>{{.Class}} × {{.Gang}}</td><td>{{with .Placement}}{{.Model}} ({{range .Nodes}}{{.}} {{end}}){{end}}</td><td>{{printf "%.1f" (pct .)}} %</td><td><code>{{.Why.Code}}</code> {{.Why.Message}}</td></tr>
{{end}}</table>
<h2>Pending and preempted ({{len .Waiting}}{{if .MoreWaiting}}+{{end}})</h2>
<table><tr><th>id</th><th>name</th><th>team</th><th>class × gang</th><th>state</th><th>waiting for</th><th>why</th></tr>
{{range .Waiting}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Team}}</td><td>{{.Class}} × {{.Gang}}</td><td>{{.State}}</td><td>{{ago .SubmittedAt $.Now}}</td><td><code>{{.Why.Code}}</code> {{.Why.Message}}</td></tr>
{{end}}</table>
</body></html>
`))

type pageData struct {
	Now                      time.Time
	Policy                   string
	Round                    jobs.Round
	Teams                    []jobs.TeamStatus
	Running, Waiting         []jobs.Job
	MoreRunning, MoreWaiting bool
}

// register adds the API routes and the /jobs page (no auth, like /).
func (l *Live) register(r *api.Registrar) {
	api.JobRoutes(l.Service)(r)
	r.API.Adapter().Handle(&huma.Operation{Method: http.MethodGet, Path: "/jobs"}, func(ctx huma.Context) {
		b, err := l.renderPage(ctx)
		if err != nil {
			l.cfg.Log.ErrorContext(ctx.Context(), "jobs page", "err", err)
			ctx.SetStatus(http.StatusInternalServerError)
			ctx.BodyWriter().Write([]byte("internal error\n"))
			return
		}
		ctx.SetHeader("Content-Type", "text/html; charset=utf-8")
		ctx.SetStatus(http.StatusOK)
		ctx.BodyWriter().Write(b)
	})
}

func (l *Live) renderPage(hctx huma.Context) ([]byte, error) {
	ctx := hctx.Context()
	st := l.cfg.Store.(Store)
	d := pageData{Now: l.clock.Now(), Policy: l.Loop.Policy()}
	var err error
	if d.Round, err = st.LastRound(ctx); err != nil {
		return nil, err
	}
	if d.Teams, err = l.Service.Teams(ctx); err != nil {
		return nil, err
	}
	if d.Running, err = st.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}, Limit: pageRows + 1}); err != nil {
		return nil, err
	}
	if d.Waiting, err = st.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Preempted}, Limit: pageRows + 1}); err != nil {
		return nil, err
	}
	if len(d.Running) > pageRows {
		d.Running, d.MoreRunning = d.Running[:pageRows], true
	}
	if len(d.Waiting) > pageRows {
		d.Waiting, d.MoreWaiting = d.Waiting[:pageRows], true
	}
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// JobsOverview implements web.Jobs: the running and waiting jobs for the
// section of the fleet page, with the last round's counts as totals.
func (l *Live) JobsOverview(ctx context.Context, limit int) (web.JobsOverview, error) {
	st := l.cfg.Store.(Store)
	ov := web.JobsOverview{Policy: l.Loop.Policy()}
	round, err := st.LastRound(ctx)
	if err != nil {
		return ov, err
	}
	running, err := st.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}, Limit: limit})
	if err != nil {
		return ov, err
	}
	waiting, err := st.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Preempted}, Limit: limit})
	if err != nil {
		return ov, err
	}
	row := func(j jobs.Job) web.JobRow {
		r := web.JobRow{ID: j.ID, Name: j.Name, Team: j.Team, Class: j.Class, Gang: j.Gang, State: string(j.State),
			Why: fmt.Sprintf("%s — %s", j.Why.Code, j.Why.Message)}
		if j.Placement != nil {
			r.Model = j.Placement.Model
		}
		return r
	}
	for _, j := range running {
		ov.Running = append(ov.Running, row(j))
	}
	for _, j := range waiting {
		ov.Waiting = append(ov.Waiting, row(j))
	}
	ov.RunningTotal, ov.WaitingTotal = max(round.Running, len(ov.Running)), max(round.Waiting, len(ov.Waiting))
	return ov, nil
}

var _ web.Jobs = (*Live)(nil)
