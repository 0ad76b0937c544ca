package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// The jobs store (live scheduling) lives beside the ledger in the same
// file; see migrations/00100_jobs.sql.

var _ jobs.Store = (*Store)(nil)

// InService returns every device in service with its node's site and
// interconnect domain (the scheduler's switch), ordered by serial: the fleet
// the scheduler sees.
func (s *Store) InService(ctx context.Context) ([]jobs.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.serial, d.model, d.node, coalesce(nullif(d.site, ''), n.site, ''), coalesce(n.interconnect_domain, ''),
		coalesce(n.cpu_milli, 0), coalesce(n.memory_mib, 0)
		FROM devices d LEFT JOIN nodes n ON n.hostname = d.node AND d.node <> ''
		WHERE d.state = 'in-service' ORDER BY d.serial`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.Device
	for rows.Next() {
		var d jobs.Device
		if err := rows.Scan(&d.Serial, &d.Model, &d.Node, &d.Site, &d.Switch, &d.NodeCPUMilli, &d.NodeMemoryMiB); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LedgerVersion is the sequence number of the last ledger event plus the
// version of the nodes' CPU and memory figures (migration 00211): every
// device change (insert, state change) appends an event in the same
// transaction, every Insert giving a node a figure bumps the version, and
// both only grow, so an unchanged sum means an unchanged fleet.
func (s *Store) LedgerVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := s.r.QueryRowContext(ctx, "SELECT coalesce((SELECT max(seq) FROM events), 0) + (SELECT version FROM node_figures)").Scan(&v)
	return v.Int64, err
}

const jobCols = "seq, state, spec, submitted_at, finished_at, steps_done, checkpoint_steps, attained_s, restarts, placement, why_code, why"

func scanJob(sc scanner) (jobs.Job, error) {
	var (
		j         jobs.Job
		seq       int64
		state     string
		spec      string
		sub       int64
		fin       sql.NullInt64
		placement sql.NullString
		code      string
	)
	if err := sc.Scan(&seq, &state, &spec, &sub, &fin, &j.StepsDone, &j.CheckpointSteps, &j.AttainedSeconds, &j.Restarts, &placement, &code, &j.Why.Message); err != nil {
		return j, err
	}
	j.ID = jobs.FormatID(seq)
	j.State = jobs.State(state)
	j.Why.Code = jobs.Code(code)
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return j, fmt.Errorf("job %s: spec: %w", j.ID, err)
	}
	j.SubmittedAt = time.UnixMicro(sub).UTC()
	if fin.Valid {
		j.FinishedAt = time.UnixMicro(fin.Int64).UTC()
	}
	if placement.Valid {
		j.Placement = new(jobs.Placement)
		if err := json.Unmarshal([]byte(placement.String), j.Placement); err != nil {
			return j, fmt.Errorf("job %s: placement: %w", j.ID, err)
		}
	}
	return j, nil
}

func jobArgs(j *jobs.Job) (spec string, fin, placement any, err error) {
	b, err := json.Marshal(j.Spec)
	if err != nil {
		return "", nil, nil, err
	}
	if !j.FinishedAt.IsZero() {
		fin = j.FinishedAt.UnixMicro()
	}
	if j.Placement != nil {
		p, err := json.Marshal(j.Placement)
		if err != nil {
			return "", nil, nil, err
		}
		placement = string(p)
	}
	return string(b), fin, placement, nil
}

// CreateJob implements jobs.Store.
func (s *Store) CreateJob(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return jobs.Job{}, err
	}
	defer tx.Rollback()
	spec, fin, placement, err := jobArgs(&j)
	if err != nil {
		return jobs.Job{}, err
	}
	var seq int64
	name, class := jobs.Folded(&j.Spec)
	err = tx.QueryRowContext(ctx, `INSERT INTO jobs (team, state, spec, submitted_at, finished_at, steps_done, checkpoint_steps, attained_s, restarts, placement, why_code, why, name_lc, class_lc, device_milli)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		j.Team, string(j.State), spec, j.SubmittedAt.UnixMicro(), fin, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts, placement, string(j.Why.Code), j.Why.Message, name, class, j.DeviceMilli).Scan(&seq)
	if err != nil {
		return jobs.Job{}, err
	}
	j.ID = jobs.FormatID(seq)
	if err := insertJobEvents(ctx, tx, seq, j.History); err != nil {
		return jobs.Job{}, err
	}
	if j.Placement != nil {
		if err := holdDevices(ctx, tx, seq, j.Placement); err != nil {
			return jobs.Job{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return jobs.Job{}, err
	}
	return j, nil
}

func insertJobEvents(ctx context.Context, tx *sql.Tx, seq int64, evs []jobs.Event) error {
	for _, e := range evs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO job_events (job, at, kind, message) VALUES (?, ?, ?, ?)", seq, e.At.UnixMicro(), e.Kind, e.Message); err != nil {
			return err
		}
	}
	return nil
}

