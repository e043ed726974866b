-- Coordinator leadership (docs/cluster.md, "Coordinator replicas"): one row,
-- the lease of the leading coordinator. `term` grows by one with every new
-- leader and fences the old one: every write a coordinator makes to the map
-- or to job results checks, in its transaction, that the term is still its
-- own. `address` is where shard and API nodes reach the leader's actor port.
CREATE TABLE IF NOT EXISTS coordinator_lease (
  id         INT PRIMARY KEY CHECK (id = 1),
  holder     TEXT NOT NULL,
  address    TEXT NOT NULL,
  term       BIGINT NOT NULL CHECK (term > 0),
  expires_at TIMESTAMPTZ NOT NULL
);

-- The term of the coordinator that started a run (0: a run outside a
-- replicated coordinator, e.g. `recd compute` in one process). A new leader
-- redoes the runs an older term left running.
ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS term BIGINT NOT NULL DEFAULT 0;
