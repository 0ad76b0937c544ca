package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// The jobs store (live scheduling); see migrations/00100_jobs.sql.

var _ jobs.Store = (*Store)(nil)

// InService returns every device in service with its node's site and
// interconnect domain (the scheduler's switch), ordered by serial.
func (s *Store) InService(ctx context.Context) ([]jobs.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.serial, d.model, d.node, coalesce(nullif(d.site, ''), n.site, ''), coalesce(n.interconnect_domain, ''),
		coalesce(n.cpu_milli, 0), coalesce(n.memory_mib, 0)
		FROM devices d LEFT JOIN nodes n ON n.hostname = d.node AND d.node <> ''
		WHERE d.state = 'in-service' ORDER BY d.serial`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Device, error) {
		var d jobs.Device
		err := r.Scan(&d.Serial, &d.Model, &d.Node, &d.Site, &d.Switch, &d.NodeCPUMilli, &d.NodeMemoryMiB)
		return d, err
	})
}

// LedgerVersion is the sequence number of the last ledger event plus the
// version of the nodes' CPU and memory figures (migration 00211; see the
// SQLite store's).
func (s *Store) LedgerVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce((SELECT max(seq) FROM events), 0) + (SELECT version FROM node_figures)").Scan(&v)
	return v, err
}

const pgJobCols = "seq, state, spec, submitted_at, finished_at, steps_done, checkpoint_steps, attained_s, restarts, placement, why_code, why"

func pgScanJob(row pgx.Row) (jobs.Job, error) {
	var (
		j         jobs.Job
		seq       int64
		state     string
		spec      string
		sub       int64
		fin       *int64
		placement *string
		code      string
	)
	if err := row.Scan(&seq, &state, &spec, &sub, &fin, &j.StepsDone, &j.CheckpointSteps, &j.AttainedSeconds, &j.Restarts, &placement, &code, &j.Why.Message); err != nil {
		return j, err
	}
	j.ID = jobs.FormatID(seq)
	j.State = jobs.State(state)
	j.Why.Code = jobs.Code(code)
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return j, fmt.Errorf("job %s: spec: %w", j.ID, err)
	}
	j.SubmittedAt = time.UnixMicro(sub).UTC()
	if fin != nil {
		j.FinishedAt = time.UnixMicro(*fin).UTC()
	}
	if placement != nil {
		j.Placement = new(jobs.Placement)
		if err := json.Unmarshal([]byte(*placement), j.Placement); err != nil {
			return j, fmt.Errorf("job %s: placement: %w", j.ID, err)
		}
	}
	return j, nil
}

func pgJobArgs(j *jobs.Job) (spec string, fin *int64, placement *string, err error) {
	b, err := json.Marshal(j.Spec)
	if err != nil {
		return "", nil, nil, err
	}
	if !j.FinishedAt.IsZero() {
		v := j.FinishedAt.UnixMicro()
		fin = &v
	}
	if j.Placement != nil {
		p, err := json.Marshal(j.Placement)
		if err != nil {
			return "", nil, nil, err
		}
		ps := string(p)
		placement = &ps
	}
	return string(b), fin, placement, nil
}

func pgEvents(ctx context.Context, tx pgx.Tx, seq int64, evs []jobs.Event) error {
	if len(evs) == 0 {
		return nil
	}
	at := make([]int64, len(evs))
	kind := make([]string, len(evs))
	msg := make([]string, len(evs))
	for i, e := range evs {
		at[i], kind[i], msg[i] = e.At.UnixMicro(), e.Kind, e.Message
	}
	_, err := tx.Exec(ctx, "INSERT INTO job_events (job, at, kind, message) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])", seq, at, kind, msg)
	return err
}

// pgHold writes serials[i] as held by job seqs[i], milli[i] of it; a device
// that would hold more than a whole device (migration 00190's trigger) is a
// fleet.ErrConflict.
func pgHold(ctx context.Context, tx pgx.Tx, serials []string, seqs, milli []int64) error {
	if len(serials) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "INSERT INTO job_devices (serial, job, milli) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])", serials, seqs, milli)
	if isUnique(err) || isCheck(err) {
		return fmt.Errorf("%w: a device would be placed twice: %v", fleet.ErrConflict, err)
	}
	return err
}

func repeat(seq int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = seq
	}
	return out
}

// CreateJob implements jobs.Store.
func (s *Store) CreateJob(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	spec, fin, placement, err := pgJobArgs(&j)
	if err != nil {
		return jobs.Job{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var seq int64
		name, class := jobs.Folded(&j.Spec)
		if err := tx.QueryRow(ctx, `INSERT INTO jobs (team, state, spec, submitted_at, finished_at, steps_done, checkpoint_steps, attained_s, restarts, placement, why_code, why, name_lc, class_lc, device_milli)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq`,
			j.Team, string(j.State), spec, j.SubmittedAt.UnixMicro(), fin, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts, placement, string(j.Why.Code), j.Why.Message, name, class, j.DeviceMilli).Scan(&seq); err != nil {
			return err
		}
		j.ID = jobs.FormatID(seq)
		if err := pgEvents(ctx, tx, seq, j.History); err != nil {
			return err
		}
		if j.Placement != nil {
			return pgHold(ctx, tx, j.Placement.Devices, repeat(seq, len(j.Placement.Devices)), repeat(j.Placement.DeviceMilli(), len(j.Placement.Devices)))
		}
		return nil
	})
	return j, err
}

// Job implements jobs.Store.
func (s *Store) Job(ctx context.Context, id string) (jobs.Job, error) {
	seq, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, err
	}
	j, err := pgScanJob(s.pool.QueryRow(ctx, "SELECT "+pgJobCols+" FROM jobs WHERE seq = $1", seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.Job{}, fmt.Errorf("%w: no job %q", fleet.ErrNotFound, id)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	rows, err := s.pool.Query(ctx, "SELECT at, kind, message FROM job_events WHERE job = $1 ORDER BY seq", seq)
	if err != nil {
		return jobs.Job{}, err
	}
	j.History, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Event, error) {
		var (
			e  jobs.Event
			at int64
		)
		err := r.Scan(&at, &e.Kind, &e.Message)
		e.At = time.UnixMicro(at).UTC()
		return e, err
	})
	if len(j.History) == 0 {
		j.History = nil
	}
	return j, err
}

// jobsWhere is the WHERE clause (with its leading space, or empty) and
// arguments selecting the jobs f matches, ignoring Limit and Offset.
func jobsWhere(f jobs.Filter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Team != "" {
		args = append(args, f.Team)
		where = append(where, fmt.Sprintf("team = $%d", len(args)))
	}
	if len(f.States) > 0 {
		st := make([]string, len(f.States))
		for i, v := range f.States {
			st[i] = string(v)
		}
		args = append(args, st)
		where = append(where, fmt.Sprintf("state = ANY($%d)", len(args)))
	}
	if f.Before > 0 {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf("seq < $%d", len(args)))
	}
	if !f.FinishedSince.IsZero() {
		args = append(args, f.FinishedSince.UnixMicro())
		where = append(where, fmt.Sprintf("(finished_at IS NULL OR finished_at >= $%d)", len(args)))
	}
	if f.Text != "" {
		// The ID is 'job-' || seq; name_lc and class_lc are folded by Go
		// (jobs.Folded), the needle here.
		args = append(args, strings.ToLower(f.Text))
		n := len(args)
		where = append(where, fmt.Sprintf("(strpos('job-' || seq, $%d) > 0 OR strpos(name_lc, $%d) > 0 OR strpos(class_lc, $%d) > 0)", n, n, n))
	}
	if f.Shared {
		where = append(where, "device_milli > 0")
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// CountJobs implements jobs.Store.
func (s *Store) CountJobs(ctx context.Context, f jobs.Filter) (int, error) {
	where, args := jobsWhere(f)
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM jobs"+where, args...).Scan(&n)
	return n, err
}

// Jobs implements jobs.Store.
func (s *Store) Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error) {
	where, args := jobsWhere(f)
	q := "SELECT " + pgJobCols + " FROM jobs" + where
	q += " ORDER BY seq"
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	if f.Offset > 0 {
		q += fmt.Sprintf(" OFFSET %d", f.Offset)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Job, error) { return pgScanJob(r) })
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

const pgUpdateJob = `UPDATE jobs SET team = $1, state = $2, spec = $3, finished_at = $4, steps_done = $5, checkpoint_steps = $6,
	attained_s = $7, restarts = $8, placement = $9, why_code = $10, why = $11, name_lc = $12, class_lc = $13, device_milli = $15 WHERE seq = $14`

// UpdateJob implements jobs.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, decide func(jobs.Job) (jobs.Job, []jobs.Event, error)) (jobs.Job, error) {
	seq, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := pgScanJob(tx.QueryRow(ctx, "SELECT "+pgJobCols+" FROM jobs WHERE seq = $1 FOR UPDATE", seq))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no job %q", fleet.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		nj, evs, err := decide(cur)
		if err != nil {
			return err
		}
		spec, fin, placement, err := pgJobArgs(&nj)
		if err != nil {
			return err
		}
		name, class := jobs.Folded(&nj.Spec)
		if _, err := tx.Exec(ctx, pgUpdateJob, nj.Team, string(nj.State), spec, fin, nj.StepsDone, nj.CheckpointSteps, nj.AttainedSeconds, nj.Restarts, placement, string(nj.Why.Code), nj.Why.Message, name, class, seq, nj.DeviceMilli); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM job_devices WHERE job = $1", seq); err != nil {
			return err
		}
		if nj.Placement != nil {
			if err := pgHold(ctx, tx, nj.Placement.Devices, repeat(seq, len(nj.Placement.Devices)), repeat(nj.Placement.DeviceMilli(), len(nj.Placement.Devices))); err != nil {
				return err
			}
		}
		return pgEvents(ctx, tx, seq, evs)
	})
	if err != nil {
		return jobs.Job{}, err
	}
	return s.Job(ctx, id)
}

// SaveRound implements jobs.Store.
func (s *Store) SaveRound(ctx context.Context, r jobs.Round, us []jobs.Update) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		seqs := make([]int64, len(us))
		for i := range us {
			seq, err := jobs.ParseID(us[i].Job.ID)
			if err != nil {
				return err
			}
			seqs[i] = seq
		}
		// Lock the rows (a concurrent cancel waits or is seen) and skip
		// cancelled jobs.
		cancelled := map[int64]bool{}
		if len(seqs) > 0 {
			rows, err := tx.Query(ctx, "SELECT seq, state FROM jobs WHERE seq = ANY($1) ORDER BY seq FOR UPDATE", seqs)
			if err != nil {
				return err
			}
			type st struct {
				seq   int64
				state string
			}
			sts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (st, error) {
				var v st
				err := r.Scan(&v.seq, &v.state)
				return v, err
			})
			if err != nil {
				return err
			}
			for _, v := range sts {
				if v.state == string(jobs.Cancelled) {
					cancelled[v.seq] = true
				}
			}
		}
		var (
			b                        pgx.Batch
			pSeq, pRestarts          []int64
			pSteps, pCkpt, pAttained []float64
			release                  []int64
			holdSerials              []string
			holdSeqs, evJob, evAt    []int64
			holdMilli                []int64
			evKind, evMsg            []string
		)
		for i := range us {
			if cancelled[seqs[i]] {
				continue
			}
			j := &us[i].Job
			if us[i].Progress && !us[i].Moved && len(us[i].Events) == 0 {
				pSeq = append(pSeq, seqs[i])
				pSteps, pCkpt, pAttained = append(pSteps, j.StepsDone), append(pCkpt, j.CheckpointSteps), append(pAttained, j.AttainedSeconds)
				pRestarts = append(pRestarts, int64(j.Restarts))
				continue
			}
			spec, fin, placement, err := pgJobArgs(j)
			if err != nil {
				return err
			}
			name, class := jobs.Folded(&j.Spec)
			b.Queue(pgUpdateJob, j.Team, string(j.State), spec, fin, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts, placement, string(j.Why.Code), j.Why.Message, name, class, seqs[i], j.DeviceMilli)
			if us[i].Moved {
				release = append(release, seqs[i])
				if j.Placement != nil {
					holdSerials = append(holdSerials, j.Placement.Devices...)
					holdSeqs = append(holdSeqs, repeat(seqs[i], len(j.Placement.Devices))...)
					holdMilli = append(holdMilli, repeat(j.Placement.DeviceMilli(), len(j.Placement.Devices))...)
				}
			}
			for _, e := range us[i].Events {
				evJob, evAt, evKind, evMsg = append(evJob, seqs[i]), append(evAt, e.At.UnixMicro()), append(evKind, e.Kind), append(evMsg, e.Message)
			}
		}
		if len(pSeq) > 0 {
			b.Queue(`UPDATE jobs SET steps_done = p.s, checkpoint_steps = p.c, attained_s = p.a, restarts = p.r
				FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::bigint[]) AS p(seq, s, c, a, r)
				WHERE jobs.seq = p.seq AND jobs.state = 'running'`, pSeq, pSteps, pCkpt, pAttained, pRestarts)
		}
		if len(release) > 0 {
			b.Queue("DELETE FROM job_devices WHERE job = ANY($1)", release)
		}
		if len(evJob) > 0 {
			b.Queue("INSERT INTO job_events (job, at, kind, message) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])", evJob, evAt, evKind, evMsg)
		}
		if r.State == nil {
			b.Queue("INSERT INTO sched_rounds (at, policy, duration_ns, running, waiting) VALUES ($1, $2, $3, $4, $5)",
				r.At.UnixMicro(), r.Policy, int64(r.Duration), r.Running, r.Waiting)
		} else {
			b.Queue(`WITH r AS (INSERT INTO sched_rounds (at, policy, duration_ns, running, waiting) VALUES ($1, $2, $3, $4, $5) RETURNING seq)
				INSERT INTO sched_state (id, round_seq, state) SELECT 1, seq, $6 FROM r
				ON CONFLICT (id) DO UPDATE SET round_seq = EXCLUDED.round_seq, state = EXCLUDED.state`,
				r.At.UnixMicro(), r.Policy, int64(r.Duration), r.Running, r.Waiting, r.State)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		return pgHold(ctx, tx, holdSerials, holdSeqs, holdMilli)
	})
}

// LastRound implements jobs.Store.
func (s *Store) LastRound(ctx context.Context) (jobs.Round, error) {
	var (
		r     jobs.Round
		at, d int64
	)
	err := s.pool.QueryRow(ctx, `SELECT r.seq, r.at, r.policy, r.duration_ns, r.running, r.waiting, st.state
		FROM sched_rounds r LEFT JOIN sched_state st ON st.round_seq = r.seq ORDER BY r.seq DESC LIMIT 1`).
		Scan(&r.Seq, &at, &r.Policy, &d, &r.Running, &r.Waiting, &r.State)
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.Round{}, nil
	}
	if err != nil {
		return r, err
	}
	r.At, r.Duration = time.UnixMicro(at).UTC(), time.Duration(d)
	return r, nil
}

type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgTeams(ctx context.Context, q pgQuerier) ([]jobs.Team, error) {
	rows, err := q.Query(ctx, "SELECT name, weight, guarantees FROM teams ORDER BY name COLLATE \"C\"")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Team, error) {
		var (
			t jobs.Team
			g string
		)
		if err := r.Scan(&t.Name, &t.Weight, &g); err != nil {
			return t, err
		}
		if err := json.Unmarshal([]byte(g), &t.Guarantees); err != nil {
			return t, fmt.Errorf("team %s: guarantees: %w", t.Name, err)
		}
		if len(t.Guarantees) == 0 {
			t.Guarantees = nil
		}
		return t, nil
	})
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// TeamLoad implements jobs.Store: one GROUP BY over the active jobs
// (index jobs_state), reading only team, state and the placement's model
// and device count (placement is JSON text, cast to jsonb); no spec is
// decoded.
func (s *Store) TeamLoad(ctx context.Context) ([]jobs.TeamLoad, error) {
	rows, err := s.pool.Query(ctx, `SELECT team, run, model, count(*), coalesce(sum(n), 0) FROM (
			SELECT team, p IS NOT NULL AS run,
				coalesce(p->>'model', '') AS model,
				CASE WHEN jsonb_typeof(p->'devices') = 'array' THEN jsonb_array_length(p->'devices') ELSE 0 END AS n
			FROM (SELECT team, CASE WHEN state = 'running' THEN placement::jsonb END AS p
				FROM jobs WHERE state IN ('pending', 'running', 'preempted')) a) b
		GROUP BY team, run, model`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tl jobs.TeamLoads
	for rows.Next() {
		var (
			team, model string
			run         bool
			count, n    int64
		)
		if err := rows.Scan(&team, &run, &model, &count, &n); err != nil {
			return nil, err
		}
		tl.Add(team, run, model, int(count), int(n))
	}
	return tl.Loads(), rows.Err()
}

// Teams implements jobs.Store.
func (s *Store) Teams(ctx context.Context) ([]jobs.Team, error) { return pgTeams(ctx, s.pool) }

// PutTeam implements jobs.Store.
func (s *Store) PutTeam(ctx context.Context, t jobs.Team, check func([]jobs.Team) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE teams IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		all, err := pgTeams(ctx, tx)
		if err != nil {
			return err
		}
		replaced := false
		for i := range all {
			if all[i].Name == t.Name {
				all[i], replaced = t, true
			}
		}
		if !replaced {
			all = append(all, t)
			for i := len(all) - 1; i > 0 && all[i].Name < all[i-1].Name; i-- {
				all[i], all[i-1] = all[i-1], all[i]
			}
		}
		if check != nil {
			if err := check(all); err != nil {
				return err
			}
		}
		g := []byte("{}")
		if t.Guarantees != nil {
			if g, err = json.Marshal(t.Guarantees); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO teams (name, weight, guarantees) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET weight = excluded.weight, guarantees = excluded.guarantees",
			t.Name, t.Weight, string(g))
		return err
	})
}

// DeleteTeam implements jobs.Store.
func (s *Store) DeleteTeam(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM teams WHERE name = $1", name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no team %q", fleet.ErrNotFound, name)
	}
	return nil
}
