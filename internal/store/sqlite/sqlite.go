// Package sqlite is the default ledger store: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode with a busy timeout, schema managed by
// embedded goose migrations. All writes go through one connection, so
// writers queue in the process instead of failing with SQLITE_BUSY; reads use
// a separate pool and run concurrently with the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/gomigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of inventory.Store.
type Store struct {
	w    *sql.DB // exactly one connection: the single writer
	r    *sql.DB // readers
	path string
}

var _ inventory.Store = (*Store)(nil)

// BusyTimeout is how long a connection waits on a lock held by another
// process before failing.
const BusyTimeout = 10 * time.Second

// Open opens (creating if needed) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools (writer, readers) need one shared file; an in-memory
		// database would be two different databases.
		return nil, fmt.Errorf("sqlite: %q: want a file path (tests: filepath.Join(t.TempDir(), \"x.db\"))", path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: path %q may not contain '?' or '#'", path)
	}
	// The ledger holds token hashes and the fleet: create the file (and so
	// its -wal and -shm, which SQLite gives the database's mode) readable
	// by its owner only.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("sqlite: creating %s: %w", path, err)
	}
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=cache_size(-65536)", BusyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &Store{w: w, r: r, path: path}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(gomigrate.JobSearch("UPDATE jobs SET name_lc = ?, class_lc = ? WHERE seq = ?")))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	return s.r.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM devices LIMIT 1)").Scan(&n)
}

// String names the store for logs.
func (s *Store) String() string { return "sqlite:" + s.path }

// nodeConflict leaves an existing node as it is, but for a CPU or memory
// figure it does not have (0) and the batch gives.
const nodeConflict = `ON CONFLICT (hostname) DO UPDATE SET
	cpu_milli = CASE WHEN nodes.cpu_milli = 0 THEN excluded.cpu_milli ELSE nodes.cpu_milli END,
	memory_mib = CASE WHEN nodes.memory_mib = 0 THEN excluded.memory_mib ELSE nodes.memory_mib END
	WHERE (nodes.cpu_milli = 0 AND excluded.cpu_milli <> 0) OR (nodes.memory_mib = 0 AND excluded.memory_mib <> 0)`

const deviceCols = "serial, model, node, site, pool, state, acquired, cost_usd, warranty_until, labels, updated_at"

// insertChunk is the number of rows per multi-row INSERT (11 parameters
// each: 11,000, under SQLite's 32,766-parameter limit).
const insertChunk = 1000

