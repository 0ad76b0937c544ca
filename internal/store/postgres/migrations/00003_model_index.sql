-- A model filter pages in serial order straight off an index on
-- (model, serial); the summary no longer needs (model, state): it reads
-- device_counts. Same version as SQLite's 00003.

-- +goose Up
DROP INDEX devices_model_state;
CREATE INDEX devices_model ON devices (model, serial);

-- +goose Down
DROP INDEX devices_model;
CREATE INDEX devices_model_state ON devices (model, state, serial);
