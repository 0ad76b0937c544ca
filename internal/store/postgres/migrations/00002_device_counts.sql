-- Per (model, state) device counts, kept by the store in the same
-- transaction as every insert and state change, so the fleet summary reads a
-- few dozen rows instead of aggregating every device. Also drops indexes a
-- primary-key-ordered scan serves as well (low-cardinality site, pool and
-- state filters), which makes bulk imports cheaper.

-- +goose Up
CREATE TABLE device_counts (
	model   text NOT NULL,
	state   text NOT NULL,
	devices bigint NOT NULL CHECK (devices >= 0),
	PRIMARY KEY (model, state)
);
INSERT INTO device_counts (model, state, devices)
	SELECT model, state, count(*) FROM devices GROUP BY model, state;
DROP INDEX devices_state;
DROP INDEX devices_site;
DROP INDEX devices_pool;

-- +goose Down
CREATE INDEX devices_state ON devices (state, serial);
CREATE INDEX devices_site ON devices (site, serial);
CREATE INDEX devices_pool ON devices (pool, serial);
DROP TABLE device_counts;
