#!/usr/bin/env bash
# Two recd binaries side by side on the uncached recommend path, the way
# docs/benchmarks.md's serve3/serve4 sections measured them: one private
# PostgreSQL and Redis, each data set prepared once (with BEFORE's
# `recd compute`), then per round `BEFORE serve` and `AFTER serve` one at a
# time (wrk -t2 -c32, a 3 s warm-up, then SECONDS s): req/s, p99, recd's CPU
# per request from /proc (user + system of the server over the run / requests
# answered) and the load average. Then both servers at once are asked the
# same random users (use_cache=false, limit 50) and their answers compared
# (bench/compare_answers.py). Not a test: nothing here asserts a timing.
# --modes uncached,cached adds the cached row of scripts/bench (500 hot
# users, use_cache=true, after a 3 s warm-up over them); --cached: that one
# alone. More than two binaries: each round runs them in the order given (the
# answers compared are the first's and the last's; --env-after applies to all
# but the first).
#   bench/ab_serving.sh [--set NAME]... [--rounds 3] [--seconds 10] [--users 300]
#                       [--cached | --modes LIST] [--env-before K=V]... [--env-after K=V]...
#                       BEFORE AFTER [MORE...]
# NAME: a data set of bench/lib.sh (default: seedgen-3m ml100k). --env-*: settings
# for one side's server only (e.g. RECD_CLUSTER_SHARDS=1), so one binary can be
# compared with itself under two configurations.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$RECD_ROOT/bench/lib.sh"
sets=() rounds=3 secs=10 users=300 bins=() env0=() env1=() modes=(uncached)
while (($#)); do
  case "$1" in
    --set) sets+=("$2"); shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) secs="$2"; shift 2 ;;
    --users) users="$2"; shift 2 ;;
    --cached) modes=(cached); shift ;;
    --modes) IFS=',' read -r -a modes <<< "$2"; shift 2 ;;
    --env-before) env0+=("$2"); shift 2 ;;
    --env-after) env1+=("$2"); shift 2 ;;
    -h|--help) sed -n "2,22p" "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) bins+=("$(realpath "$1")"); shift ;;
  esac
done
((${#bins[@]} >= 2)) || die "give at least two recd binaries: BEFORE AFTER (see --help)"
for m in "${modes[@]}"; do [[ $m == uncached || $m == cached ]] || die "unknown mode '$m' (uncached, cached)"; done
for b in "${bins[@]}"; do [ -x "$b" ] || die "not an executable: $b"; done
((${#sets[@]})) || sets=(seedgen-3m ml100k)
for s in "${sets[@]}"; do dataset_known "$s" || die "unknown data set '$s'"; done
APT_PACKAGES="$APT_PACKAGES wrk"
# The seed's generator and loader prepare seedgen-* and ml100k (python3-psycopg2...).
have_seed && APT_PACKAGES="$APT_PACKAGES $BENCH_SEED_PACKAGES"
ensure_packages
bench_private_servers; BENCH_REPORT=/dev/null
recd=${bins[0]} # prepares and computes the data sets
for s in "${sets[@]}"; do
  dataset_ready "$s" || { note "skipping $s"; continue; }
  last=$((${#bins[@]} - 1))
  for r in $(seq "$rounds"); do
    for mode in "${modes[@]}"; do
      e=(USERS="$DS_USERS" ITEMS="$DS_ITEMS" CACHE=false)
      [ "$mode" = cached ] && e=(USERS="$((DS_USERS < 500 ? DS_USERS : 500))" CACHE=true)
      for side in $(seq 0 "$last"); do
        recd=${bins[$side]}
        if [ "$side" = 0 ]; then start_recd_serve "$s" "${env0[@]}"; else start_recd_serve "$s" "${env1[@]}"; fi
        run_wrk "ab-warm" "$RECD_SERVE_PORT" recommend.lua 32 3 "${e[@]}"
        WRK_CPU_PID=$RECD_SERVE_PID run_wrk "ab" "$RECD_SERVE_PORT" recommend.lua 32 "$secs" "${e[@]}"
        label=$([ "$side" = 0 ] && echo before || { [ "$side" = "$last" ] && echo after || echo "middle $side"; })
        printf '%s %s %s round %s %s (%s): %s req/s, p99 %s ms, recd CPU %s us/request, %s context switches/request, errors %s, load %s\n' \
          "$(date -u +%H:%M:%S)" "$s" "$mode" "$r" "$label" "$(basename "${bins[$side]}")" \
          "${WRK_RPS%.*}" "$WRK_P99" "$WRK_CPU_US" "$WRK_CSW" "$WRK_ERRORS" "$(cut -d' ' -f1 /proc/loadavg)"
        # The run directory goes at exit: keep wrk's own words on its errors.
        if [[ $WRK_ERRORS != 0 ]]; then
          kept="$RECD_ROOT/.run/ab-wrk-$(date -u +%H%M%S)-$s-$mode-r$r-$side.txt"
          cp "$WRK_OUT" "$kept" && note "wrk reported errors; its output: $kept"
        fi
        bench_stop_all
      done
    done
  done
  recd=${bins[0]}; start_recd_serve "$s" "${env0[@]}"; port_a=$RECD_SERVE_PORT
  recd=${bins[$last]}; start_recd_serve "$s" "${env1[@]}"; port_b=$RECD_SERVE_PORT
  printf '%s answers: ' "$s"
  python3 "$RECD_ROOT/bench/compare_answers.py" "$port_a" "$port_b" "$DS_USERS" "$users" 7
  bench_stop_all
done
