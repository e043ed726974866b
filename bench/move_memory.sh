#!/usr/bin/env bash
# Resident memory of a shard node before and after a move, for one or two
# recd binaries (docs/benchmarks.md, "Memory that follows the data"): one
# private PostgreSQL and Redis, the data set prepared once (with the first
# binary's `recd import` and `recd compute`), then per binary and round a
# cluster of 1 coordinator and 2 shard nodes as scripts/cluster starts them:
# shard node 0 joins and loads every partition (its RSS), shard node 1 joins
# and half of the partitions move; node 0's RSS once it logged the drop, its
# peak (VmHWM), node 1's RSS, node 0's mappings, and the shards' `state`
# log lines. Not a test: nothing here asserts a figure.
#   bench/move_memory.sh [--set NAME] [--rounds 1] BINARY [BINARY]
# NAME: a data set of bench/lib.sh (default synth-3m).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$RECD_ROOT/bench/lib.sh"
set_name=synth-3m rounds=1 bins=()
while (($#)); do
  case "$1" in
    --set) set_name="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n "2,12p" "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) bins+=("$(realpath "$1")"); shift ;;
  esac
done
((${#bins[@]} >= 1 && ${#bins[@]} <= 2)) || die "give one or two recd binaries (see --help)"
for b in "${bins[@]}"; do [ -x "$b" ] || die "not an executable: $b"; done
dataset_known "$set_name" || die "unknown data set '$set_name'"
bench_private_servers; BENCH_REPORT=/dev/null
recd=${bins[0]}
dataset_ready "$set_name" || die "data set $set_name is not available"
echo "$set_name: $DS_EVENTS events; $(nproc) cores; load $(cut -d' ' -f1 /proc/loadavg)"

# Waits until a node's log has a line matching the pattern (a state the node
# reports, not a time).
wait_log() { # file pattern
  local until=$((SECONDS + 1800))
  until grep -q "$2" "$1" 2>/dev/null; do
    ((SECONDS < until)) || die "no '$2' in $1 after 30 minutes"
    sleep 0.5
  done
}

for r in $(seq "$rounds"); do
  for b in "${bins[@]}"; do
    recd=$b
    cluster_start "$set_name"
    cluster_add_shard 0
    cluster_wait_shards 1 1800 || die "shard node 0 did not get ready (see $BENCH_OUT/cl-shard-0.log)"
    wait_log "$BENCH_OUT/cl-shard-0.log" "state loaded"
    full=$(rss_mib "${CL_SHARDS[0]}")
    cluster_add_shard 1
    cluster_wait_shards 2 1800 || die "shard node 1 did not get ready (see $BENCH_OUT/cl-shard-1.log)"
    wait_log "$BENCH_OUT/cl-shard-0.log" "state after the drop"
    printf '%s round %s %s: node 0 with every partition %s MiB, after the drop %s MiB (peak %s MiB, %s mappings), node 1 %s MiB; load %s\n' \
      "$(date -u +%H:%M:%S)" "$r" "$b" "$full" "$(rss_mib "${CL_SHARDS[0]}")" "$(hwm_mib "${CL_SHARDS[0]}")" \
      "$(wc -l < "/proc/${CL_SHARDS[0]}/maps")" "$(rss_mib "${CL_SHARDS[1]}")" "$(cut -d' ' -f1 /proc/loadavg)"
    grep -h "state loaded\|state after the drop\|dropped" "$BENCH_OUT/cl-shard-0.log" | sed 's/^/  node 0: /'
    grep -h "state loaded" "$BENCH_OUT/cl-shard-1.log" | sed 's/^/  node 1: /'
    bench_stop_all
  done
done
