// Package postgres is the ledger store on PostgreSQL (pgx v5 with a
// connection pool). Its schema is managed by embedded goose migrations, the
// same versions as internal/store/sqlite in PostgreSQL's dialect, applied
// under an advisory lock so servers starting together do not race. Bulk
// inserts use COPY; state changes lock the device row (SELECT … FOR UPDATE).
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/gomigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of inventory.Store.
type Store struct {
	pool *pgxpool.Pool
	name string
}

var _ inventory.Store = (*Store)(nil)

// DefaultMaxConns is the pool size when the URL does not set pool_max_conns.
const DefaultMaxConns = 16

// Open connects to the database at url (postgres://user@host:port/db?…;
// pgx's pool_* parameters and runtime parameters such as search_path are
// honoured) and brings its schema up to date.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", redact(cfg), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", redact(cfg), err)
	}
	return &Store{pool: pool, name: redact(cfg)}, nil
}

func redact(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(gomigrate.JobSearch("UPDATE jobs SET name_lc = $1, class_lc = $2 WHERE seq = $3")), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// String names the store for logs (without a password).
func (s *Store) String() string { return s.name }

const deviceCols = "serial, model, node, site, pool, state, acquired, cost_usd, warranty_until, labels, updated_at"

var deviceColList = []string{"serial", "model", "node", "site", "pool", "state", "acquired", "cost_usd", "warranty_until", "labels", "updated_at"}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isCheck reports a check violation (23514), e.g. job_devices' trigger
// refusing more than a whole device on one serial.
func isCheck(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514"
}

// Insert implements inventory.DeviceStore: nodes with INSERT … SELECT
// unnest (nodeChunk at a time), devices and events with COPY, all in one
// transaction.
func (s *Store) Insert(ctx context.Context, b inventory.Batch) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for start := 0; start < b.NodeCount(); start += nodeChunk {
			k := min(nodeChunk, b.NodeCount()-start)
			h, site, dom := make([]string, 0, k), make([]string, 0, k), make([]string, 0, k)
			cpu, mem := make([]int64, 0, k), make([]int64, 0, k)
			// A hostname twice in one statement would be a second update
			// of its row, which PostgreSQL refuses: the first one stays,
			// with the figures it lacks from the later ones (as row by row).
			at := make(map[string]int, k)
			for i := range k {
				n := b.Node(start + i)
				if j, dup := at[n.Hostname]; dup {
					if cpu[j] == 0 {
						cpu[j] = n.CPUMilli
					}
					if mem[j] == 0 {
						mem[j] = n.MemoryMiB
					}
					continue
				}
				at[n.Hostname] = len(h)
				h, site, dom = append(h, n.Hostname), append(site, n.Site), append(dom, n.InterconnectDomain)
				cpu, mem = append(cpu, n.CPUMilli), append(mem, n.MemoryMiB)
			}
			// An existing node is left as it is, but for a CPU or memory
			// figure it does not have (0) and the batch gives.
			if _, err := tx.Exec(ctx, `INSERT INTO nodes (hostname, site, interconnect_domain, cpu_milli, memory_mib)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
				ON CONFLICT (hostname) DO UPDATE SET
					cpu_milli = CASE WHEN nodes.cpu_milli = 0 THEN excluded.cpu_milli ELSE nodes.cpu_milli END,
					memory_mib = CASE WHEN nodes.memory_mib = 0 THEN excluded.memory_mib ELSE nodes.memory_mib END
				WHERE (nodes.cpu_milli = 0 AND excluded.cpu_milli <> 0) OR (nodes.memory_mib = 0 AND excluded.memory_mib <> 0)`, h, site, dom, cpu, mem); err != nil {
				return fmt.Errorf("nodes: %w", err)
			}
		}
		// COPY rows are made one at a time into one reused slice, not
		// held for the whole batch (a [][]any of 200,000 devices was
		// ~90 MB with its boxed values).
		row := make([]any, len(deviceColList))
		i := 0
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"devices"}, deviceColList, pgx.CopyFromFunc(func() ([]any, error) {
			if i == b.DeviceCount() {
				return nil, nil
			}
			labels, err := b.LabelsJSON(i)
			if err != nil {
				return nil, err
			}
			var lv any
			if labels != "" {
				lv = labels
			}
			d := b.Device(i)
			i++
			row[0], row[1], row[2], row[3], row[4], row[5] = d.Serial, d.Model, d.Node, d.Site, d.Pool, string(d.State)
			row[6], row[7], row[8], row[9], row[10] = date(d.Acquired), d.CostUSD, date(d.WarrantyUntil), lv, d.UpdatedAt
			return row, nil
		})); err != nil {
			return err
		}
		// The sites devices name, for textSearch.
		if _, err := tx.Exec(ctx, "INSERT INTO device_sites (site) SELECT DISTINCT * FROM unnest($1::text[]) ON CONFLICT (site) DO NOTHING", b.Sites()); err != nil {
			return fmt.Errorf("sites: %w", err)
		}
		if tally := b.Tally(); len(tally) > 0 {
			m, st, n := make([]string, len(tally)), make([]string, len(tally)), make([]int64, len(tally))
			for i, c := range tally {
				m[i], st[i], n[i] = c.Model, string(c.State), int64(c.Devices)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO device_counts (model, state, devices)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
				ON CONFLICT (model, state) DO UPDATE SET devices = device_counts.devices + excluded.devices`, m, st, n); err != nil {
				return fmt.Errorf("counts: %w", err)
			}
		}
		ev, j, n := make([]any, 6), 0, b.EventCount()
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"serial", "from_state", "to_state", "reason", "actor", "at"}, pgx.CopyFromFunc(func() ([]any, error) {
			if j == n {
				return nil, nil
			}
			e := b.Event(j)
			j++
			ev[0], ev[1], ev[2], ev[3], ev[4], ev[5] = e.Serial, string(e.From), string(e.To), e.Reason, e.Actor, e.At
			return ev, nil
		}))
		if err == nil && inventory.GivesNodeFigures(&b) {
			_, err = tx.Exec(ctx, "UPDATE node_figures SET version = version + 1")
		}
		return err
	})
	if isUnique(err) {
		dup, qerr := s.ExistingSerials(ctx, b.Serials())
		if qerr != nil || len(dup) == 0 {
			return fmt.Errorf("%w: %v", fleet.ErrConflict, err)
		}
		return &inventory.DuplicateError{Serials: dup}
	}
	if err == nil && b.DeviceCount() >= analyzeAfter {
		// Fresh statistics after a bulk load: without them the planner
		// guesses and a filtered page can take ten times longer until
		// autovacuum gets round to it.
		_, err = s.pool.Exec(ctx, "ANALYZE devices, events")
		if err != nil {
			err = fmt.Errorf("import committed; analyze: %w", err)
		}
	}
	return err
}

// nodeChunk is how many nodes one INSERT of Insert writes: the issue's
// 200,000-row import names 75,000, whose three arrays and their encoding
// were ~5 MB at once.
const nodeChunk = 10_000

// analyzeAfter is the batch size from which Insert refreshes the planner's
// statistics.
const analyzeAfter = 5000

func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// ExistingSerials implements inventory.DeviceStore.
func (s *Store) ExistingSerials(ctx context.Context, serials []string) ([]string, error) {
	if len(serials) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT serial FROM devices WHERE serial = ANY($1::text[])", serials)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func scanDevice(row pgx.Row) (inventory.Device, error) {
	var (
		d           inventory.Device
		state       string
		acq, warr   *time.Time
		labels      []byte
		updatedAt   time.Time
		costPointer *float64
	)
	if err := row.Scan(&d.Serial, &d.Model, &d.Node, &d.Site, &d.Pool, &state, &acq, &costPointer, &warr, &labels, &updatedAt); err != nil {
		return d, err
	}
	d.State = fleet.DeviceState(state)
	if acq != nil {
		d.Acquired = acq.UTC()
	}
	if warr != nil {
		d.WarrantyUntil = warr.UTC()
	}
	d.CostUSD = costPointer
	if len(labels) > 0 && string(labels) != "null" {
		if err := json.Unmarshal(labels, &d.Labels); err != nil {
			return d, fmt.Errorf("device %s: labels: %w", d.Serial, err)
		}
	}
	d.UpdatedAt = updatedAt.UTC()
	return d, nil
}

// Device implements inventory.DeviceStore.
func (s *Store) Device(ctx context.Context, serial string) (inventory.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE serial = $1", serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("%w: device %q", fleet.ErrNotFound, serial)
	}
	return d, err
}

// Devices implements inventory.DeviceStore.
func (s *Store) Devices(ctx context.Context, q inventory.Filter) ([]inventory.Device, error) {
	text, err := s.textSearch(ctx, q.Q)
	if err != nil {
		return nil, err
	}
	query, args := pageQuery(q, text)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inventory.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// pageQuery is Devices' statement: q's filter, its cursor, its order and
// its limit. The sort columns compare byte-wise (COLLATE "C", as SQLite
// does); model and node are "C" columns since migration 00201, so
// devices_model and devices_node give that order without a sort.
func pageQuery(q inventory.Filter, text textPlan) (string, []any) {
	where, args := deviceWhere(q, text)
	col, desc := inventory.SplitSort(q.Sort)
	col = sortColumn(col)
	cmp, dir := ">", ""
	if desc {
		cmp, dir = "<", " DESC"
	}
	if q.After != "" {
		if col == "" {
			args = append(args, q.After)
			where = append(where, fmt.Sprintf("serial %s $%d", cmp, len(args)))
		} else {
			args = append(args, q.AfterKey, q.After)
			where = append(where, fmt.Sprintf("(%s, serial) %s ($%d, $%d)", col, cmp, len(args)-1, len(args)))
		}
	}
	query := "SELECT " + deviceCols + " FROM devices" + whereClause(where)
	if col != "" {
		query += " ORDER BY " + col + dir + ", serial" + dir
	} else {
		query += " ORDER BY serial" + dir
	}
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	return query, args
}

// CountDevices implements inventory.DeviceStore: COUNT(*) under the
// conditions Devices uses.
func (s *Store) CountDevices(ctx context.Context, q inventory.Filter) (int, error) {
	text, err := s.textSearch(ctx, q.Q)
	if err != nil {
		return 0, err
	}
	where, args := deviceWhere(q, text)
	var n int
	err = s.pool.QueryRow(ctx, "SELECT COUNT(*) FROM devices"+whereClause(where), args...).Scan(&n)
	return n, err
}

// deviceWhere is the conditions of q's filter fields (not its cursor) with
// their arguments, numbered from $1; text is how the search reaches its
// devices (textSearch).
func deviceWhere(q inventory.Filter, text textPlan) (where []string, args []any) {
	add := func(col, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
		}
	}
	add("model", q.Model)
	if len(q.Models) > 0 {
		args = append(args, q.Models)
		where = append(where, fmt.Sprintf("model = ANY($%d)", len(args)))
	}
	add("state", string(q.State))
	if q.Held {
		args = append(args, string(fleet.Retired))
		where = append(where, fmt.Sprintf("state <> $%d", len(args)))
	}
	add("site", q.Site)
	add("pool", q.Pool)
	add("node", q.Node)
	if q.Q != "" {
		args = append(args, q.Q)
		n := len(args)
		if !text.resolved {
			where = append(where, fmt.Sprintf("(strpos(lower(serial), $%d) > 0 OR strpos(lower(node), $%d) > 0 OR strpos(lower(site), $%d) > 0 OR strpos(lower(model), $%d) > 0)", n, n, n, n))
			return where, args
		}
		// The site and model ids that contain the text are known (text):
		// a device matches when it has one of them (the models' devices
		// through devices_model), or when its serial or node contains the
		// text, which the index's expression (devices_text) then contains
		// too (text.index), tested exactly.
		var or []string
		if len(text.models) > 0 {
			args = append(args, text.models)
			or = append(or, fmt.Sprintf("model = ANY($%d)", len(args)))
		}
		if len(text.sites) > 0 {
			args = append(args, text.sites)
			or = append(or, fmt.Sprintf("site = ANY($%d)", len(args)))
		}
		rest := fmt.Sprintf("(strpos(lower(serial), $%d) > 0 OR strpos(lower(node), $%d) > 0)", n, n)
		if text.index {
			args = append(args, "%"+likeEscaper.Replace(q.Q)+"%")
			rest = fmt.Sprintf("(%s LIKE $%d AND %s)", deviceText, len(args), rest)
		}
		where = append(where, "("+strings.Join(append(or, rest), " OR ")+")")
	}
	return where, args
}

// deviceText is the expression of the devices_text index (pg_trgm,
// migration 00180), written the same way so the planner matches it.
const deviceText = `((lower(serial) || ' ' || lower(node)) COLLATE "C")`

// textPlan is how a search reaches its devices. The zero plan tests
// every device's four columns. A resolved plan knows the site and model
// ids that contain the text (sites, models): a device with one of them
// matches, any other only by its serial or node, which devices_text can
// serve (index).
type textPlan struct {
	resolved      bool
	sites, models []string
	index         bool
}

// textSearch plans a search for q (lower-case). The site and model ids
// that contain q, folded as the exact test folds them, are resolved first
// from device_sites and device_counts (a few dozen rows), so that a
// device's site and model are compared, not searched. The serials and
// nodes go through devices_text unless q is in a site id (there is no site
// index: imports are cheaper without it, and the scan is needed anyway);
// whether the indexes or a scan serve it is the planner's choice.
func (s *Store) textSearch(ctx context.Context, q string) (textPlan, error) {
	if q == "" {
		return textPlan{}, nil
	}
	plan := textPlan{resolved: true}
	err := s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT array_agg(site ORDER BY site) FROM device_sites WHERE strpos(lower(site), $1) > 0), '{}'),
		coalesce((SELECT array_agg(DISTINCT model) FROM device_counts WHERE strpos(lower(model), $1) > 0 AND devices > 0), '{}')`, q).Scan(&plan.sites, &plan.models)
	if err != nil {
		return textPlan{}, err
	}
	plan.index = len(plan.sites) == 0
	return plan, nil
}

