-- The scheduler's memory after the latest round (jobs.Round.State: attained
-- service per job and model, deficits, the allocation in force), so a
-- restarted server continues where it stopped. One row, replaced in the
-- round's transaction.

-- +goose Up
CREATE TABLE sched_state (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	round_seq INTEGER NOT NULL,
	state     BLOB NOT NULL
);

-- +goose Down
DROP TABLE sched_state;
