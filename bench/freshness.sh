# Benchmark `freshness` (sourced by scripts/bench): the time from the 200 of
# POST /api/behavior (a buy of the user's top recommended item) to the first
# recommendation without that item (bench/freshness.py), cached recommend
# (use_cache=true: the cache must be invalidated too) and uncached, on recd and
# on the seed app (fewer samples: its answers take hundreds of ms).

bench_freshness() {
  local set=$BENCH_SERVING_SET
  dataset_ready "$set" || { md ""; md "## 3. Freshness: skipped ($set not available)"; return 0; }
  md ""; md "## 3. Freshness ($set)"; md ""
  md "One sample: GET the user's recommendation, POST a buy of its first item, then from the 200 ask again (one connection, back to back) until the item is gone. Time in ms from the 200 to the end of the reflecting answer; 'first answer' = how many samples were fresh on the very first ask after the 200."
  md ""
  md_row "system" "use_cache" "samples" "p50 (ms)" "p99 (ms)" "max (ms)" "first answer fresh" "stale after deadline" "errors"
  md_row "---" "---" "---" "---" "---" "---" "---" "---" "---"
  local sys cache port samples deadline
  local systems=(recd); have_seed && { dataset_seed_tables "$set"; systems+=(seed); }
  for sys in "${systems[@]}"; do
    if [ "$sys" = recd ]; then start_recd_serve "$set"; port=$RECD_SERVE_PORT; samples=$BENCH_FRESH_SAMPLES; deadline=5000
    else start_seed_app "$set"; port=$SEED_SERVE_PORT; samples=$BENCH_FRESH_SEED_SAMPLES; deadline=60000; fi
    for cache in true false; do
      local out
      out=$(python3 "$RECD_ROOT/bench/freshness.py" "127.0.0.1:$port" --users "$DS_USERS" \
        --samples "$samples" --cache "$cache" --deadline-ms "$deadline" --seed "$([ $cache = true ] && echo 1 || echo 2)") ||
        die "freshness.py failed against $sys"
      record_cmd "python3 bench/freshness.py 127.0.0.1:PORT --users $DS_USERS --samples $samples --cache $cache --deadline-ms $deadline   # $sys"
      local samples_n p50 p99 mx first stale errors
      eval "$(echo "$out" | sed -n 's/^\([a-z0-9_]*\)=\(.*\)$/F_\1=\2/p')"
      md_row "$sys" "$cache" "$F_samples" "$F_p50_ms" "$F_p99_ms" "$F_max_ms" "$F_first_answer_fresh of $F_samples" "$F_stale" "$F_errors"
      if [ "$sys" = recd ] && [ "$cache" = true ]; then BENCH_FRESH_P99=$F_p99_ms; BENCH_FRESH_STALE=$F_stale; fi
    done
    bench_stop_all
  done
  flush_cmds
}
