-- Token life cycle (SQLite dialect): an optional expiry, the time an admin
-- revoked the token, and its last use (written at most once a minute).
-- Times are Unix microseconds (UTC); NULL means never.

-- +goose Up
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;

-- +goose Down
ALTER TABLE tokens DROP COLUMN last_used_at;
ALTER TABLE tokens DROP COLUMN revoked_at;
ALTER TABLE tokens DROP COLUMN expires_at;