// holdDevices writes the devices of pl (nil: none) as held by job seq, each
// with the placement's share; a device that would hold more than a whole
// device (migration 00190's trigger) is a fleet.ErrConflict naming a holder.
func holdDevices(ctx context.Context, tx *sql.Tx, seq int64, pl *jobs.Placement) error {
	if pl == nil {
		return nil
	}
	for _, d := range pl.Devices {
		if _, err := tx.ExecContext(ctx, "INSERT INTO job_devices (serial, job, milli) VALUES (?, ?, ?)", d, seq, pl.DeviceMilli()); err != nil {
			if strings.Contains(err.Error(), "constraint failed") || strings.Contains(err.Error(), "PRIMARY KEY") {
				var holder int64
				_ = tx.QueryRowContext(ctx, "SELECT job FROM job_devices WHERE serial = ? AND job <> ? ORDER BY job LIMIT 1", d, seq).Scan(&holder)
				return fmt.Errorf("%w: device %s is held by %s, cannot place %s on it", fleet.ErrConflict, d, jobs.FormatID(holder), jobs.FormatID(seq))
			}
			return err
		}
	}
	return nil
}

// Job implements jobs.Store.
func (s *Store) Job(ctx context.Context, id string) (jobs.Job, error) {
	seq, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, err
	}
	j, err := scanJob(s.r.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE seq = ?", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Job{}, fmt.Errorf("%w: no job %q", fleet.ErrNotFound, id)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT at, kind, message FROM job_events WHERE job = ? ORDER BY seq", seq)
	if err != nil {
		return jobs.Job{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  jobs.Event
			at int64
		)
		if err := rows.Scan(&at, &e.Kind, &e.Message); err != nil {
			return jobs.Job{}, err
		}
		e.At = time.UnixMicro(at).UTC()
		j.History = append(j.History, e)
	}
	return j, rows.Err()
}

// jobsWhere is the WHERE clause (with its leading space, or empty) and
// arguments selecting the jobs f matches, ignoring Limit and Offset.
func jobsWhere(f jobs.Filter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Team != "" {
		where = append(where, "team = ?")
		args = append(args, f.Team)
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, st := range f.States {
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Before > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.Before)
	}
	if !f.FinishedSince.IsZero() {
		where = append(where, "(finished_at IS NULL OR finished_at >= ?)")
		args = append(args, f.FinishedSince.UnixMicro())
	}
	if f.Text != "" {
		// The ID is 'job-' || seq; name_lc and class_lc are folded by Go
		// (jobs.Folded), the needle here.
		needle := strings.ToLower(f.Text)
		where = append(where, "(instr('job-' || seq, ?) > 0 OR instr(name_lc, ?) > 0 OR instr(class_lc, ?) > 0)")
		args = append(args, needle, needle, needle)
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
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM jobs"+where, args...).Scan(&n)
	return n, err
}

// Jobs implements jobs.Store.
func (s *Store) Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error) {
	where, args := jobsWhere(f)
	q := "SELECT " + jobCols + " FROM jobs" + where
	q += " ORDER BY seq"
	if f.Newest {
		q += " DESC"
	}
	switch {
	case f.Limit > 0:
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	case f.Offset > 0:
		q += " LIMIT -1" // SQLite takes OFFSET only after a LIMIT
	}
	if f.Offset > 0 {
		q += fmt.Sprintf(" OFFSET %d", f.Offset)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// UpdateJob implements jobs.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, decide func(jobs.Job) (jobs.Job, []jobs.Event, error)) (jobs.Job, error) {
	seq, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, err
	}
	// The writer connection is the only one: reading through it inside the
	// transaction serializes with every other write.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return jobs.Job{}, err
	}
	defer tx.Rollback()
	cur, err := scanJob(tx.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE seq = ?", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Job{}, fmt.Errorf("%w: no job %q", fleet.ErrNotFound, id)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	nj, evs, err := decide(cur)
	if err != nil {
		return jobs.Job{}, err
	}
	nj.ID = id
	if _, err := updateJobRow(ctx, tx, seq, &nj); err != nil {
		return jobs.Job{}, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM job_devices WHERE job = ?", seq); err != nil {
		return jobs.Job{}, err
	}
	if nj.Placement != nil {
		if err := holdDevices(ctx, tx, seq, nj.Placement); err != nil {
			return jobs.Job{}, err
		}
	}
	if err := insertJobEvents(ctx, tx, seq, evs); err != nil {
		return jobs.Job{}, err
	}
	if err := tx.Commit(); err != nil {
		return jobs.Job{}, err
	}
	return s.Job(ctx, id)
}

