-- recd schema, version 1. Table and column names are the ones the seed's
-- queries use, so its SQL (and tools written against it) keep working.
CREATE EXTENSION IF NOT EXISTS intarray;  -- only for the seed's reference SQL in tests

-- Cluster-wide settings fixed at migrate time (e.g. the partition count).
CREATE TABLE IF NOT EXISTS recd_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
  user_id    INT PRIMARY KEY CHECK (user_id >= 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  embedding  REAL[]                 -- implicit-ALS user factor of the last embedding run
);

CREATE TABLE IF NOT EXISTS items (
  item_id     INT PRIMARY KEY CHECK (item_id >= 0),
  title       TEXT NOT NULL,
  price       NUMERIC(10,2) NOT NULL DEFAULT 0,
  rating      NUMERIC(3,2) NOT NULL DEFAULT 0,
  sales_count INT NOT NULL DEFAULT 0,  -- number of buy + cart events, as the seed's loader counts
  category_id INT,
  brand_id    INT,
  embedding   REAL[],                  -- implicit-ALS item factor (pgvector is not packaged here)
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS items_sales_idx ON items (sales_count DESC, item_id);

CREATE TABLE IF NOT EXISTS user_behavior (
  id            BIGSERIAL PRIMARY KEY,
  user_id       INT NOT NULL CHECK (user_id >= 0),
  item_id       INT NOT NULL CHECK (item_id >= 0),
  behavior_type TEXT NOT NULL CHECK (behavior_type IN ('view', 'click', 'cart', 'buy')),
  timestamp     TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS user_behavior_item_idx ON user_behavior (item_id, behavior_type, timestamp);
CREATE INDEX IF NOT EXISTS user_behavior_user_idx ON user_behavior (user_id, timestamp);
CREATE INDEX IF NOT EXISTS user_behavior_time_idx ON user_behavior (timestamp);

-- Published job results. A run is written into a staging table and swapped in
-- by renaming inside one transaction, so readers see one whole run at a time.
CREATE TABLE IF NOT EXISTS item_similarity (
  item_id          INT NOT NULL,
  similar_item_id  INT NOT NULL,
  similarity_score DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (item_id, similar_item_id)
);
CREATE TABLE IF NOT EXISTS user_similarity (
  user_id          INT NOT NULL,
  similar_user_id  INT NOT NULL,
  similarity_score DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (user_id, similar_user_id)
);

-- One row per job run; servers poll it to pick up newly published results.
CREATE TABLE IF NOT EXISTS job_runs (
  run_id      BIGSERIAL PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('item_similarity', 'user_similarity', 'embeddings')),
  status      TEXT NOT NULL CHECK (status IN ('running', 'published', 'failed')),
  started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  rows        BIGINT NOT NULL DEFAULT 0,
  params      TEXT NOT NULL DEFAULT '',
  error       TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_kind_idx ON job_runs (kind, status, run_id DESC);
