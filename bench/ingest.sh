# Benchmark `ingest` (sourced by scripts/bench): durable behavior events per
# second, one event per POST /api/behavior against batches of POST
# /api/behaviors (JSON and msgpack, a few sizes), side by side against the
# same `recd serve` in one run (bench/ingest_client.cpp). A counted event was
# answered 200, i.e. committed: recd acknowledges after COMMIT. Each mode runs
# BENCH_INGEST_SECONDS (10; 3 with --quick); no event id, so every event is a new row
# (the writer COPYs such batches), except msgpack_ids: every event has a new
# event id (the idempotent INSERT ... ON CONFLICT path).

bench_ingest() {
  local set=$BENCH_SERVING_SET
  dataset_ready "$set" || { md ""; md "## Ingestion: skipped ($set not available)"; return 0; }
  read -r users items _ <<< "$(dataset_shape "$set")"
  local seconds=${BENCH_INGEST_SECONDS:-10} modes=${BENCH_INGEST_MODES:-single,json:100,json:1000,json:10000,msgpack:100,msgpack:1000,msgpack:10000,msgpack_ids:10000}
  if [ "${BENCH_MODE:-}" = quick ]; then seconds=${BENCH_INGEST_SECONDS:-3}; fi # CI's smoke check
  md ""; md "## Ingestion ($set)"; md ""
  md "Durable events per second: each mode for ${seconds} s against one \`recd serve --role all\` (2 shards), one after another in this run. \`single\`: one event per POST /api/behavior, $((4 * ${BENCH_INGEST_CONNECTIONS:-2})) keep-alive connections; batches: POST /api/behaviors with N random events, ${BENCH_INGEST_CONNECTIONS:-2} connections, encoded by the client (JSON text, or msgpack-c's packer) inside the timed loop; \`msgpack_ids\`: msgpack batches whose every event has a new event id (the idempotent path). Two writer connections (\`postgres.behavior_writers\`). Latency is per request. The machine may be shared with other builds: compare rows of the same run."
  md ""
  md_row "mode" "events / request" "connections" "durable events / s" "x single" "requests" "errors" "p50 (ms)" "p99 (ms)"
  md_row "---" "---" "---" "---" "---" "---" "---" "---" "---"
  start_recd_serve "$set" RECD_HTTP_MAX_BATCH_EVENTS=10000 RECD_POSTGRES_WRITER_QUEUE_MAX=40000
  local out single=""
  out=$("$RECD_BUILD/bench/ingest_client" "127.0.0.1:$RECD_SERVE_PORT" --users "$users" --items "$items" \
    --seconds "$seconds" --connections "${BENCH_INGEST_CONNECTIONS:-2}" --modes "$modes") || die "ingest_client failed"
  record_cmd "RECD_HTTP_MAX_BATCH_EVENTS=10000 RECD_POSTGRES_WRITER_QUEUE_MAX=40000 recd serve --role all   # $set"
  record_cmd "build/bench/ingest_client 127.0.0.1:PORT --users $users --items $items --seconds $seconds --connections ${BENCH_INGEST_CONNECTIONS:-2} --modes $modes"
  while read -r line; do
    local F_mode F_batch F_connections F_events_per_s F_requests F_errors F_p50_ms F_p99_ms
    eval "$(tr ' ' '\n' <<< "$line" | sed -n 's/^\([a-z0-9_]*\)=\(.*\)$/F_\1=\2/p')"
    [ "$F_mode" = single ] && single=$F_events_per_s
    md_row "$F_mode" "$F_batch" "$F_connections" "$F_events_per_s" \
      "$([ -n "$single" ] && [ "$single" != 0 ] && calc "$F_events_per_s/$single" || echo -)" \
      "$F_requests" "$F_errors" "$F_p50_ms" "$F_p99_ms"
    [[ $F_mode != single ]] && { [ -z "${BENCH_INGEST_BEST:-}" ] || awk "BEGIN{exit !($F_events_per_s > $BENCH_INGEST_BEST)}"; } && BENCH_INGEST_BEST=$F_events_per_s
  done <<< "$out"
  bench_stop_all
  flush_cmds
}