// updateJobRow writes every mutable column of job seq and reports whether
// the row exists.
func updateJobRow(ctx context.Context, tx *sql.Tx, seq int64, j *jobs.Job) (bool, error) {
	spec, fin, placement, err := jobArgs(j)
	if err != nil {
		return false, err
	}
	name, class := jobs.Folded(&j.Spec)
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET team = ?, state = ?, spec = ?, finished_at = ?, steps_done = ?, checkpoint_steps = ?,
		attained_s = ?, restarts = ?, placement = ?, why_code = ?, why = ?, name_lc = ?, class_lc = ?, device_milli = ? WHERE seq = ?`,
		j.Team, string(j.State), spec, fin, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts, placement, string(j.Why.Code), j.Why.Message, name, class, j.DeviceMilli, seq)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SaveRound implements jobs.Store.
func (s *Store) SaveRound(ctx context.Context, r jobs.Round, us []jobs.Update) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upd, err := tx.PrepareContext(ctx, `UPDATE jobs SET state = ?, finished_at = ?, steps_done = ?, checkpoint_steps = ?,
		attained_s = ?, restarts = ?, placement = ?, why_code = ?, why = ? WHERE seq = ? AND state <> 'cancelled'`)
	if err != nil {
		return err
	}
	defer upd.Close()
	release, err := tx.PrepareContext(ctx, "DELETE FROM job_devices WHERE job = ?")
	if err != nil {
		return err
	}
	defer release.Close()
	seqs := make([]int64, len(us))
	applied := make([]bool, len(us))
	// Updates that only move a running job's counters (the bulk of a round)
	// go in one statement through a JSON array.
	var progress [][5]any
	for i := range us {
		j := &us[i].Job
		seq, err := jobs.ParseID(j.ID)
		if err != nil {
			return err
		}
		seqs[i] = seq
		if us[i].Progress && !us[i].Moved && len(us[i].Events) == 0 {
			progress = append(progress, [5]any{seq, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts})
			applied[i] = true // a cancelled job is left alone by the WHERE below
			continue
		}
		_, fin, placement, err := jobArgs(j)
		if err != nil {
			return err
		}
		res, err := upd.ExecContext(ctx, string(j.State), fin, j.StepsDone, j.CheckpointSteps, j.AttainedSeconds, j.Restarts, placement, string(j.Why.Code), j.Why.Message, seq)
		if err != nil {
			return fmt.Errorf("job %s: %w", j.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		applied[i] = n == 1
		if applied[i] && us[i].Moved {
			if _, err := release.ExecContext(ctx, seq); err != nil {
				return err
			}
		}
	}
	if len(progress) > 0 {
		js, err := json.Marshal(progress)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET steps_done = p.value ->> 1, checkpoint_steps = p.value ->> 2,
			attained_s = p.value ->> 3, restarts = p.value ->> 4
			FROM json_each(?) AS p WHERE jobs.seq = p.value ->> 0 AND +jobs.state = 'running'`, string(js)); err != nil {
			return fmt.Errorf("progress: %w", err)
		}
	}
	// Hold devices after every release, so swaps within a round work.
	hold, err := tx.PrepareContext(ctx, "INSERT INTO job_devices (serial, job, milli) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	defer hold.Close()
	ev, err := tx.PrepareContext(ctx, "INSERT INTO job_events (job, at, kind, message) VALUES (?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ev.Close()
	for i := range us {
		if !applied[i] {
			continue
		}
		if pl := us[i].Job.Placement; pl != nil && us[i].Moved {
			for _, d := range pl.Devices {
				if _, err := hold.ExecContext(ctx, d, seqs[i], pl.DeviceMilli()); err != nil {
					if strings.Contains(err.Error(), "constraint") {
						return fmt.Errorf("%w: device %s placed twice (job %s): %v", fleet.ErrConflict, d, us[i].Job.ID, err)
					}
					return err
				}
			}
		}
		for _, e := range us[i].Events {
			if _, err := ev.ExecContext(ctx, seqs[i], e.At.UnixMicro(), e.Kind, e.Message); err != nil {
				return err
			}
		}
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO sched_rounds (at, policy, duration_ns, running, waiting) VALUES (?, ?, ?, ?, ?)",
		r.At.UnixMicro(), r.Policy, int64(r.Duration), r.Running, r.Waiting)
	if err != nil {
		return err
	}
	if r.State != nil {
		seq, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sched_state (id, round_seq, state) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET round_seq = excluded.round_seq, state = excluded.state`, seq, r.State); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// LastRound implements jobs.Store.
func (s *Store) LastRound(ctx context.Context) (jobs.Round, error) {
	var (
		r  jobs.Round
		at int64
		d  int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT r.seq, r.at, r.policy, r.duration_ns, r.running, r.waiting, st.state
		FROM sched_rounds r LEFT JOIN sched_state st ON st.round_seq = r.seq ORDER BY r.seq DESC LIMIT 1`).
		Scan(&r.Seq, &at, &r.Policy, &d, &r.Running, &r.Waiting, &r.State)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Round{}, nil
	}
	if err != nil {
		return r, err
	}
	r.At, r.Duration = time.UnixMicro(at).UTC(), time.Duration(d)
	return r, nil
}

