-- A model filter pages in serial order straight off an index on (model)
-- (a WITHOUT ROWID index ends with the primary key), where (model, state)
-- made SQLite sort every device of the model first. The summary no longer
-- needs (model, state): it reads device_counts.

-- +goose Up
DROP INDEX devices_model_state;
CREATE INDEX devices_model ON devices (model);

-- +goose Down
DROP INDEX devices_model;
CREATE INDEX devices_model_state ON devices (model, state);
