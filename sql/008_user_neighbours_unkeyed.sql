-- user_neighbours loses its primary key. Nothing reads it by key: a shard
-- reads whole partitions (a scan and a sort with or without it), and erasing
-- a user also matches similar_user_id, which the key does not lead with, so
-- that reads the whole index or the whole table either way. At 30M behaviors
-- building the key over the run's 19-28M rows took 4.2-8.4 s of every run
-- (docs/benchmarks.md). A published run keeps whatever key its live table
-- has (store::publish_similarity_run). The job writes each (user_id,
-- similar_user_id) pair once: its kernel's rows are distinct.
ALTER TABLE user_neighbours DROP CONSTRAINT IF EXISTS user_neighbours_pkey;