// likeEscaper makes text a literal inside a LIKE pattern (escape '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// sortColumn is the expression of a device order (inventory.SortKeys, no "-") in
// byte order, as SQLite compares (serial already is COLLATE "C"), or "" for
// serial; anything else is "" too, so no input reaches the SQL text.
func sortColumn(sort string) string {
	switch sort {
	case "model", "state", "site", "node":
		return sort + ` COLLATE "C"`
	}
	return ""
}

// UpdateState implements inventory.DeviceStore: the device row is locked
// FOR UPDATE for the whole read-decide-write.
func (s *Store) UpdateState(ctx context.Context, serial string, decide func(inventory.Device) (inventory.Event, error)) (inventory.Event, error) {
	var ev inventory.Event
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := scanDevice(tx.QueryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE serial = $1 FOR UPDATE", serial))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: device %q", fleet.ErrNotFound, serial)
		}
		if err != nil {
			return err
		}
		ev, err = decide(d)
		if err != nil {
			return err
		}
		ev.Serial = d.Serial
		if _, err := tx.Exec(ctx, "UPDATE devices SET state = $1, updated_at = $2 WHERE serial = $3", string(ev.To), ev.At, d.Serial); err != nil {
			return err
		}
		// Touch the two count rows in state order: every transaction locks
		// count rows in the same order, so concurrent changes cannot deadlock.
		dec := func() error {
			_, err := tx.Exec(ctx, "UPDATE device_counts SET devices = devices - 1 WHERE model = $1 AND state = $2", d.Model, string(d.State))
			return err
		}
		inc := func() error {
			_, err := tx.Exec(ctx, `INSERT INTO device_counts (model, state, devices) VALUES ($1, $2, 1)
				ON CONFLICT (model, state) DO UPDATE SET devices = device_counts.devices + 1`, d.Model, string(ev.To))
			return err
		}
		first, second := dec, inc
		if ev.To < d.State {
			first, second = inc, dec
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "INSERT INTO events (serial, from_state, to_state, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
			ev.Serial, string(ev.From), string(ev.To), ev.Reason, ev.Actor, ev.At).Scan(&ev.Seq)
	})
	if err != nil {
		return inventory.Event{}, err
	}
	ev.At = ev.At.UTC()
	return ev, nil
}

