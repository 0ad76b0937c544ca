-- Live scheduling (PostgreSQL dialect): jobs, their history, the devices
-- they hold, scheduling rounds and teams. Times are Unix microseconds (UTC),
-- as in the SQLite schema; JSON documents are text.

-- +goose Up
CREATE TABLE jobs (
	seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	team             text NOT NULL,
	state            text NOT NULL CHECK (state IN ('pending', 'running', 'preempted', 'completed', 'failed', 'cancelled')),
	spec             text NOT NULL,
	submitted_at     bigint NOT NULL,
	finished_at      bigint,
	steps_done       double precision NOT NULL DEFAULT 0,
	checkpoint_steps double precision NOT NULL DEFAULT 0,
	attained_s       double precision NOT NULL DEFAULT 0,
	restarts         integer NOT NULL DEFAULT 0,
	placement        text,
	why_code         text NOT NULL,
	why              text NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_team ON jobs (team, seq);

CREATE TABLE job_events (
	seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job     bigint NOT NULL REFERENCES jobs (seq),
	at      bigint NOT NULL,
	kind    text NOT NULL,
	message text NOT NULL
);
CREATE INDEX job_events_job ON job_events (job, seq);

-- One row per device a running job holds: placing a device twice is
-- impossible.
CREATE TABLE job_devices (
	serial text COLLATE "C" PRIMARY KEY,
	job    bigint NOT NULL REFERENCES jobs (seq)
);
CREATE INDEX job_devices_job ON job_devices (job);

CREATE TABLE sched_rounds (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          bigint NOT NULL,
	policy      text NOT NULL,
	duration_ns bigint NOT NULL,
	running     integer NOT NULL,
	waiting     integer NOT NULL
);

CREATE TABLE teams (
	name       text PRIMARY KEY,
	weight     double precision NOT NULL,
	guarantees text NOT NULL DEFAULT '{}'
);

-- +goose Down
DROP TABLE teams;
DROP TABLE sched_rounds;
DROP TABLE job_devices;
DROP TABLE job_events;
DROP TABLE jobs;
