-- Free-text device search (inventory.Filter.Q, a substring of the serial,
-- node, site or model id; see textSearch in sqlite.go):
--
-- * device_text, an FTS5 table with the trigram tokenizer over the serial
--   and node of every device, kept by triggers, serves LIKE '%…%' on those
--   two columns from its index (detail='none': no positions, which LIKE does
--   not need; at 100,000 devices the import's CPU time was 2.3–2.5 s after
--   against 1.6–2.6 s before, where all four columns with positions took
--   3.2–3.9 s);
-- * device_sites, every site a device names (Insert adds new ones), tells
--   whether a text is in a site id; device_counts already lists the models.
--
-- Sites and models are few and each holds thousands of devices: a text in
-- one of them is searched by the scan, as before.

-- +goose Up
CREATE VIRTUAL TABLE device_text USING fts5(serial, node, tokenize = 'trigram', detail = 'none');
INSERT INTO device_text (serial, node) SELECT serial, node FROM devices;

CREATE TABLE device_sites (site TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO device_sites (site) SELECT DISTINCT site FROM devices;

-- +goose StatementBegin
CREATE TRIGGER device_text_insert AFTER INSERT ON devices
BEGIN
	INSERT INTO device_text (serial, node) VALUES (new.serial, new.node);
END;
-- +goose StatementEnd

-- The old row is found through the index (LIKE, case-insensitive), then
-- exactly.
-- +goose StatementBegin
CREATE TRIGGER device_text_update AFTER UPDATE OF serial, node ON devices
BEGIN
	DELETE FROM device_text WHERE rowid IN (SELECT rowid FROM device_text WHERE serial LIKE old.serial AND serial = old.serial);
	INSERT INTO device_text (serial, node) VALUES (new.serial, new.node);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER device_text_update;
DROP TRIGGER device_text_insert;
DROP TABLE device_sites;
DROP TABLE device_text;