// CountByModelState implements inventory.DeviceStore. It reads the
// device_counts table, which Insert and UpdateState keep current in their
// transactions (migration 00002 built it with a GROUP BY over devices).
func (s *Store) CountByModelState(ctx context.Context) ([]inventory.ModelStateCount, error) {
	rows, err := s.pool.Query(ctx, "SELECT model, state, devices::int FROM device_counts WHERE devices > 0 ORDER BY model, state")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.ModelStateCount, error) {
		var c inventory.ModelStateCount
		var st string
		err := r.Scan(&c.Model, &st, &c.Devices)
		c.State = fleet.DeviceState(st)
		return c, err
	})
}

// CountBySiteModelState implements inventory.DeviceStore with a GROUP BY
// over devices.
func (s *Store) CountBySiteModelState(ctx context.Context) ([]inventory.SiteModelStateCount, error) {
	rows, err := s.pool.Query(ctx, "SELECT site, model, state, COUNT(*)::int FROM devices GROUP BY site, model, state ORDER BY site COLLATE \"C\", model COLLATE \"C\", state COLLATE \"C\"")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.SiteModelStateCount, error) {
		var c inventory.SiteModelStateCount
		var st string
		err := r.Scan(&c.Site, &c.Model, &st, &c.Devices)
		c.State = fleet.DeviceState(st)
		return c, err
	})
}

