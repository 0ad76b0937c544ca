-- Shares of a device (issue 13, docs/sharing.md): several jobs may hold one
-- device when each holds a share of it. job_devices keeps how much of the
-- device each job holds (milli, 1000 = whole), keyed by (serial, job), and
-- a trigger refuses a row that would put more than a whole device on a
-- serial — the primary key on serial alone made placing a device twice
-- impossible; the trigger keeps that for whole devices and extends it to
-- shares. It takes a transaction advisory lock on the serial first, so two
-- transactions cannot both see room for their share. jobs.device_milli is
-- the spec's share (0 = whole devices), written with the spec by CreateJob
-- and UpdateJob, for jobs.Filter.Shared; older jobs have none.

-- +goose Up
ALTER TABLE job_devices ADD COLUMN milli integer NOT NULL DEFAULT 1000 CHECK (milli BETWEEN 1 AND 1000);
ALTER TABLE job_devices DROP CONSTRAINT job_devices_pkey;
ALTER TABLE job_devices ADD PRIMARY KEY (serial, job);
-- +goose StatementBegin
CREATE FUNCTION job_devices_whole() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('job_devices:' || NEW.serial));
	IF NEW.milli + (SELECT coalesce(sum(milli), 0) FROM job_devices WHERE serial = NEW.serial AND job <> NEW.job) > 1000 THEN
		RAISE EXCEPTION 'share constraint failed: device % would hold more than a whole device (job %, % milli)', NEW.serial, NEW.job, NEW.milli
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER job_devices_whole BEFORE INSERT ON job_devices FOR EACH ROW EXECUTE FUNCTION job_devices_whole();
ALTER TABLE jobs ADD COLUMN device_milli integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN device_milli;
DROP TRIGGER job_devices_whole ON job_devices;
DROP FUNCTION job_devices_whole();
DELETE FROM job_devices d WHERE EXISTS (SELECT 1 FROM job_devices e WHERE e.serial = d.serial AND e.job < d.job);
ALTER TABLE job_devices DROP CONSTRAINT job_devices_pkey;
ALTER TABLE job_devices ADD PRIMARY KEY (serial);
ALTER TABLE job_devices DROP COLUMN milli;
