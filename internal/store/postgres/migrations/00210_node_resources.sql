-- A node's CPU (milli-cores) and memory (MiB) for jobs (inventory.Node
-- CPUMilli, MemoryMiB): the live scheduler refuses a job's cpu_milli or
-- memory_mib beyond what is left on the node. 0 is "not recorded", no
-- limit, which every node had before.

-- +goose Up
ALTER TABLE nodes ADD COLUMN cpu_milli bigint NOT NULL DEFAULT 0 CHECK (cpu_milli >= 0),
	ADD COLUMN memory_mib bigint NOT NULL DEFAULT 0 CHECK (memory_mib >= 0);

-- +goose Down
ALTER TABLE nodes DROP COLUMN memory_mib, DROP COLUMN cpu_milli;
