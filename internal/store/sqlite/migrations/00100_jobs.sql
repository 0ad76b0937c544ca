-- Live scheduling (SQLite dialect): jobs, their history, the devices they
-- hold, scheduling rounds and teams. Times are Unix microseconds (UTC).

-- +goose Up
CREATE TABLE jobs (
	seq              INTEGER PRIMARY KEY AUTOINCREMENT,
	team             TEXT NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'preempted', 'completed', 'failed', 'cancelled')),
	spec             TEXT NOT NULL, -- JSON of jobs.Spec
	submitted_at     INTEGER NOT NULL,
	finished_at      INTEGER,
	steps_done       REAL NOT NULL DEFAULT 0,
	checkpoint_steps REAL NOT NULL DEFAULT 0,
	attained_s       REAL NOT NULL DEFAULT 0,
	restarts         INTEGER NOT NULL DEFAULT 0,
	placement        TEXT,          -- JSON of jobs.Placement, NULL when not running
	why_code         TEXT NOT NULL,
	why              TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_team ON jobs (team, seq);

CREATE TABLE job_events (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	job     INTEGER NOT NULL REFERENCES jobs (seq),
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	message TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events (job, seq);

-- One row per device a running job holds: the primary key makes placing a
-- device twice impossible, whatever happens to the scheduler.
CREATE TABLE job_devices (
	serial TEXT PRIMARY KEY,
	job    INTEGER NOT NULL REFERENCES jobs (seq)
) WITHOUT ROWID;
CREATE INDEX job_devices_job ON job_devices (job);

CREATE TABLE sched_rounds (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	at          INTEGER NOT NULL,
	policy      TEXT NOT NULL,
	duration_ns INTEGER NOT NULL,
	running     INTEGER NOT NULL,
	waiting     INTEGER NOT NULL
);

CREATE TABLE teams (
	name       TEXT PRIMARY KEY,
	weight     REAL NOT NULL,
	guarantees TEXT NOT NULL DEFAULT '{}' -- JSON: model id → devices
);

-- +goose Down
DROP TABLE teams;
DROP TABLE sched_rounds;
DROP TABLE job_devices;
DROP TABLE job_events;
DROP TABLE jobs;
