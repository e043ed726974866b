-- The seed's tables keep the seed's meaning (item_similarity: Jaccard over
-- buy/cart users of 90 days; user_similarity: cosine over buy/cart items of
-- users active in 30 days). What recall learns from the whole history gets
-- tables of its own, with the same columns:
--   item_weights     EASE item-item weights (job item_weights)
--   user_neighbours  user cosine over every behavior type (job user_neighbours)
CREATE TABLE IF NOT EXISTS item_weights (
  item_id          INT NOT NULL,
  similar_item_id  INT NOT NULL,
  similarity_score DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (item_id, similar_item_id)
);
CREATE TABLE IF NOT EXISTS user_neighbours (
  user_id          INT NOT NULL,
  similar_user_id  INT NOT NULL,
  similarity_score DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (user_id, similar_user_id)
);
ALTER TABLE job_runs DROP CONSTRAINT IF EXISTS job_runs_kind_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_kind_check CHECK (kind IN
  ('item_similarity', 'user_similarity', 'embeddings', 'item_weights', 'user_neighbours'));
