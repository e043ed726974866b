#!/usr/bin/env bash
# The offline jobs of recd and of the seed system on the same synthetic shop,
# side by side in one run: the seed's loader generates the events, recd imports
# the very same rows (`recd import csv`), then each system computes item and
# user similarity (the seed's item job as ONE batch, its corrected reading).
#   bench/compare_jobs.sh [USERS ITEMS EVENTS SEED]     default 100000 20000 3000000 1
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
U="${1:-100000}" I="${2:-20000}" E="${3:-3000000}" S="${4:-1}"
SEED="$RECD_ROOT/../shared/baseline/seed"
APT_PACKAGES="$APT_PACKAGES python3-psycopg2 python3-fastapi python3-redis python3-numpy"
ensure_packages
build_recd --target recd
recd="$RECD_BUILD/recd"
trap 'stop_redis; stop_postgres; cleanup_run' EXIT
start_postgres
start_redis
out="$RECD_RUN/out"; mkdir -p "$out"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB"
create_database recommendation_db
export SEED_PG_PORT=$RECD_PG_PORT SEED_REDIS_PORT=$RECD_REDIS_PORT SEED_DB=recommendation_db
(cd "$SEED" && /usr/bin/python3 load.py synth "$U" "$I" "$E" "$S")
create_database recd
export RECD_POSTGRES_URL="postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recd"
"$recd" migrate >/dev/null
psql "postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recommendation_db" -Atc \
  "COPY (SELECT user_id, item_id, behavior_type, extract(epoch from timestamp)::bigint FROM user_behavior ORDER BY id) TO STDOUT WITH CSV" > "$out/events.csv"
/usr/bin/time -f "recd import csv: %e s, max RSS %M KiB" "$recd" import csv "$out/events.csv"
echo "== synthetic shop: $U users, $I items, $E events =="
echo "seed  $(cd "$SEED" && /usr/bin/python3 similarity.py item 0)"
echo "seed  $(cd "$SEED" && /usr/bin/python3 similarity.py user)"
for shards in 1 2; do
  echo "recd --shards $shards (top_k 0, as the seed):"
  /usr/bin/time -f "  whole process: %e s, max RSS %M KiB" "$recd" compute --shards "$shards" \
    --jobs item_similarity,user_similarity --set user_similarity.top_k=0 2>"$out/err" || cat "$out/err"
  tail -1 "$out/err"
done
echo "recd embeddings (dim 32, 10 sweeps):"
/usr/bin/time -f "  whole process: %e s, max RSS %M KiB" "$recd" compute --jobs embeddings 2>"$out/err" || cat "$out/err"
tail -1 "$out/err"
psql "$RECD_POSTGRES_URL" -Atc "SELECT 'recd rows: item ' || (SELECT count(*) FROM item_similarity) || ', user ' || (SELECT count(*) FROM user_similarity)"
psql "postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recommendation_db" -Atc "SELECT 'seed rows: item ' || (SELECT count(*) FROM item_similarity) || ', user ' || (SELECT count(*) FROM user_similarity)"