// Insert implements inventory.DeviceStore.
func (s *Store) Insert(ctx context.Context, b inventory.Batch) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if b.NodeCount() > 0 {
		st, err := tx.PrepareContext(ctx, "INSERT INTO nodes (hostname, site, interconnect_domain, cpu_milli, memory_mib) VALUES (?, ?, ?, ?, ?) "+nodeConflict)
		if err != nil {
			return err
		}
		for i := range b.NodeCount() {
			n := b.Node(i)
			if _, err := st.ExecContext(ctx, n.Hostname, n.Site, n.InterconnectDomain, n.CPUMilli, n.MemoryMiB); err != nil {
				return fmt.Errorf("node %s: %w", n.Hostname, err)
			}
		}
		st.Close()
	}
	if err := insertRows(ctx, tx, "devices", deviceCols, 11, b.DeviceCount(), func(i int, args []any) error {
		labels, err := b.LabelsJSON(i)
		if err != nil {
			return err
		}
		d := b.Device(i)
		deviceArgs(&d, labels, args)
		return nil
	}); err != nil {
		if isUnique(err) {
			tx.Rollback()
			return s.duplicates(ctx, b.Serials(), err)
		}
		return err
	}
	// The sites devices name, for textSearch.
	for _, site := range b.Sites() {
		if _, err := tx.ExecContext(ctx, "INSERT INTO device_sites (site) VALUES (?) ON CONFLICT (site) DO NOTHING", site); err != nil {
			return err
		}
	}
	for _, c := range b.Tally() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_counts (model, state, devices) VALUES (?, ?, ?)
			ON CONFLICT (model, state) DO UPDATE SET devices = devices + excluded.devices`, c.Model, string(c.State), c.Devices); err != nil {
			return err
		}
	}
	if err := insertRows(ctx, tx, "events", "serial, from_state, to_state, reason, actor, at", 6, b.EventCount(), func(i int, args []any) error {
		e := b.Event(i)
		args[0], args[1], args[2], args[3], args[4], args[5] = e.Serial, string(e.From), string(e.To), e.Reason, e.Actor, e.At.UnixMicro()
		return nil
	}); err != nil {
		return err
	}
	if inventory.GivesNodeFigures(&b) {
		if _, err := tx.ExecContext(ctx, "UPDATE node_figures SET version = version + 1"); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if b.DeviceCount() >= analyzeAfter {
		// Fresh planner statistics after a bulk load (sampled: analysis_limit).
		if _, err := s.w.ExecContext(ctx, "PRAGMA analysis_limit = 2000; ANALYZE devices; ANALYZE events"); err != nil {
			return fmt.Errorf("import committed; analyze: %w", err)
		}
	}
	return nil
}

// analyzeAfter is the batch size from which Insert refreshes the planner's
// statistics.
const analyzeAfter = 5000

// duplicates explains a unique violation of an insert: which serials exist.
func (s *Store) duplicates(ctx context.Context, serials []string, cause error) error {
	dup, err := existing(ctx, s.r, serials)
	if err != nil || len(dup) == 0 {
		// A serial repeated inside the batch itself.
		return fmt.Errorf("%w: %v", fleet.ErrConflict, cause)
	}
	return &inventory.DuplicateError{Serials: dup}
}

// insertRows writes n rows with multi-row INSERT statements prepared once
// per chunk size.
func insertRows(ctx context.Context, tx *sql.Tx, table, cols string, width, n int, fill func(i int, args []any) error) error {
	var full *sql.Stmt
	args := make([]any, insertChunk*width)
	for start := 0; start < n; start += insertChunk {
		k := min(insertChunk, n-start)
		for j := 0; j < k; j++ {
			if err := fill(start+j, args[j*width:(j+1)*width]); err != nil {
				return err
			}
		}
		var err error
		if k == insertChunk {
			if full == nil {
				full, err = tx.PrepareContext(ctx, insertSQL(table, cols, width, k))
				if err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(table, cols, width, k), args[:k*width]...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func insertSQL(table, cols string, width, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	var b strings.Builder
	b.Grow(len(table) + len(cols) + rows*(len(one)+1) + 32)
	b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// deviceArgs fills a with d's row; labels is its labels' JSON ("" for
// none, written as NULL).
func deviceArgs(d *inventory.Device, labels string, a []any) {
	var lv any
	if labels != "" {
		lv = labels
	}
	a[0], a[1], a[2], a[3], a[4], a[5] = d.Serial, d.Model, d.Node, d.Site, d.Pool, string(d.State)
	a[6], a[7], a[8], a[9], a[10] = date(d.Acquired), cost(d.CostUSD), date(d.WarrantyUntil), lv, d.UpdatedAt.UnixMicro()
}

func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02")
}

func cost(c *float64) any {
	if c == nil {
		return nil
	}
	return *c
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// existing returns which serials are stored; one query with the list as a
// JSON array.
func existing(ctx context.Context, q queryer, serials []string) ([]string, error) {
	if len(serials) == 0 {
		return nil, nil
	}
	js, err := json.Marshal(serials)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT serial FROM devices WHERE serial IN (SELECT value FROM json_each(?))", string(js))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ExistingSerials implements inventory.DeviceStore.
func (s *Store) ExistingSerials(ctx context.Context, serials []string) ([]string, error) {
	return existing(ctx, s.r, serials)
}

type scanner interface{ Scan(dest ...any) error }

func scanDevice(sc scanner) (inventory.Device, error) {
	var (
		d                 inventory.Device
		state             string
		acq, warr, labels sql.NullString
		costv             sql.NullFloat64
		updated           int64
	)
	if err := sc.Scan(&d.Serial, &d.Model, &d.Node, &d.Site, &d.Pool, &state, &acq, &costv, &warr, &labels, &updated); err != nil {
		return d, err
	}
	d.State = fleet.DeviceState(state)
	var err error
	if d.Acquired, err = parseDate(acq); err != nil {
		return d, err
	}
	if d.WarrantyUntil, err = parseDate(warr); err != nil {
		return d, err
	}
	if costv.Valid {
		v := costv.Float64
		d.CostUSD = &v
	}
	if labels.Valid && labels.String != "" {
		if err := json.Unmarshal([]byte(labels.String), &d.Labels); err != nil {
			return d, fmt.Errorf("device %s: labels: %w", d.Serial, err)
		}
	}
	d.UpdatedAt = time.UnixMicro(updated).UTC()
	return d, nil
}

func parseDate(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return time.Parse("2006-01-02", s.String)
}

// Device implements inventory.DeviceStore.
func (s *Store) Device(ctx context.Context, serial string) (inventory.Device, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM devices WHERE serial = ?", serial))
	if errors.Is(err, sql.ErrNoRows) {
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
	where, args := deviceWhere(q, text)
	col, desc := inventory.SplitSort(q.Sort)
	col = sortColumn(col)
	cmp, dir := ">", ""
	if desc {
		cmp, dir = "<", " DESC"
	}
	if q.After != "" {
		if col == "" {
			where = append(where, "serial "+cmp+" ?")
			args = append(args, q.After)
		} else {
			where = append(where, "("+col+", serial) "+cmp+" (?, ?)")
			args = append(args, q.AfterKey, q.After)
		}
	}
	query := "SELECT " + deviceCols + " FROM devices" + whereClause(where)
	if col != "" {
		query += " ORDER BY " + col + dir + ", serial" + dir
	} else {
		query += " ORDER BY serial" + dir
	}
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
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

// CountDevices implements inventory.DeviceStore: COUNT(*) under the
// conditions Devices uses.
func (s *Store) CountDevices(ctx context.Context, q inventory.Filter) (int, error) {
	text, err := s.textSearch(ctx, q.Q)
	if err != nil {
		return 0, err
	}
	query, args := countQuery(q, text)
	var n int
	err = s.r.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// countQuery is CountDevices' statement. A search that tests every device
// (text not through device_text) reads only serial, node, site and model,
// which devices_node carries (migration 00201): SQLite then scans that
// index, a fifth of the table's bytes, instead of the table.
func countQuery(q inventory.Filter, text textPlan) (string, []any) {
	where, args := deviceWhere(q, text)
	return "SELECT COUNT(*) FROM devices" + whereClause(where), args
}

// deviceWhere is the conditions of q's filter fields (not its cursor) with
// their arguments; text is how the search reaches its devices
// (textSearch).
func deviceWhere(q inventory.Filter, text textPlan) (where []string, args []any) {
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("model", q.Model)
	if len(q.Models) > 0 {
		where = append(where, "model IN (?"+strings.Repeat(", ?", len(q.Models)-1)+")")
		for _, m := range q.Models {
			args = append(args, m)
		}
	}
	add("state", string(q.State))
	if q.Held {
		where = append(where, "state <> ?")
		args = append(args, string(fleet.Retired))
	}
	add("site", q.Site)
	add("pool", q.Pool)
	add("node", q.Node)
	if q.Q != "" {
		p := "%" + likeEscaper.Replace(q.Q) + "%"
		// The exact test. LIKE folds ASCII letters as lower() does (both
		// leave other letters alone) and, unlike instr(lower(…)), copies no
		// value: 4 LIKEs took 40–65 % of the time of 4 instr(lower(…)) on
		// 100,000 devices.
		if !text.resolved {
			where = append(where, `(serial LIKE ? ESCAPE '\' OR node LIKE ? ESCAPE '\' OR site LIKE ? ESCAPE '\' OR model LIKE ? ESCAPE '\')`)
			args = append(args, p, p, p, p)
			return where, args
		}
		// The site and model ids that contain the text are known (text):
		// a device matches when it has one of them, or when its serial or
		// node contains the text, which then is one of device_text's
		// candidates (text.index) and is tested exactly.
		var or []string
		in := func(col string, ids []string) {
			if len(ids) > 0 {
				or = append(or, col+" IN (?"+strings.Repeat(", ?", len(ids)-1)+")")
				for _, id := range ids {
					args = append(args, id)
				}
			}
		}
		in("model", text.models)
		in("site", text.sites)
		rest := `(serial LIKE ? ESCAPE '\' OR node LIKE ? ESCAPE '\')`
		if text.index {
			rest = "(serial IN (SELECT serial FROM device_text WHERE serial LIKE ? UNION SELECT serial FROM device_text WHERE node LIKE ?) AND " + rest + ")"
			args = append(args, p, p)
		}
		where = append(where, "("+strings.Join(append(or, rest), " OR ")+")")
		args = append(args, p, p)
	}
	return where, args
}

