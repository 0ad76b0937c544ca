-- Token life cycle (PostgreSQL dialect): an optional expiry, the time an
-- admin revoked the token, and its last use (written at most once a
-- minute). NULL means never.

-- +goose Up
ALTER TABLE tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE tokens ADD COLUMN revoked_at timestamptz;
ALTER TABLE tokens ADD COLUMN last_used_at timestamptz;

-- +goose Down
ALTER TABLE tokens DROP COLUMN last_used_at;
ALTER TABLE tokens DROP COLUMN revoked_at;
ALTER TABLE tokens DROP COLUMN expires_at;
