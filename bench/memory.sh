# Benchmark `memory` (sourced by scripts/bench): resident memory (VmRSS from
# /proc) of each node kind of a cluster of separate processes (1 coordinator,
# 2 shard nodes, 1 API node, as scripts/cluster starts them), once on an empty
# database (the process baseline) and once per data set after the shards have
# loaded their partitions and the jobs' results, per million events in
# user_behavior.

# Starts the cluster on a data set, computes if it holds events, and prints
# "coordinator shard0 shard1 api" RSS in MiB.
memory_cluster_rss() { # dataset
  cluster_start "$1"
  cluster_add_shard 0; cluster_add_shard 1; cluster_add_api
  cluster_wait_shards 2 1800 || die "memory: the cluster did not get ready (logs in $BENCH_OUT/cl-*.log)"
  wait_http "$CL_API_PORT" /readyz 300 || die "memory: the API node did not get ready"
  # Warm the API node's paths a little so its steady state counts.
  curl -fs "127.0.0.1:$CL_API_PORT/api/recommend/1?limit=50" >/dev/null || true
  sleep 1
  echo "$(rss_mib "$CL_COORD_PID") $(rss_mib "${CL_SHARDS[0]}") $(rss_mib "${CL_SHARDS[1]}") $(rss_mib "${CL_APIS[0]}")"
  bench_stop_all
}

bench_memory() {
  md ""; md "## 4. Memory"; md ""
  md "VmRSS of each process of a cluster (1 coordinator, 2 shard nodes, 1 API node; separate processes on loopback), after the shards loaded their partitions (every user's history up to \`recommend.history_items\`, items, neighbour lists of the jobs' results, embeddings). Baseline: the same cluster on an empty database. MiB per million events = (RSS - baseline) / millions of events in user_behavior. Shard node 0 joins first and loads every partition before half of them move to shard node 1; the moved partitions' arenas are then unmapped whole (actors/partition_arena.hpp), so its RSS is close to its share (before the arenas, the memory it freed stayed in its heap)."
  # The empty database: migrated, no events.
  if [ ! -f "$BENCH_OUT/prepared-empty" ]; then
    create_database recd_empty
    RECD_POSTGRES_URL=$(pg_url recd_empty) "$recd" migrate >/dev/null
    touch "$BENCH_OUT/prepared-empty"
  fi
  local base; base=$(memory_cluster_rss empty)
  record_cmd "recd serve --role coordinator | shard (x2) | api, each with RECD_CLUSTER_COORDINATOR=..., as scripts/cluster starts them; RSS = VmRSS of /proc/PID/status"
  read -r b_c b_s0 b_s1 b_a <<< "$base"
  md ""
  md_row "data set" "events" "coordinator MiB" "shard node 0 MiB" "shard node 1 MiB" "API node MiB" "all shard nodes MiB" "shard MiB per M events (above baseline)"
  md_row "---" "---" "---" "---" "---" "---" "---" "---"
  md_row "empty (baseline)" "0" "$b_c" "$b_s0" "$b_s1" "$b_a" "$((b_s0 + b_s1))" ""
  local set
  for set in "${BENCH_MEMORY_SETS[@]}"; do
    dataset_ready "$set" || { md_row "$set" "skipped (not available)" "" "" "" "" "" ""; continue; }
    read -r c s0 s1 a <<< "$(memory_cluster_rss "$set")"
    local per; per=$(calc "(($s0 + $s1) - ($b_s0 + $b_s1)) / ($DS_EVENTS / 1000000)")
    md_row "$set" "$DS_EVENTS" "$c" "$s0" "$s1" "$a" "$((s0 + s1))" "$per"
    BENCH_MEM_LAST_SET=$set BENCH_MEM_LAST_SHARDS=$((s0 + s1)) BENCH_MEM_PER_M=$per BENCH_MEM_BASE=$((b_s0 + b_s1))
  done
  flush_cmds
}