// Nodes implements inventory.DeviceStore.
func (s *Store) Nodes(ctx context.Context) ([]inventory.Node, error) {
	rows, err := s.pool.Query(ctx, "SELECT hostname, site, interconnect_domain, cpu_milli, memory_mib FROM nodes ORDER BY hostname COLLATE \"C\"")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Node, error) {
		var n inventory.Node
		err := r.Scan(&n.Hostname, &n.Site, &n.InterconnectDomain, &n.CPUMilli, &n.MemoryMiB)
		return n, err
	})
	if out == nil && err == nil {
		out = []inventory.Node{}
	}
	return out, err
}

// ReplaceNodeFigures implements inventory.DeviceStore: one UPDATE … FROM
// unnest, and the version bump when it changed a node, in one transaction.
func (s *Store) ReplaceNodeFigures(ctx context.Context, nodes []inventory.Node) (int, error) {
	h, cpu, mem := make([]string, len(nodes)), make([]int64, len(nodes)), make([]int64, len(nodes))
	for i, n := range nodes {
		h[i], cpu[i], mem[i] = n.Hostname, n.CPUMilli, n.MemoryMiB
	}
	var changed int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE nodes n SET
				cpu_milli = CASE WHEN u.cpu = 0 THEN n.cpu_milli ELSE u.cpu END,
				memory_mib = CASE WHEN u.mem = 0 THEN n.memory_mib ELSE u.mem END
			FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(hostname, cpu, mem)
			WHERE n.hostname = u.hostname AND ((u.cpu <> 0 AND n.cpu_milli <> u.cpu) OR (u.mem <> 0 AND n.memory_mib <> u.mem))`, h, cpu, mem)
		if err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
		if changed = tag.RowsAffected(); changed > 0 {
			_, err = tx.Exec(ctx, "UPDATE node_figures SET version = version + 1")
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(changed), nil
}

// CountEvents implements inventory.EventStore.
func (s *Store) CountEvents(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n)
	return n, err
}

// Events implements inventory.EventStore.
func (s *Store) Events(ctx context.Context, q inventory.EventFilter) ([]inventory.Event, error) {
	query := "SELECT seq, serial, from_state, to_state, reason, actor, at FROM events WHERE seq > $1"
	args := []any{q.AfterSeq}
	if q.Serial != "" {
		args = append(args, q.Serial)
		query += fmt.Sprintf(" AND serial = $%d", len(args))
	}
	if !q.Since.IsZero() {
		args = append(args, q.Since)
		query += fmt.Sprintf(" AND at >= $%d", len(args))
	}
	if !q.Before.IsZero() {
		args = append(args, q.Before)
		query += fmt.Sprintf(" AND at < $%d", len(args))
	}
	query += " ORDER BY seq"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collectEvents(rows)
}

// stateAtTouched are the devices with an event at or after $1, each with
// its last event (the highest seq) before $1 (none when it did not exist
// yet): their state then. Any other device's events are all before $1, so
// its state then is its state now, the To of its last event (Insert and
// UpdateState keep the two equal). events_at finds the touched devices,
// events_serial_last their last events (migration 00200): a day of the
// last months reads its few thousand later events, not the whole history.
const stateAtTouched = `WITH touched AS (SELECT DISTINCT serial FROM events WHERE at >= $1),
	past AS (SELECT t.serial, (SELECT f.seq FROM events f WHERE f.serial = t.serial AND f.at < $1 ORDER BY f.seq DESC LIMIT 1) AS seq FROM touched t)`

// StateAt implements inventory.EventStore: the untouched devices in the
// state now (devices_state, in serial order, with their last event) merged
// with the touched devices that were in it (stateAtTouched).
func (s *Store) StateAt(ctx context.Context, q inventory.StateAtFilter) ([]inventory.Event, error) {
	var limit *int
	if q.Limit > 0 {
		limit = &q.Limit
	}
	rows, err := s.pool.Query(ctx, stateAtTouched+`,
		now AS (SELECT d.serial, (SELECT f.seq FROM events f WHERE f.serial = d.serial ORDER BY f.seq DESC LIMIT 1) AS seq FROM devices d
			WHERE d.state = $2 AND d.serial > $3 AND NOT EXISTS (SELECT 1 FROM touched t WHERE t.serial = d.serial) ORDER BY d.serial LIMIT $4)
		SELECT e.seq, e.serial, e.from_state, e.to_state, e.reason, e.actor, e.at FROM (
			SELECT seq FROM now
			UNION ALL
			SELECT p.seq FROM past p JOIN events e ON e.seq = p.seq WHERE e.to_state = $2 AND p.serial > $3
		) l JOIN events e ON e.seq = l.seq ORDER BY e.serial LIMIT $4`,
		q.Before, string(q.State), q.After, limit)
	if err != nil {
		return nil, err
	}
	return collectEvents(rows)
}

// CountStateAt implements inventory.EventStore: the devices in the state
// now (device_counts), less the touched ones in it now, plus the touched
// ones that were in it.
func (s *Store) CountStateAt(ctx context.Context, q inventory.StateAtFilter) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, stateAtTouched+`
		SELECT (SELECT coalesce(sum(devices), 0) FROM device_counts WHERE state = $2)
			- (SELECT count(*) FROM devices WHERE serial IN (SELECT serial FROM touched) AND state = $2)
			+ (SELECT count(*) FROM past p JOIN events e ON e.seq = p.seq WHERE e.to_state = $2)`,
		q.Before, string(q.State)).Scan(&n)
	return n, err
}

func collectEvents(rows pgx.Rows) ([]inventory.Event, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Event, error) {
		var e inventory.Event
		var from, to string
		err := r.Scan(&e.Seq, &e.Serial, &from, &to, &e.Reason, &e.Actor, &e.At)
		e.From, e.To, e.At = fleet.DeviceState(from), fleet.DeviceState(to), e.At.UTC()
		return e, err
	})
	if out == nil && err == nil {
		out = []inventory.Event{}
	}
	return out, err
}

// CreateToken implements inventory.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t inventory.Token) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO tokens (id, name, role, node, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", t.ID, t.Name, string(t.Role), t.Node, t.Hash, t.CreatedAt, nullTime(t.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("%w: token: %v", fleet.ErrConflict, err)
	}
	return err
}

// CreateFirstToken implements inventory.TokenStore. A transaction-scoped
// advisory lock makes "no tokens yet" and the insert one step across
// concurrent callers.
func (s *Store) CreateFirstToken(ctx context.Context, t inventory.Token) (bool, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('granary.tokens.bootstrap'))"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (id, name, role, node, hash, created_at)
			SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM tokens)`, t.ID, t.Name, string(t.Role), t.Node, t.Hash, t.CreatedAt)
		n = tag.RowsAffected()
		return err
	})
	return n == 1, err
}