// TeamLoad implements jobs.Store: one GROUP BY over the active jobs
// (index jobs_state), reading only team, state and the placement's model
// and device count; no spec is decoded.
func (s *Store) TeamLoad(ctx context.Context) ([]jobs.TeamLoad, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT team, run, model, count(*), coalesce(sum(n), 0) FROM (
			SELECT team, state = 'running' AND placement IS NOT NULL AS run,
				CASE WHEN state = 'running' AND placement IS NOT NULL THEN coalesce(json_extract(placement, '$.model'), '') ELSE '' END AS model,
				CASE WHEN state = 'running' AND placement IS NOT NULL THEN json_array_length(placement, '$.devices') END AS n
			FROM jobs WHERE state IN ('pending', 'running', 'preempted'))
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
			count, n    int
		)
		if err := rows.Scan(&team, &run, &model, &count, &n); err != nil {
			return nil, err
		}
		tl.Add(team, run, model, count, n)
	}
	return tl.Loads(), rows.Err()
}

// Teams implements jobs.Store.
func (s *Store) Teams(ctx context.Context) ([]jobs.Team, error) {
	return readTeams(ctx, s.r)
}

func readTeams(ctx context.Context, q queryer) ([]jobs.Team, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, weight, guarantees FROM teams ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.Team
	for rows.Next() {
		var (
			t jobs.Team
			g string
		)
		if err := rows.Scan(&t.Name, &t.Weight, &g); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(g), &t.Guarantees); err != nil {
			return nil, fmt.Errorf("team %s: guarantees: %w", t.Name, err)
		}
		if len(t.Guarantees) == 0 {
			t.Guarantees = nil
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutTeam implements jobs.Store.
func (s *Store) PutTeam(ctx context.Context, t jobs.Team, check func([]jobs.Team) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	all, err := readTeams(ctx, tx)
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
	g, err := json.Marshal(t.Guarantees)
	if err != nil {
		return err
	}
	if t.Guarantees == nil {
		g = []byte("{}")
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO teams (name, weight, guarantees) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET weight = excluded.weight, guarantees = excluded.guarantees",
		t.Name, t.Weight, string(g)); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteTeam implements jobs.Store.
func (s *Store) DeleteTeam(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM teams WHERE name = ?", name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no team %q", fleet.ErrNotFound, name)
	}
	return nil
}
