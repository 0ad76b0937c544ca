-- Node agents (PostgreSQL dialect): agent tokens scoped to one node, the
-- latest hardware report of each device, the nodes that report, and
-- serials reported on one node that the ledger holds on another.
-- probe is JSON of hwprobe.Device.

-- +goose Up
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD COLUMN node text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('viewer', 'operator', 'admin', 'agent'));
ALTER TABLE tokens ADD CONSTRAINT tokens_agent_node CHECK ((role = 'agent') = (node <> ''));

CREATE TABLE agent_nodes (
	hostname    text PRIMARY KEY,
	token       text NOT NULL,
	last_report timestamptz NOT NULL,
	devices     integer NOT NULL,
	warnings    jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE device_health (
	serial         text COLLATE "C" PRIMARY KEY,
	node           text NOT NULL,
	model          text NOT NULL,
	at             timestamptz NOT NULL,
	probe          jsonb NOT NULL,
	thermal_streak integer NOT NULL DEFAULT 0
);
CREATE INDEX device_health_node ON device_health (node, serial);

CREATE TABLE agent_conflicts (
	serial      text COLLATE "C" NOT NULL,
	node        text NOT NULL,
	ledger_node text NOT NULL,
	first_at    timestamptz NOT NULL,
	last_at     timestamptz NOT NULL,
	PRIMARY KEY (serial, node)
);

-- +goose Down
DROP TABLE agent_conflicts;
DROP TABLE device_health;
DROP TABLE agent_nodes;
DELETE FROM tokens WHERE role = 'agent';
ALTER TABLE tokens DROP CONSTRAINT tokens_agent_node;
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens DROP COLUMN node;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('viewer', 'operator', 'admin'));