// likeEscaper makes text a literal inside a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// maxTextCandidates is how many devices device_text may propose for a
// search before the store tests every device instead: reading N
// candidates back by serial costs more than the ordered scan from about
// 10,000 on (100,000 devices, loaded machine, measured with a first
// version of the index: 10,240 candidates 70 ms for a page by index,
// 150 ms by scan; 25,600: 390 ms by index, 70 ms by scan).
const maxTextCandidates = 10_000

// textPlan is how a search reaches its devices. The zero plan tests
// every device's four columns. A resolved plan knows the site and model
// ids that contain the text (sites, models): a device with one of them
// matches, any other only by its serial or node, tested on every device,
// or (index) on device_text's candidates only.
type textPlan struct {
	resolved      bool
	sites, models []string
	index         bool
}

// textSearch plans a search for q (lower-case). The site and model ids
// that contain q are resolved first, from device_sites and device_counts
// (a few dozen rows), so that a device's site and model are compared, not
// searched: the scan tests two columns instead of four. The serials and
// nodes are searched through device_text when q has three characters or
// more (a trigram), no LIKE wildcard (FTS5 takes LIKE without ESCAPE), is
// in no site id (there is no site index: imports are cheaper without
// it), and the models' devices (device_counts) and device_text's
// candidates are at most maxTextCandidates together; the devices of the
// models are then read from devices_model.
func (s *Store) textSearch(ctx context.Context, q string) (textPlan, error) {
	if q == "" {
		return textPlan{}, nil
	}
	p := "%" + likeEscaper.Replace(q) + "%"
	plan := textPlan{resolved: true}
	rows, err := s.r.QueryContext(ctx, `SELECT site, 0 FROM device_sites WHERE site LIKE ?1 ESCAPE '\'
		UNION ALL SELECT model, sum(devices) FROM device_counts WHERE model LIKE ?1 ESCAPE '\' AND devices > 0 GROUP BY model
		ORDER BY 1`, p)
	if err != nil {
		return textPlan{}, err
	}
	defer rows.Close()
	modelDevices := 0
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return textPlan{}, err
		}
		if n == 0 {
			plan.sites = append(plan.sites, id)
		} else {
			plan.models = append(plan.models, id)
			modelDevices += n
		}
	}
	if err := rows.Err(); err != nil {
		return textPlan{}, err
	}
	// The models' devices count among the candidates; when they alone are
	// too many, device_text is not asked (counting its candidates for a
	// model's 10,240 devices, whose serials and nodes name the model as
	// the demo's do, took 15–27 ms).
	budget := maxTextCandidates - modelDevices
	if len(plan.sites) > 0 || budget < 0 || utf8.RuneCountInString(q) < 3 || strings.ContainsAny(q, `%_\`) {
		return plan, nil
	}
	var n int
	err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM device_text WHERE serial LIKE ?1
		UNION ALL SELECT 1 FROM device_text WHERE node LIKE ?1 LIMIT ?2)`, "%"+q+"%", budget+1).Scan(&n)
	plan.index = n <= budget
	return plan, err
}

