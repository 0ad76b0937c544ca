-- Shares of a device (issue 13, docs/sharing.md): several jobs may hold one
-- device when each holds a share of it. job_devices keeps how much of the
-- device each job holds (milli, 1000 = whole), keyed by (serial, job), and
-- a trigger refuses a row that would put more than a whole device on a
-- serial — the primary key on serial alone made placing a device twice
-- impossible; the trigger keeps that for whole devices (1000 + anything >
-- 1000) and extends it to shares. jobs.device_milli is the spec's share
-- (0 = whole devices), written with the spec by CreateJob and UpdateJob,
-- for jobs.Filter.Shared; jobs stored before this migration have none.

-- +goose Up
CREATE TABLE job_devices_shares (
	serial TEXT NOT NULL,
	job    INTEGER NOT NULL REFERENCES jobs (seq),
	milli  INTEGER NOT NULL DEFAULT 1000 CHECK (milli BETWEEN 1 AND 1000),
	PRIMARY KEY (serial, job)
) WITHOUT ROWID;
INSERT INTO job_devices_shares (serial, job, milli) SELECT serial, job, 1000 FROM job_devices;
DROP TABLE job_devices;
ALTER TABLE job_devices_shares RENAME TO job_devices;
CREATE INDEX job_devices_job ON job_devices (job);
-- +goose StatementBegin
CREATE TRIGGER job_devices_whole BEFORE INSERT ON job_devices
WHEN NEW.milli + (SELECT coalesce(sum(milli), 0) FROM job_devices WHERE serial = NEW.serial AND job <> NEW.job) > 1000
BEGIN
	SELECT RAISE(ABORT, 'share constraint failed: job_devices would hold more than a whole device');
END;
-- +goose StatementEnd
ALTER TABLE jobs ADD COLUMN device_milli INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN device_milli;
DROP TRIGGER job_devices_whole;
CREATE TABLE job_devices_whole (
	serial TEXT PRIMARY KEY,
	job    INTEGER NOT NULL REFERENCES jobs (seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO job_devices_whole (serial, job) SELECT serial, job FROM job_devices;
DROP TABLE job_devices;
ALTER TABLE job_devices_whole RENAME TO job_devices;
CREATE INDEX job_devices_job ON job_devices (job);
