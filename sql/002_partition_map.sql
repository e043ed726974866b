-- The cluster's partition map: which shard node serves each partition, and
-- the epoch at which this map took effect. Written by the coordinator in one
-- transaction per flip; a restarted coordinator resumes from it.
CREATE TABLE IF NOT EXISTS partition_map (
  partition INT PRIMARY KEY CHECK (partition >= 0),
  shard     TEXT NOT NULL,
  epoch     BIGINT NOT NULL
);