func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// sortColumn is the column of a device order (inventory.SortKeys without
// its "-"), or "" for serial; anything else is "" too, so no input reaches
// the SQL text.
func sortColumn(sort string) string {
	switch sort {
	case "model", "state", "site", "node":
		return sort
	}
	return ""
}

// UpdateState implements inventory.DeviceStore. The write transaction is
// BEGIN IMMEDIATE on the single writer connection, so the read, decision and
// write are serialized with every other change.
func (s *Store) UpdateState(ctx context.Context, serial string, decide func(inventory.Device) (inventory.Event, error)) (inventory.Event, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return inventory.Event{}, err
	}
	defer tx.Rollback()
	d, err := scanDevice(tx.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM devices WHERE serial = ?", serial))
	if errors.Is(err, sql.ErrNoRows) {
		return inventory.Event{}, fmt.Errorf("%w: device %q", fleet.ErrNotFound, serial)
	}
	if err != nil {
		return inventory.Event{}, err
	}
	ev, err := decide(d)
	if err != nil {
		return inventory.Event{}, err
	}
	ev.Serial = d.Serial
	if _, err := tx.ExecContext(ctx, "UPDATE devices SET state = ?, updated_at = ? WHERE serial = ?", string(ev.To), ev.At.UnixMicro(), d.Serial); err != nil {
		return inventory.Event{}, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE device_counts SET devices = devices - 1 WHERE model = ? AND state = ?", d.Model, string(d.State)); err != nil {
		return inventory.Event{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO device_counts (model, state, devices) VALUES (?, ?, 1)
		ON CONFLICT (model, state) DO UPDATE SET devices = devices + 1`, d.Model, string(ev.To)); err != nil {
		return inventory.Event{}, err
	}
	if err := tx.QueryRowContext(ctx, "INSERT INTO events (serial, from_state, to_state, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
		ev.Serial, string(ev.From), string(ev.To), ev.Reason, ev.Actor, ev.At.UnixMicro()).Scan(&ev.Seq); err != nil {
		return inventory.Event{}, err
	}
	if err := tx.Commit(); err != nil {
		return inventory.Event{}, err
	}
	return ev, nil
}

// CountByModelState implements inventory.DeviceStore. It reads the
// device_counts table, which Insert and UpdateState keep current in their
// transactions (migration 00002 built it with a GROUP BY over devices).
func (s *Store) CountByModelState(ctx context.Context) ([]inventory.ModelStateCount, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT model, state, devices FROM device_counts WHERE devices > 0 ORDER BY model, state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inventory.ModelStateCount
	for rows.Next() {
		var c inventory.ModelStateCount
		var st string
		if err := rows.Scan(&c.Model, &st, &c.Devices); err != nil {
			return nil, err
		}
		c.State = fleet.DeviceState(st)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountBySiteModelState implements inventory.DeviceStore with a GROUP BY
// over devices.
func (s *Store) CountBySiteModelState(ctx context.Context) ([]inventory.SiteModelStateCount, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT site, model, state, COUNT(*) FROM devices GROUP BY site, model, state ORDER BY site, model, state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inventory.SiteModelStateCount
	for rows.Next() {
		var c inventory.SiteModelStateCount
		var st string
		if err := rows.Scan(&c.Site, &c.Model, &st, &c.Devices); err != nil {
			return nil, err
		}
		c.State = fleet.DeviceState(st)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Nodes implements inventory.DeviceStore.
func (s *Store) Nodes(ctx context.Context) ([]inventory.Node, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT hostname, site, interconnect_domain, cpu_milli, memory_mib FROM nodes ORDER BY hostname")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []inventory.Node{}
	for rows.Next() {
		var n inventory.Node
		if err := rows.Scan(&n.Hostname, &n.Site, &n.InterconnectDomain, &n.CPUMilli, &n.MemoryMiB); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ReplaceNodeFigures implements inventory.DeviceStore.
func (s *Store) ReplaceNodeFigures(ctx context.Context, nodes []inventory.Node) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `UPDATE nodes SET
		cpu_milli = CASE WHEN ?1 = 0 THEN cpu_milli ELSE ?1 END,
		memory_mib = CASE WHEN ?2 = 0 THEN memory_mib ELSE ?2 END
		WHERE hostname = ?3 AND ((?1 <> 0 AND cpu_milli <> ?1) OR (?2 <> 0 AND memory_mib <> ?2))`)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	changed := 0
	for _, n := range nodes {
		res, err := st.ExecContext(ctx, n.CPUMilli, n.MemoryMiB, n.Hostname)
		if err != nil {
			return 0, fmt.Errorf("node %s: %w", n.Hostname, err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		changed += int(k)
	}
	if changed == 0 {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE node_figures SET version = version + 1"); err != nil {
		return 0, err
	}
	return changed, tx.Commit()
}

// CountEvents implements inventory.EventStore.
func (s *Store) CountEvents(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n)
	return n, err
}

// Events implements inventory.EventStore.
func (s *Store) Events(ctx context.Context, q inventory.EventFilter) ([]inventory.Event, error) {
	query := "SELECT seq, serial, from_state, to_state, reason, actor, at FROM events WHERE seq > ?"
	args := []any{q.AfterSeq}
	if q.Serial != "" {
		query += " AND serial = ?"
		args = append(args, q.Serial)
	}
	if !q.Since.IsZero() {
		query += " AND at >= ?"
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Before.IsZero() {
		query += " AND at < ?"
		args = append(args, q.Before.UnixMicro())
	}
	query += " ORDER BY seq"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// stateAtTouched are the devices with an event at or after ?1, each with
// its last event (the highest seq) before ?1 (NULL when it had none, not
// existing yet): their state then. Any other device's events are all
// before ?1, so its state then is its state now, the To of its last event
// (Insert and UpdateState keep the two equal). events_at finds the
// touched devices, events_serial_at their last events (migration 00200):
// a day of the last months reads its few thousand later events, not the
// whole history. INDEXED BY: without it SQLite prefers the DISTINCT that
// events_serial_at's order gives, a scan of every event (100 ms against
// 5 ms of CPU for the count of a day at 197,914 events).
const stateAtTouched = `WITH touched AS (SELECT DISTINCT serial FROM events INDEXED BY events_at WHERE at >= ?1),
	past AS (SELECT t.serial, (SELECT max(seq) FROM events f WHERE f.serial = t.serial AND f.at < ?1) AS seq FROM touched t)`

// StateAt implements inventory.EventStore: the untouched devices in the
// state now (in serial order off the primary key, with their last event)
// merged with the touched devices that were in it (stateAtTouched).
func (s *Store) StateAt(ctx context.Context, q inventory.StateAtFilter) ([]inventory.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, stateAtTouched+`
		SELECT e.seq, e.serial, e.from_state, e.to_state, e.reason, e.actor, e.at FROM (
			SELECT seq FROM (SELECT d.serial, (SELECT max(seq) FROM events f WHERE f.serial = d.serial) AS seq FROM devices d
				WHERE d.state = ?2 AND d.serial > ?3 AND d.serial NOT IN (SELECT serial FROM touched) ORDER BY d.serial LIMIT ?4)
			UNION ALL
			SELECT p.seq FROM past p JOIN events e ON e.seq = p.seq WHERE e.to_state = ?2 AND p.serial > ?3
		) l JOIN events e ON e.seq = l.seq ORDER BY e.serial LIMIT ?4`,
		q.Before.UnixMicro(), string(q.State), q.After, limit)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// CountStateAt implements inventory.EventStore: the devices in the state
// now (device_counts), less the touched ones in it now, plus the touched
// ones that were in it.
func (s *Store) CountStateAt(ctx context.Context, q inventory.StateAtFilter) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, stateAtTouched+`
		SELECT (SELECT coalesce(sum(devices), 0) FROM device_counts WHERE state = ?2)
			- (SELECT count(*) FROM devices WHERE serial IN (SELECT serial FROM touched) AND state = ?2)
			+ (SELECT count(*) FROM past p JOIN events e ON e.seq = p.seq WHERE e.to_state = ?2)`,
		q.Before.UnixMicro(), string(q.State)).Scan(&n)
	return n, err
}

func scanEvents(rows *sql.Rows) ([]inventory.Event, error) {
	defer rows.Close()
	out := []inventory.Event{}
	for rows.Next() {
		var e inventory.Event
		var from, to string
		var at int64
		if err := rows.Scan(&e.Seq, &e.Serial, &from, &to, &e.Reason, &e.Actor, &at); err != nil {
			return nil, err
		}
		e.From, e.To, e.At = fleet.DeviceState(from), fleet.DeviceState(to), time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateToken implements inventory.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t inventory.Token) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO tokens (id, name, role, node, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)", t.ID, t.Name, string(t.Role), t.Node, t.Hash, t.CreatedAt.UnixMicro(), micros(t.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("%w: token: %v", fleet.ErrConflict, err)
	}
	return err
}

// CreateFirstToken implements inventory.TokenStore.
func (s *Store) CreateFirstToken(ctx context.Context, t inventory.Token) (bool, error) {
	res, err := s.w.ExecContext(ctx, "INSERT INTO tokens (id, name, role, node, hash, created_at) SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM tokens)", t.ID, t.Name, string(t.Role), t.Node, t.Hash, t.CreatedAt.UnixMicro())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const tokenCols = "id, name, role, node, hash, created_at, expires_at, revoked_at, last_used_at"

func scanToken(sc scanner) (inventory.Token, error) {
	var t inventory.Token
	var role string
	var created int64
	var expires, revoked, used sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &role, &t.Node, &t.Hash, &created, &expires, &revoked, &used); err != nil {
		return t, err
	}
	t.Role, t.CreatedAt = inventory.Role(role), time.UnixMicro(created).UTC()
	t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromMicros(expires), fromMicros(revoked), fromMicros(used)
	return t, nil
}

// micros is a nullable time column's value: NULL for the zero time.
func micros(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: !t.IsZero()}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// RevokeToken implements inventory.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", at.UnixMicro(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: token %q", fleet.ErrNotFound, id)
	}
	return nil
}

// TouchToken implements inventory.TokenStore.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error {
	_, err := s.w.ExecContext(ctx, "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
		at.UnixMicro(), id, at.Add(-every).UnixMicro())
	return err
}

// TokenByHash implements inventory.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (inventory.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: token", fleet.ErrNotFound)
	}
	return t, err
}

// Tokens implements inventory.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]inventory.Token, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []inventory.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken implements inventory.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM tokens WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: token %q", fleet.ErrNotFound, id)
	}
	return nil
}
