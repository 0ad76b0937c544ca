-- Node agents (SQLite dialect): agent tokens scoped to one node, the
-- latest hardware report of each device, the nodes that report, and
-- serials reported on one node that the ledger holds on another.
-- Times are Unix microseconds (UTC); probe is JSON of hwprobe.Device.

-- +goose Up
-- SQLite cannot alter a CHECK constraint: rebuild tokens with the agent role
-- and the node scope.
CREATE TABLE tokens_new (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL DEFAULT '',
	role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'agent')),
	node       TEXT NOT NULL DEFAULT '' CHECK ((role = 'agent') = (node <> '')),
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
INSERT INTO tokens_new (id, name, role, hash, created_at) SELECT id, name, role, hash, created_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;

CREATE TABLE agent_nodes (
	hostname    TEXT PRIMARY KEY,
	token       TEXT NOT NULL,
	last_report INTEGER NOT NULL,
	devices     INTEGER NOT NULL,
	warnings    TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;

CREATE TABLE device_health (
	serial         TEXT PRIMARY KEY,
	node           TEXT NOT NULL,
	model          TEXT NOT NULL,
	at             INTEGER NOT NULL,
	probe          TEXT NOT NULL,
	thermal_streak INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX device_health_node ON device_health (node);

CREATE TABLE agent_conflicts (
	serial      TEXT NOT NULL,
	node        TEXT NOT NULL,
	ledger_node TEXT NOT NULL,
	first_at    INTEGER NOT NULL,
	last_at     INTEGER NOT NULL,
	PRIMARY KEY (serial, node)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE agent_conflicts;
DROP TABLE device_health;
DROP TABLE agent_nodes;
DELETE FROM tokens WHERE role = 'agent';
CREATE TABLE tokens_old (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL DEFAULT '',
	role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
INSERT INTO tokens_old (id, name, role, hash, created_at) SELECT id, name, role, hash, created_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_old RENAME TO tokens;
