-- The devices list orders by model or node byte-wise (sortColumn:
-- COLLATE "C", as SQLite compares), but the columns had the database's
-- collation, so devices_model and devices_node could not give that order:
-- /devices?sort=-model sorted all 99,840 devices for each page (95–230 ms
-- a page, against 0.04 ms through the index). model and node are "C"
-- columns now, like serial; an equality filter means the same, and their
-- indexes (and devices_text, whose expression is already "C") are rebuilt
-- by the ALTER. The scheduler's InService still joins devices.node to
-- nodes.hostname (equality of deterministic collations). lower() of a
-- model or node now folds ASCII letters only, as it already did for serials
-- and as SQLite's LIKE does.

-- +goose Up
ALTER TABLE devices ALTER COLUMN model TYPE text COLLATE "C", ALTER COLUMN node TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE devices ALTER COLUMN model TYPE text COLLATE "default", ALTER COLUMN node TYPE text COLLATE "default";
