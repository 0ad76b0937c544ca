-- The stockpile ledger (SQLite dialect). Times are Unix microseconds (UTC),
-- dates are 'YYYY-MM-DD' text, labels a JSON object.

-- +goose Up
CREATE TABLE nodes (
	hostname            TEXT PRIMARY KEY,
	site                TEXT NOT NULL DEFAULT '',
	interconnect_domain TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE devices (
	serial         TEXT PRIMARY KEY,
	model          TEXT NOT NULL,
	node           TEXT NOT NULL DEFAULT '',
	site           TEXT NOT NULL DEFAULT '',
	pool           TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL CHECK (state IN ('in-service', 'reserve', 'maintenance', 'failed', 'retired')),
	acquired       TEXT,
	cost_usd       REAL,
	warranty_until TEXT,
	labels         TEXT,
	updated_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- Secondary indexes of a WITHOUT ROWID table end with the primary key, so
-- each of these also yields devices in serial order for a filtered page.
CREATE INDEX devices_model_state ON devices (model, state);
CREATE INDEX devices_state ON devices (state);
CREATE INDEX devices_site ON devices (site);
CREATE INDEX devices_pool ON devices (pool);
CREATE INDEX devices_node ON devices (node);

CREATE TABLE events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	serial     TEXT NOT NULL,
	from_state TEXT NOT NULL DEFAULT '',
	to_state   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	at         INTEGER NOT NULL
);
CREATE INDEX events_serial ON events (serial, seq);

-- +goose StatementBegin
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
-- +goose StatementEnd

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL DEFAULT '',
	role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE events;
DROP TABLE devices;
DROP TABLE nodes;
