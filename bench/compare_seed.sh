#!/usr/bin/env bash
# Side-by-side measurement of recd and the seed system it replaces, on the same
# events, the same machine and in the same run (ratios, not absolute numbers).
#   bench/compare_seed.sh [ML100K_DIR] [DURATION_SECONDS]
# Needs the seed's Python dependencies (installed here from Debian) and wrk.
# Loads MovieLens 100k with the seed's own loader, copies the very same events
# into recd with `recd import csv`, runs both systems' jobs, then drives each
# server with wrk in turn (never both at once: they share the cores).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ML="${1:-$RECD_ROOT/../shared/datasets/ml-100k}"
DUR="${2:-15}"
SEED="$RECD_ROOT/../shared/baseline/seed"
[ -f "$ML/u.data" ] || die "MovieLens 100k not found in $ML"
APT_PACKAGES="$APT_PACKAGES wrk python3-fastapi python3-uvicorn python3-psycopg2 python3-redis python3-numpy"
ensure_packages
build_recd --target recd
recd="$RECD_BUILD/recd"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; stop_redis; stop_postgres; cleanup_run' EXIT
start_postgres
start_redis
out="$RECD_RUN/out"; mkdir -p "$out"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB"

# --- the seed -----------------------------------------------------------------
create_database recommendation_db
export SEED_PG_PORT=$RECD_PG_PORT SEED_REDIS_PORT=$RECD_REDIS_PORT SEED_DB=recommendation_db
(cd "$SEED" && /usr/bin/python3 load.py ml100k "$ML")
seed_item=$(cd "$SEED" && /usr/bin/python3 similarity.py item 0)
seed_user=$(cd "$SEED" && /usr/bin/python3 similarity.py user)
psql "postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recommendation_db" -q -f "$SEED/recommend_items.sql"

# --- recd on the same events --------------------------------------------------
create_database recd
export RECD_POSTGRES_URL="postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recd"
export RECD_REDIS_URL="redis://127.0.0.1:$RECD_REDIS_PORT/1"
"$recd" migrate >/dev/null
psql "postgresql://postgres@127.0.0.1:$RECD_PG_PORT/recommendation_db" -Atc \
  "COPY (SELECT user_id, item_id, behavior_type, extract(epoch from timestamp)::bigint FROM user_behavior ORDER BY id) TO STDOUT WITH CSV" > "$out/events.csv"
"$recd" import csv "$out/events.csv"
recd_jobs=$("$recd" compute --set user_similarity.top_k=0 2>/dev/null)

SEED_HTTP_PORT=$(free_port) ; RECD_PORT=$(free_port)
(cd "$SEED" && SEED_HTTP_PORT=$SEED_HTTP_PORT exec /usr/bin/python3 app.py) > "$out/seed.log" 2>&1 &
pids+=($!)
RECD_HTTP_ADDR=127.0.0.1:$RECD_PORT "$recd" serve > "$out/recd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "127.0.0.1:$RECD_PORT/readyz" >/dev/null 2>&1 && curl -fs "127.0.0.1:$SEED_HTTP_PORT/api/stats" >/dev/null 2>&1 && break
  sleep 0.3
done

run_wrk() { # name port script env...   (CONNS=16 unless set)
  local name=$1 port=$2 script=$3; shift 3
  env "$@" wrk -t"$(( ${CONNS:-16} > 1 ? 2 : 1 ))" -c"${CONNS:-16}" -d"${DUR}s" --latency -s "$SEED/$script" "http://127.0.0.1:$port" > "$out/$name.txt" 2>&1
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$out/$name.txt")
  p50=$(awk '/ 50%/{print $2}' "$out/$name.txt"); p99=$(awk '/ 99%/{print $2}' "$out/$name.txt")
  local errors; errors=$(awk '/Non-2xx|Socket errors/{print}' "$out/$name.txt" | tr '\n' ' ')
  printf '%-28s %10s req/s  p50 %8s  p99 %8s  %s\n' "$name" "$rps" "$p50" "$p99" "$errors"
}
echo
echo "== jobs (ml-100k) =="
echo "seed: $seed_item"
echo "seed: $seed_user"
echo "recd:"; echo "$recd_jobs"
echo
echo "== HTTP, wrk -t2 -c16 -d${DUR}s, one server at a time =="
run_wrk seed_recommend_uncached "$SEED_HTTP_PORT" recommend.lua USERS=943 CACHE=false
run_wrk recd_recommend_uncached "$RECD_PORT" recommend.lua USERS=943 CACHE=false
run_wrk seed_recommend_cached "$SEED_HTTP_PORT" recommend.lua USERS=943 CACHE=true
run_wrk recd_recommend_cached "$RECD_PORT" recommend.lua USERS=943 CACHE=true
run_wrk seed_behavior "$SEED_HTTP_PORT" behavior.lua USERS=943 ITEMS=1682
run_wrk recd_behavior "$RECD_PORT" behavior.lua USERS=943 ITEMS=1682
echo "== one connection (latency of a lone request) =="
CONNS=1 run_wrk seed_recommend_uncached_c1 "$SEED_HTTP_PORT" recommend.lua USERS=943 CACHE=false
CONNS=1 run_wrk recd_recommend_uncached_c1 "$RECD_PORT" recommend.lua USERS=943 CACHE=false
echo
echo "recd memory (RSS of recd serve): $(ps -o rss= -p "${pids[1]}" | awk '{printf "%.0f MiB", $1/1024}')"
