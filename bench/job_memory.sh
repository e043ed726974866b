#!/usr/bin/env bash
# The coordinator's peak resident memory (VmHWM of /proc/PID/status) during
# `recd compute --coordinator` of the four similarity kinds (or --jobs) over a cluster of
# separate processes (1 coordinator, 2 shard nodes) on a synthetic shop, for
# one or two recd binaries (e.g. before and after a change), each on a fresh
# coordinator. Standalone: starts its own PostgreSQL and Redis (scripts/lib.sh).
#
#   bench/job_memory.sh [--events 3000000] [--users 100000] [--items 20000]
#                       [--jobs KIND,...] [--postgres-url URL] BINARY [BINARY...]
#
# --postgres-url: a database that already holds the shop (migrated with the
# binaries' schema), instead of a fresh PostgreSQL and an import.
#
# Prints one line per binary: events, wall seconds of the compute, the
# coordinator's VmHWM and each shard node's VmHWM in MiB.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
users=100000 items=20000 events=3000000
jobs=item_similarity,user_similarity,item_weights,user_neighbours
url=""
while [ $# -gt 0 ]; do
  case $1 in
    --users) users=$2; shift 2 ;;
    --items) items=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --postgres-url) url=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: bench/job_memory.sh [--events N --users N --items N] BINARY..."
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; stop_redis; stop_postgres; cleanup_run' EXIT
start_redis
imported=""
if [ -z "$url" ]; then
  imported=1
  start_postgres
  create_database shop
  url="postgresql://postgres@127.0.0.1:$RECD_PG_PORT/shop"
  RECD_POSTGRES_URL=$url "$1" migrate >/dev/null
  t0=$SECONDS
  RECD_POSTGRES_URL=$url "$1" import synthetic --users "$users" --items "$items" \
    --events "$events" --seed 1 >/dev/null
  log "imported $events events in $((SECONDS - t0)) s"
fi
hwm() { awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
for recd in "$@"; do
  # Ports reserved by this shell (scripts/lib.sh take_port), never in $( ).
  take_port coord_port; take_port admin_port; take_port shard0_port; take_port shard1_port
  take_port coord_http; take_port shard0_http; take_port shard1_http
  app="recd-jobmem-$$-$RANDOM"
  node() { # name role http-port [env...]
    local name=$1 role=$2 http=$3; shift 3
    env RECD_POSTGRES_URL="$url" RECD_REDIS_URL="redis://127.0.0.1:$RECD_REDIS_PORT/3" \
      RECD_CLUSTER_COORDINATOR="127.0.0.1:$coord_port" RECD_CLUSTER_APP_ID="$app" \
      RECD_HTTP_ADDR="127.0.0.1:$http" RECD_ADMIN_ADDR=127.0.0.1:0 "$@" \
      "$recd" serve --role "$role" > "$RECD_RUN/$name.log" 2>&1 &
    pids+=("$!")
  }
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077; echo "$token" > "$RECD_RUN/admin.token")
  node coordinator coordinator "$coord_http" RECD_CLUSTER_PORT="$coord_port" \
    RECD_ADMIN_ADDR="127.0.0.1:$admin_port" \
    RECD_ADMIN_TOKEN_FILE="$RECD_RUN/admin.token"
  coordinator=${pids[-1]}
  node shard-0 shard "$shard0_http" RECD_CLUSTER_PORT="$shard0_port" RECD_CLUSTER_NODE_NAME=shard-0
  shard0=${pids[-1]}
  node shard-1 shard "$shard1_http" RECD_CLUSTER_PORT="$shard1_port" RECD_CLUSTER_NODE_NAME=shard-1
  shard1=${pids[-1]}
  # Until the map is ready, not moving, and both shards own partitions.
  until=$((SECONDS + 1800))
  until printf 'header = "Authorization: Bearer %s"\n' "$token" |
      curl -fs -K - "127.0.0.1:$admin_port/admin/cluster" 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
live = [s for s in m["shards"] if s["alive"] and s["partitions"]]
sys.exit(0 if m["ready"] and not m["moving"] and len(live) == 2 else 1)' 2>/dev/null; do
    ((SECONDS < until)) || die "the cluster did not get ready (logs in $RECD_RUN)"
    sleep 0.5
  done
  t0=$SECONDS
  RECD_POSTGRES_URL=$url RECD_CLUSTER_APP_ID="$app" "$recd" compute \
    --coordinator "127.0.0.1:$coord_port" \
    --jobs "$jobs" > "$RECD_RUN/compute.log" 2>&1 ||
    { tail -n 20 "$RECD_RUN/compute.log" "$RECD_RUN/coordinator.log"; die "compute failed with $recd"; }
  shop="$events events"
  [ -z "$imported" ] && shop="the database's shop"
  echo "$recd: $shop, compute $((SECONDS - t0)) s, coordinator VmHWM $(hwm "$coordinator") MiB," \
    "shard nodes $(hwm "$shard0") / $(hwm "$shard1") MiB"
  # Each job's own seconds, as `recd compute` printed them.
  awk '$2 ~ /^[0-9]+$/ && NF == 5' "$RECD_RUN/compute.log"
  stop_all
done
