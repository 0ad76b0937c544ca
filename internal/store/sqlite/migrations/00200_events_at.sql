-- The devices in a state at an instant (inventory.StateAtFilter, the lists
-- behind the fleet page's per-day chart), and the events of a time range
-- (inventory.EventFilter Since and Before).
--
-- * events_at finds the events at or after an instant: the devices they
--   touch are the only ones whose state then differs from their state now,
--   so a list of a recent day reads those events and the devices table, not
--   the whole history;
-- * events_serial_at finds a device's events before an instant, with their
--   state and (as every index of a rowid table) their seq. It replaces
--   events_serial (serial, seq), which a device's history reads as well
--   through it (a device has a few events, sorted by seq after the lookup),
--   so an import writes one index more than before, not two.

-- +goose Up
CREATE INDEX events_at ON events (at);
CREATE INDEX events_serial_at ON events (serial, at, to_state);
DROP INDEX events_serial;

-- +goose Down
CREATE INDEX events_serial ON events (serial, seq);
DROP INDEX events_serial_at;
DROP INDEX events_at;
