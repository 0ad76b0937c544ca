-- The stockpile ledger (PostgreSQL dialect). Serials compare byte-wise
-- (COLLATE "C") so pages are ordered exactly as on SQLite.

-- +goose Up
CREATE TABLE nodes (
	hostname            text PRIMARY KEY,
	site                text NOT NULL DEFAULT '',
	interconnect_domain text NOT NULL DEFAULT ''
);

CREATE TABLE devices (
	serial         text COLLATE "C" PRIMARY KEY,
	model          text NOT NULL,
	node           text NOT NULL DEFAULT '',
	site           text NOT NULL DEFAULT '',
	pool           text NOT NULL DEFAULT '',
	state          text NOT NULL CHECK (state IN ('in-service', 'reserve', 'maintenance', 'failed', 'retired')),
	acquired       date,
	cost_usd       double precision,
	warranty_until date,
	labels         jsonb,
	updated_at     timestamptz NOT NULL
);

-- Each index ends with serial, so a filtered page is an index range scan in
-- serial order.
CREATE INDEX devices_model_state ON devices (model, state, serial);
CREATE INDEX devices_state ON devices (state, serial);
CREATE INDEX devices_site ON devices (site, serial);
CREATE INDEX devices_pool ON devices (pool, serial);
CREATE INDEX devices_node ON devices (node, serial);

CREATE TABLE events (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	serial     text COLLATE "C" NOT NULL,
	from_state text NOT NULL DEFAULT '',
	to_state   text NOT NULL,
	reason     text NOT NULL,
	actor      text NOT NULL,
	at         timestamptz NOT NULL
);
CREATE INDEX events_serial ON events (serial, seq);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'events are append-only';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE tokens (
	id         text PRIMARY KEY,
	name       text NOT NULL DEFAULT '',
	role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE events;
DROP FUNCTION events_append_only();
DROP TABLE devices;
DROP TABLE nodes;
