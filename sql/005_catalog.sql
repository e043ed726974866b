-- The catalog managed through the API (PUT/PATCH/DELETE /api/items/{id},
-- /api/users/{id}). Every seed column keeps its meaning; what is new:
--
-- items.categories   the item's categories as text (a shop's own names). The
--                    seed's category_id stays, kept in step by a trigger: a
--                    row written with only category_id gets categories =
--                    {category_id}; a row whose categories change gets
--                    category_id = its first numeric category (NULL if none).
-- items.labels       free labels (rules hide or boost by them).
-- items.hidden       never served while true (DELETE /api/items/{id} sets it
--                    and keeps the item's history).
-- items.available_from / available_until
--                    served only inside [from, until) (NULL: unbounded).
-- items.updated_at   the last catalog change (not the sales counter's).
-- items.catalog_epoch the catalog epoch of the item's last change through the
--                    API (0: imported, never changed); shards apply a pushed
--                    change only if it is newer than what they hold.
-- users.labels       the user's labels.
-- catalog_epoch      one row: the cluster-wide catalog epoch. Every catalog
--                    change (item write, user erasure) sets it to epoch + 1 in
--                    its own transaction; the row lock serialises those
--                    writers, so epochs are handed out in commit order and a
--                    snapshot that sees epoch E holds every change up to E.
--                    Shards load it and are pushed each new value; cached
--                    answers made at an older epoch are not served.
-- erased_users       users erased by DELETE /api/users/{id}: a job run that
--                    read its input before an erasure drops those users'
--                    rows before it publishes.
ALTER TABLE items ADD COLUMN IF NOT EXISTS categories TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE items ADD COLUMN IF NOT EXISTS labels TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE items ADD COLUMN IF NOT EXISTS hidden BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE items ADD COLUMN IF NOT EXISTS available_from TIMESTAMPTZ;
ALTER TABLE items ADD COLUMN IF NOT EXISTS available_until TIMESTAMPTZ;
ALTER TABLE items ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE items ADD COLUMN IF NOT EXISTS catalog_epoch BIGINT NOT NULL DEFAULT 0;
UPDATE items SET categories = ARRAY[category_id::text]
  WHERE category_id IS NOT NULL AND categories = '{}';

ALTER TABLE users ADD COLUMN IF NOT EXISTS labels TEXT[] NOT NULL DEFAULT '{}';

CREATE OR REPLACE FUNCTION recd_items_categories_in_step() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.categories IS NOT DISTINCT FROM OLD.categories THEN
    -- Only category_id was written (a seed-style writer).
    IF NEW.category_id IS DISTINCT FROM OLD.category_id THEN
      NEW.categories := CASE WHEN NEW.category_id IS NULL THEN '{}'::text[]
                             ELSE ARRAY[NEW.category_id::text] END;
    END IF;
  ELSIF TG_OP = 'INSERT' AND NEW.categories = '{}' THEN
    IF NEW.category_id IS NOT NULL THEN
      NEW.categories := ARRAY[NEW.category_id::text];
    END IF;
  ELSE
    NEW.category_id := (SELECT c::int FROM unnest(NEW.categories) WITH ORDINALITY AS t(c, n)
                        WHERE c ~ '^-?[0-9]{1,9}$' ORDER BY n LIMIT 1);
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS items_categories_insert ON items;
CREATE TRIGGER items_categories_insert BEFORE INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION recd_items_categories_in_step();
-- Only when a writer names either column: the behavior writer's sales_count
-- updates never run it.
DROP TRIGGER IF EXISTS items_categories_update ON items;
CREATE TRIGGER items_categories_update BEFORE UPDATE OF categories, category_id ON items
  FOR EACH ROW EXECUTE FUNCTION recd_items_categories_in_step();

CREATE TABLE IF NOT EXISTS catalog_epoch (
  one   BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
  epoch BIGINT NOT NULL CHECK (epoch >= 0)
);
INSERT INTO catalog_epoch (one, epoch) VALUES (true, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS erased_users (
  user_id   INT PRIMARY KEY CHECK (user_id >= 0),
  erased_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  epoch     BIGINT NOT NULL
);
-- Every shard loads the serving windows of every restricted item (hidden or
-- with an availability window), whichever partition owns it.
CREATE INDEX IF NOT EXISTS items_restricted_idx ON items (item_id)
  WHERE hidden OR available_from IS NOT NULL OR available_until IS NOT NULL;
-- A window is never inverted (a PATCH of one end is checked against the other).
ALTER TABLE items DROP CONSTRAINT IF EXISTS items_window_check;
ALTER TABLE items ADD CONSTRAINT items_window_check CHECK
  (available_from IS NULL OR available_until IS NULL OR available_until > available_from);
-- A shard's catalog poll reads the items changed after its epoch.
CREATE INDEX IF NOT EXISTS items_catalog_epoch_idx ON items (catalog_epoch) WHERE catalog_epoch > 0;
