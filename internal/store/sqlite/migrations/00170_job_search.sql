-- Job search (jobs.Filter.Text): the job's name and class folded to lower
-- case by Go (strings.ToLower, so non-ASCII letters fold as in every other
-- store), written with the spec by CreateJob and UpdateJob. Go migration
-- 00171 (jobsearch.go) fills them for the jobs stored before this one. A
-- search scans the jobs the other conditions select: 10,000 jobs are a few
-- milliseconds, no index needed.

-- +goose Up
ALTER TABLE jobs ADD COLUMN name_lc TEXT;
ALTER TABLE jobs ADD COLUMN class_lc TEXT;

-- +goose Down
ALTER TABLE jobs DROP COLUMN class_lc;
ALTER TABLE jobs DROP COLUMN name_lc;
