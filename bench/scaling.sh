# Benchmark `scaling` (sourced by scripts/bench): the same jobs (item + user
# similarity, top_k 0) run by a cluster of 1, 2 and 3 shard processes (a
# coordinator process drives them, `recd compute --coordinator`), and the cost
# of moving partitions when a shard node joins (1 -> 2 and 2 -> 3 shards):
# from the coordinator's "joined" log line to the map flip at a new epoch,
# divided by the partitions that moved (the new owner loads them from
# PostgreSQL before the flip, so this is mostly load time). On a 2-core machine more processes
# mean overhead, not speed-up: the table shows both the time and the ratio.

# Seconds between two coordinator log lines: first match of $1 after the
# last match of $2 ... printed as "<seconds>".
log_time() { # pattern -> epoch seconds (ms) of its last occurrence
  # (log lines start with "2026-11-27T07:30:45.123Z <level> ", nodes/logging.cpp)
  grep -E "$1" "$BENCH_OUT/cl-coordinator.log" | tail -1 |
    sed -n 's/^\([0-9-]*T[0-9:.]*\)Z .*/\1/p' | { read -r t && date -u -d "$t" +%s.%N; }
}

# Runs the jobs twice on the cluster and keeps the faster run (the first after
# a move also pays for cold caches). -> SC_ITEM SC_USER SC_WALL
scaling_compute() {
  local t0 out wall item user k
  SC_WALL=""
  for k in 1 2; do
    t0=$(date +%s.%N)
    out=$(RECD_CLUSTER_APP_ID="$CL_APP" RECD_POSTGRES_URL="$CL_DB_URL" "$recd" compute --coordinator "$CL_COORD" \
      --jobs item_similarity,user_similarity 2>&1) || { echo "$out" >&2; die "scaling: recd compute --coordinator failed"; }
    wall=$(calc "$(date +%s.%N) - $t0")
    item=$(echo "$out" | awk '$1 == "item_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $5}')
    user=$(echo "$out" | awk '$1 == "user_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $5}')
    if [ -z "$SC_WALL" ] || awk "BEGIN { exit !($item + $user < $SC_ITEM + $SC_USER) }"; then
      SC_WALL=$wall SC_ITEM=$item SC_USER=$user
    fi
  done
}

bench_scaling() {
  local set=$BENCH_SCALING_SET
  dataset_ready "$set" || { md ""; md "## 5. Scaling: skipped ($set not available)"; return 0; }
  md ""; md "## 5. Scaling ($set: $DS_USERS users, $DS_ITEMS items, $DS_EVENTS events)"; md ""
  md "One coordinator process and 1, 2, then 3 shard processes on loopback (the cluster grows; each join moves partitions). Jobs: \`recd compute --coordinator\` (item + user similarity, top_k 0; the faster of two runs); each shard node computes its partitions' rows and COPYs them itself. **On $(nproc) cores, more shard processes than cores is overhead, not speed-up.**"
  # The coordinator reads the job settings; all pairs kept, as in benchmark 1.
  # The seed's job definitions, as in the similarity benchmark.
  local jobs_env=(RECD_USER_SIMILARITY_TOP_K=0
                  RECD_ITEM_SIMILARITY_BEHAVIOR_TYPES=buy,cart RECD_ITEM_SIMILARITY_MIN_SALES=10
                  RECD_USER_SIMILARITY_BEHAVIOR_TYPES=buy,cart)
  cluster_start "$set" "${jobs_env[@]}"
  record_cmd "${jobs_env[*]} recd serve --role coordinator; recd serve --role shard (one more per step); recd compute --coordinator HOST:PORT --jobs item_similarity,user_similarity"
  local rows=() n
  for n in 1 2 3; do
    local t_join
    cluster_add_shard $((n - 1))
    cluster_wait_shards "$n" 1800 || die "scaling: $n shards did not get ready (see $BENCH_OUT/cl-*.log)"
    local move="" per=""
    if ((n > 1)); then
      local joined flipped moved
      joined=$(log_time "shard shard-$((n - 1)) joined")
      flipped=$(log_time "partition map epoch [0-9]+: $n shards")
      moved=$(cluster_map | python3 -c 'import json,sys; m=json.load(sys.stdin); print(sum(len(s["partitions"]) for s in m["shards"] if s["name"]==sys.argv[1]))' "shard-$((n - 1))")
      if [ -n "$joined" ] && [ -n "$flipped" ]; then
        move="$(calc "($flipped - $joined) * 1000") ms for $moved partitions"
        per="$(calc "($flipped - $joined) * 1000 / $moved") ms"
      fi
    fi
    scaling_compute
    rows+=("$n|$SC_ITEM|$SC_USER|$(calc "$SC_ITEM + $SC_USER")|$SC_WALL|$move|$per")
  done
  bench_stop_all
  md ""
  md_row "shard processes" "item similarity (s)" "user similarity (s)" "both (s)" "vs 1 shard" "recd compute wall (s)" "move when this shard joined" "per partition moved"
  md_row "---" "---" "---" "---" "---" "---" "---" "---"
  local r base=""
  for r in "${rows[@]}"; do
    IFS='|' read -r n it us both wall move per <<< "$r"
    [ -z "$base" ] && base=$both
    md_row "$n" "$it" "$us" "$both" "$(calc "$base / $both")x" "$wall" "${move:--}" "${per:--}"
  done
  flush_cmds
}
