-- Idempotent behaviors: an optional client-supplied event id (1..128
-- printable ASCII characters). A retry with the same id is answered with the
-- first row's id and stores nothing; the unique index enforces it across
-- writers (several API nodes).
ALTER TABLE user_behavior ADD COLUMN IF NOT EXISTS event_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS user_behavior_event_id_idx
  ON user_behavior (event_id) WHERE event_id IS NOT NULL;
