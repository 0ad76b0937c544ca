-- Free-text device search (inventory.Filter.Q, a substring of the serial,
-- node, site or model id; see textSearch in postgres.go), as on SQLite:
--
-- * devices_text, a pg_trgm GIN index on the lower-cased serial and node,
--   serves LIKE '%…%' on that expression (the planner still scans when a
--   text matches many devices);
-- * device_sites, every site a device names (Insert adds new ones), tells
--   whether a text is in a site id; device_counts already lists the models.
--   A text in one of them is searched by the scan.
--
-- pg_trgm ships with the server (Debian's postgresql-contrib), and
-- CREATE EXTENSION needs the right to create it. When it cannot be created,
-- the migration says so in a NOTICE and search scans, as before; a later
-- CREATE EXTENSION pg_trgm and the CREATE INDEX below add it by hand. The
-- extension goes into schema public, so every schema of the database (the
-- tests use one each) finds its operator class under one name.

-- +goose Up
CREATE TABLE device_sites (site text PRIMARY KEY);
INSERT INTO device_sites (site) SELECT DISTINCT site FROM devices;

-- +goose StatementBegin
DO $$
DECLARE
	ns text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		BEGIN
			CREATE EXTENSION pg_trgm WITH SCHEMA public;
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'granary: pg_trgm not available (%): device search will scan the devices table', SQLERRM;
		END;
	END IF;
	SELECT n.nspname INTO ns FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
	IF ns IS NOT NULL THEN
		EXECUTE format('CREATE INDEX devices_text ON devices USING gin (((lower(serial) || '' '' || lower(node)) COLLATE "C") %I.gin_trgm_ops)', ns);
	END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS devices_text;
DROP TABLE device_sites;
