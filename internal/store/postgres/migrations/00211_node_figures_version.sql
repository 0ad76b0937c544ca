-- LedgerVersion (jobs.go) tells the live loop whether the fleet it caches
-- changed; it was the last event's seq, but an import that only gives
-- existing nodes their CPU or memory (migration 00210) writes no event.
-- node_figures is bumped by every Insert that gives a node a figure, and
-- LedgerVersion adds it to the seq (both only grow, so the sum changes
-- whenever either does).

-- +goose Up
CREATE TABLE node_figures (version bigint NOT NULL);
INSERT INTO node_figures (version) VALUES (0);

-- +goose Down
DROP TABLE node_figures;