const tokenCols = "id, name, role, node, hash, created_at, expires_at, revoked_at, last_used_at"

func scanToken(row pgx.Row) (inventory.Token, error) {
	var t inventory.Token
	var role string
	var expires, revoked, used *time.Time
	err := row.Scan(&t.ID, &t.Name, &role, &t.Node, &t.Hash, &t.CreatedAt, &expires, &revoked, &used)
	t.Role, t.CreatedAt = inventory.Role(role), t.CreatedAt.UTC()
	t.ExpiresAt, t.RevokedAt, t.LastUsedAt = utc(expires), utc(revoked), utc(used)
	return t, err
}

// nullTime is a nullable timestamptz: NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// RevokeToken implements inventory.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2", at, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: token %q", fleet.ErrNotFound, id)
	}
	return nil
}

// TouchToken implements inventory.TokenStore.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error {
	_, err := s.pool.Exec(ctx, "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
		at, id, at.Add(-every))
	return err
}

// TokenByHash implements inventory.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (inventory.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("%w: token", fleet.ErrNotFound)
	}
	return t, err
}

// Tokens implements inventory.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]inventory.Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Token, error) { return scanToken(r) })
	if out == nil && err == nil {
		out = []inventory.Token{}
	}
	return out, err
}

// DeleteToken implements inventory.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM tokens WHERE id = $1", id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: token %q", fleet.ErrNotFound, id)
	}
	return nil
}
