# Benchmark `serving` (sourced by scripts/bench): wrk against `recd serve
# --role all` and against the seed app, one server at a time, on the same data
# (the serving data set), same machine: recommend uncached and cached, behavior
# ingestion at BENCH_CONNS connections, then single-request latency (1
# connection); then nginx serving a cached answer's bytes as a static file to
# the same wrk script, and every row as a ratio of nginx's rate. wrk runs on
# the same cores as the server. Once per data set of BENCH_SERVING_SETS (a
# full run: seedgen-3m, then ml100k's long histories); results go to
# SRV[<set>/<system>,<row>] for the targets table.

bench_serving() {
  local set first=1
  md ""; md "## 2. Serving under load"
  for set in "${BENCH_SERVING_SETS[@]}"; do
    serving_on "$set" "$first"; first=0
  done
}

serving_on() { # dataset first(1|0)
  local set=$1
  dataset_ready "$set" || { md ""; md "### $set: skipped (not available)"; return 0; }
  local sys port hot=$((DS_USERS < 500 ? DS_USERS : 500))
  md ""; md "### $set ($DS_USERS users, $DS_ITEMS items, $DS_EVENTS events)"; md ""
  (($2)) && md "wrk ${BENCH_WRK_SECONDS} s per row, random users 1..$DS_USERS (items 1..$DS_ITEMS for behaviors; the cached row: users 1..$hot, after a warm-up over them of 3 s for recd and ${BENCH_WRK_SECONDS} s for the slower seed), limit 50; one server at a time. **wrk shares the $(nproc) cores with the server** (and PostgreSQL/Redis), so these are lower bounds of what the server alone would do. Behaviors are durable: answered after COMMIT (fsync on) by both systems. Latencies in ms; errors = non-2xx + socket errors + timeouts. CPU per request = user + system time over the run / requests answered, of the server process (recd serve, or the seed's Python process) and of this run's PostgreSQL (all its processes, exited backends included; Redis is not counted): steadier than req/s on a shared machine."
  (($2)) || md "As above: wrk ${BENCH_WRK_SECONDS} s per row, random users 1..$DS_USERS, the cached row over users 1..$hot, limit 50."
  local systems=(recd)
  have_seed && { dataset_seed_tables "$set"; systems+=(seed); }
  for sys in "${systems[@]}"; do
    if [ "$sys" = recd ]; then start_recd_serve "$set"; port=$RECD_SERVE_PORT; WRK_CPU_PID=$RECD_SERVE_PID
    else start_seed_app "$set"; port=$SEED_SERVE_PORT; WRK_CPU_PID=$SEED_SERVE_PID; fi
    local e=(USERS="$DS_USERS" ITEMS="$DS_ITEMS")
    # Warm up (caches, connections), not measured.
    run_wrk "$sys-warmup" "$port" recommend.lua 8 2 "${e[@]}" CACHE=false
    unset 'BENCH_CMDS[${#BENCH_CMDS[@]}-1]'
    run_wrk "$sys-uncached" "$port" recommend.lua "$BENCH_CONNS" "$BENCH_WRK_SECONDS" "${e[@]}" CACHE=false
    SRV[$set/$sys,uncached]="$(wrk_cells | paste -sd'|')"
    # Cached: a hot set of users, warmed first (random users over the whole
    # shop would mostly miss: each is asked about once in a run).
    run_wrk "$sys-cache-warmup" "$port" recommend.lua 8 "$([ "$sys" = seed ] && echo "$BENCH_WRK_SECONDS" || echo 3)" USERS="$hot" CACHE=true
    unset 'BENCH_CMDS[${#BENCH_CMDS[@]}-1]'
    run_wrk "$sys-cached" "$port" recommend.lua "$BENCH_CONNS" "$BENCH_WRK_SECONDS" USERS="$hot" CACHE=true
    SRV[$set/$sys,cached]="$(wrk_cells | paste -sd'|')"
    # One cached answer: the body nginx serves below, the same size.
    [ "$sys" = recd ] && curl -s "127.0.0.1:$port/api/recommend/1?limit=50&use_cache=true" > "$BENCH_OUT/cached-answer.json"
    run_wrk "$sys-single" "$port" recommend.lua 1 "$BENCH_WRK_SECONDS" "${e[@]}" CACHE=false
    SRV[$set/$sys,single]="$(wrk_cells | paste -sd'|')"
    run_wrk "$sys-behavior" "$port" behavior.lua "$BENCH_CONNS" "$BENCH_WRK_SECONDS" "${e[@]}"
    SRV[$set/$sys,behavior]="$(wrk_cells | paste -sd'|')"
    if [ "$sys" = recd ]; then SRV[$set/recd,rss]=$(rss_mib "$RECD_SERVE_PID"); fi
    bench_stop_all; WRK_CPU_PID=""
  done
  # The uncached row again with a lighter serving profile (fewer candidates
  # per route and neighbours per item), to show what the quality defaults cost;
  # docs/quality.md has that profile's NDCG.
  start_recd_serve "$set" RECD_RECOMMEND_PER_ROUTE=50 RECD_RECOMMEND_NEIGHBOURS=100
  BENCH_CMDS[${#BENCH_CMDS[@]}-1]="RECD_RECOMMEND_PER_ROUTE=50 RECD_RECOMMEND_NEIGHBOURS=100 ${BENCH_CMDS[${#BENCH_CMDS[@]}-1]}"
  WRK_CPU_PID=$RECD_SERVE_PID
  run_wrk "recd-lean-warmup" "$RECD_SERVE_PORT" recommend.lua 8 2 USERS="$DS_USERS" CACHE=false
  unset 'BENCH_CMDS[${#BENCH_CMDS[@]}-1]'
  run_wrk "recd-lean-uncached" "$RECD_SERVE_PORT" recommend.lua "$BENCH_CONNS" "$BENCH_WRK_SECONDS" USERS="$DS_USERS" CACHE=false
  SRV[$set/recd-lean,lean]="$(wrk_cells | paste -sd'|')"
  bench_stop_all; WRK_CPU_PID=""
  # The HTTP ceiling: nginx answering a cached answer's bytes as a static
  # file to the same wrk script and connections, in this run.
  local nginx_bytes=0 nginx_rps=""
  if [ -s "$BENCH_OUT/cached-answer.json" ]; then
    nginx_bytes=$(wc -c < "$BENCH_OUT/cached-answer.json")
    start_nginx_static "$BENCH_OUT/cached-answer.json"
    run_wrk "nginx-warmup" "$NGINX_PORT" recommend.lua 8 2 USERS="$DS_USERS" CACHE=false
    unset 'BENCH_CMDS[${#BENCH_CMDS[@]}-1]'
    run_wrk "nginx-static" "$NGINX_PORT" recommend.lua "$BENCH_CONNS" "$BENCH_WRK_SECONDS" USERS="$DS_USERS" CACHE=false
    SRV[$set/nginx,static]="$(wrk_cells | paste -sd'|')"
    nginx_rps=$(cut -d'|' -f1 <<< "${SRV[$set/nginx,static]}" | tr -d ,)
    bench_stop_all
  fi
  # x nginx: a row's req/s over nginx's static-file req/s in this run (the
  # recommend rows at BENCH_CONNS connections, which nginx ran with).
  of_nginx() {
    local rps; rps=$(tr -d , <<< "$1")
    [[ $rps =~ ^[0-9]+$ && $nginx_rps =~ ^[0-9]+$ ]] && ((nginx_rps > 0)) && echo "$(ratio3 "$rps/$nginx_rps")x"
    return 0
  }
  md ""
  md_row "request" "system" "req/s" "p50" "p99" "p99.9" "errors" "server process CPU per request (us)" "PostgreSQL CPU per request (us)" "recd / seed (req/s)" "x nginx static file (req/s)"
  md_row "---" "---" "---" "---" "---" "---" "---" "---" "---" "---" "---"
  local row label
  for row in uncached cached behavior single; do
    case $row in
      uncached) label="recommend, uncached, $BENCH_CONNS conn." ;;
      cached) label="recommend, cached ($hot hot users), $BENCH_CONNS conn." ;;
      behavior) label="POST behavior (durable), $BENCH_CONNS conn." ;;
      single) label="recommend uncached, 1 connection" ;;
    esac
    for sys in "${systems[@]}"; do
      IFS='|' read -r rps p50 p99 p999 err cpu pgcpu <<< "${SRV[$set/$sys,$row]}"
      local ratio=""
      if [ "$sys" = recd ] && have_seed; then
        local srps; srps=$(cut -d'|' -f1 <<< "${SRV[$set/seed,$row]}" | tr -d ,)
        [[ $srps =~ ^[0-9]+$ ]] && ((srps > 0)) && ratio="$(calc "$(tr -d , <<< "$rps")/$srps")x"
      fi
      md_row "$label" "$sys" "$rps" "$p50" "$p99" "$p999" "$err" "$cpu" "$pgcpu" "$ratio" "$([[ $row == uncached || $row == cached ]] && of_nginx "$rps")"
    done
  done
  IFS='|' read -r rps p50 p99 p999 err cpu pgcpu <<< "${SRV[$set/recd-lean,lean]}"
  md_row "recommend, uncached, $BENCH_CONNS conn., per_route 50 + 100 neighbours" "recd" "$rps" "$p50" "$p99" "$p999" "$err" "$cpu" "$pgcpu" "" "$(of_nginx "$rps")"
  if [ -n "${SRV[$set/nginx,static]:-}" ]; then
    IFS='|' read -r rps p50 p99 p999 err cpu pgcpu <<< "${SRV[$set/nginx,static]}"
    md_row "static file of a cached answer's $nginx_bytes bytes, $BENCH_CONNS conn. (the HTTP ceiling)" "nginx" "$rps" "$p50" "$p99" "$p999" "$err" "" "" "" "1x"
  fi
  md ""; md "recd serve resident memory after the runs: ${SRV[$set/recd,rss]} MiB."
  flush_cmds
}
