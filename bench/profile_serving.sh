#!/usr/bin/env bash
# Where the serving path spends its time: `recd serve --role all` under wrk
# (32 connections) while `perf record -g` samples it, then the top symbols
# (self time) and the top call chains into a file per load.
#   bench/profile_serving.sh [--set synth-small] [--seconds 10] [--system] [LOAD...]
# --system samples every process (perf record -a: PostgreSQL, Redis and wrk too)
# and adds the split by process name.
# LOAD: uncached (default), cached, behavior. Reports go to .run/profile-<load>.txt,
# perf data to .run/profile-<load>.data (kept for `perf report -i`).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$RECD_ROOT/bench/lib.sh"
set_name=synth-small secs=10 loads=() target=()
while (($#)); do
  case "$1" in
    --set) set_name="$2"; shift 2 ;;
    --seconds) secs="$2"; shift 2 ;;
    --system) target=(-a); shift ;;
    uncached|cached|behavior) loads+=("$1"); shift ;;
    -h|--help) sed -n "2,8p" "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
((${#loads[@]})) || loads=(uncached)
dataset_known "$set_name" || die "unknown data set '$set_name'"
command -v perf >/dev/null || die "perf is not installed (Debian: linux-perf)"
APT_PACKAGES="$APT_PACKAGES wrk"
ensure_packages
build_recd --target recd cooccurrence_limit
bench_private_servers; BENCH_REPORT=/dev/null
dataset_ready "$set_name"
start_recd_serve "$set_name"
for load in "${loads[@]}"; do
  e=(USERS="$DS_USERS" ITEMS="$DS_ITEMS")
  case $load in
    uncached) script=recommend.lua; e+=(CACHE=false) ;;
    cached) # a warmed hot set, as benchmark `serving` measures it
      script=recommend.lua; e=(USERS=$((DS_USERS < 500 ? DS_USERS : 500)) CACHE=true)
      run_wrk "profile-warmup" "$RECD_SERVE_PORT" "$script" 8 3 "${e[@]}" ;;
    behavior) script=behavior.lua ;;
  esac
  data="$RECD_ROOT/.run/profile-$load.data"; txt="$RECD_ROOT/.run/profile-$load.txt"
  ((${#target[@]})) || target=(-p "$RECD_SERVE_PID")
  perf record -F 999 -g "${target[@]}" -o "$data" -- sleep "$((secs + 1))" 2>/dev/null &
  perf_pid=$!
  sleep 0.5
  run_wrk "profile-$load" "$RECD_SERVE_PORT" "$script" 32 "$secs" "${e[@]}"
  wait "$perf_pid" || true
  {
    echo "# $load: wrk -c32 -d${secs}s on $set_name: $WRK_RPS req/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms"
    echo "# perf record -F 999 -g ${target[*]}; by process name:"
    perf report -i "$data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | sed 's/ *$//' | head -12 || true
    if ((${#target[@]} == 1)); then
      echo "# by process (recd serve is $RECD_SERVE_PID; this run's PostgreSQL backends: $(pgrep -d, -P "$(head -1 "$RECD_RUN/pg/data/postmaster.pid")"))"
      perf report -i "$data" --no-children --sort pid --stdio -g none 2>/dev/null | grep '%' | sed 's/ *$//' | head -15 || true
    fi
    echo "# self time by symbol:"
    perf report -i "$data" --no-children --sort symbol --stdio -g none --percent-limit 0.3 2>/dev/null |
      grep '%' | sed 's/ *$//' | cut -c1-160 | head -60 || true
    echo "# by shared object:"
    perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | sed 's/ *$//' | head -15 || true
    echo "# callers (children time) of the top user-space frames:"
    perf report -i "$data" --children --sort symbol --stdio -g none --percent-limit 3 2>/dev/null |
      grep '%' | sed 's/ *$//' | cut -c1-160 | head -50 || true
  } > "$txt"
  note "$load: $WRK_RPS req/s; profile in $txt"
done
