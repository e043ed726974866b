# Shared by scripts/bench and the bench/*.sh benchmarks it sources: data sets
# loaded into the SAME private PostgreSQL for recd and for the seed system,
# the seed app and recd servers started and stopped, wrk runs, and the
# markdown report. Source scripts/lib.sh first; this file defines functions
# and variables only.

BENCH_SEED_DIR="${RECD_BENCH_SEED_DIR:-$RECD_ROOT/../shared/baseline/seed}"
BENCH_DATASETS_DIR="${RECD_BENCH_DATASETS_DIR:-$RECD_ROOT/../shared/datasets}"
BENCH_PIDS=()            # servers started by a benchmark; stopped by bench_stop_all
BENCH_REPORT=""          # the markdown report being written (set by scripts/bench)
BENCH_OUT=""             # scratch files of this run (under $RECD_RUN)
recd="$RECD_BUILD/recd"
limit_bin="$RECD_BUILD/bench/cooccurrence_limit"

# The seed system needs its folder and its Python dependencies (from Debian).
BENCH_SEED_PACKAGES="python3-fastapi python3-uvicorn python3-psycopg2 python3-redis python3-numpy"

# ---- report ------------------------------------------------------------------

md() { printf '%s\n' "$*" | tee -a "$BENCH_REPORT"; }
note() { printf '[bench] %s\n' "$*" >&2; }

# One markdown row from its cells: md_row a b c  ->  | a | b | c |
md_row() { local s="|"; for c in "$@"; do s+=" $c |"; done; md "$s"; }

# Commands as run, for the report: `cmd_block cmd...` adds one line per call.
BENCH_CMDS=()
record_cmd() { BENCH_CMDS+=("$*"); }
flush_cmds() {
  ((${#BENCH_CMDS[@]})) || return 0
  md ""; md "Commands run (in \`$RECD_ROOT\`):"; md ""; md '```'
  for c in "${BENCH_CMDS[@]}"; do md "$c"; done
  md '```'; BENCH_CMDS=()
}

machine_line() {
  local model cores mem
  model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
  cores=$(nproc)
  mem=$(awk '/MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)
  printf '%s cores, %s, %s GiB RAM, %s, kernel %s' "$cores" "$model" "$mem" \
    "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
}

# Arithmetic with awk: calc '<expr>' (e.g. calc '3.2/0.1'); prints %.3g-ish.
calc() { awk "BEGIN { x = $1; if (x >= 100) printf \"%.0f\", x; else if (x >= 10) printf \"%.1f\", x; else printf \"%.2f\", x }"; }
ratio3() { awk "BEGIN { printf \"%.3g\", $1 }"; } # three significant digits: 0.0516, 0.71
# Rate with thousands: 1234567 -> 1.23e+06 style kept short
sci() { awk -v x="$1" 'BEGIN { printf "%.3g", x }'; }
met() { # met <condition as awk expr> -> "met" / "missed" (quick runs: not judged)
  [ "${BENCH_MODE:-}" = quick ] && { echo "not judged (quick: tiny data)"; return; }
  awk "BEGIN { exit !($1) }" && echo "**met**" || echo "**missed**"
}

# ---- data sets ---------------------------------------------------------------
# name -> users items events (synthetic) or a MovieLens folder.
dataset_shape() {
  case "$1" in
    synth-tiny) echo "3000 600 60000" ;;
    synth-small) echo "20000 4000 300000" ;;
    synth-3m) echo "100000 20000 3000000" ;;
    synth-30m) echo "1000000 100000 30000000" ;;
    seedgen-tiny) echo "3000 600 60000" ;;
    seedgen-3m) echo "100000 20000 3000000" ;;
    ml100k) echo "943 1682 100000" ;;
    *) return 1 ;;
  esac
}
dataset_known() { dataset_shape "$1" >/dev/null; }
dataset_db() { echo "recd_${1//-/_}"; }
seed_db() { echo "seed_${1//-/_}"; }
pg_url() { echo "postgresql://postgres@127.0.0.1:$RECD_PG_PORT/$1"; }

have_seed() {
  [ -f "$BENCH_SEED_DIR/app.py" ] && [ -f "$BENCH_SEED_DIR/similarity.py" ]
}
have_ml100k() { [ -f "$BENCH_DATASETS_DIR/ml-100k/u.data" ]; }

# Loads a data set once per run into recd's database and, when the seed is
# present, the very same rows into the seed's schema in another database of
# the same PostgreSQL. Synthetic shops come from `recd import synthetic`
# (the seed's loader is Python and needs minutes and GBs for 30M events); the
# seed gets recd's rows with `COPY` and its tables built as its loader builds
# them. MovieLens and the seed's own generator (seedgen-*: `load.py synth U I E
# 1`, the data of the seed's published figures) go the other way: the seed's
# loader, then `recd import csv` of exactly its rows. Returns 1 (with a
# message) when ml-100k is absent.
dataset_prepare() {
  local name=$1 db sdb
  db=$(dataset_db "$name"); sdb=$(seed_db "$name")
  [ -f "$BENCH_OUT/prepared-$name" ] && return 0
  read -r DS_USERS DS_ITEMS DS_EVENTS < <(dataset_shape "$name")
  if [ "$name" = ml100k ] && ! have_ml100k; then
    note "MovieLens 100k not found in $BENCH_DATASETS_DIR/ml-100k: skipping ml100k"; return 1
  fi
  if { [ "$name" = ml100k ] || [[ $name == seedgen-* ]]; } && ! have_seed; then
    note "$name needs the seed's loader in $BENCH_SEED_DIR: skipping $name"; return 1
  fi
  create_database "$db"
  local t0=$SECONDS
  if [ "$name" = ml100k ] || [[ $name == seedgen-* ]]; then
    local load_args=(ml100k "$BENCH_DATASETS_DIR/ml-100k")
    [ "$name" = ml100k ] || load_args=(synth "$DS_USERS" "$DS_ITEMS" "$DS_EVENTS" 1)
    create_database "$sdb"
    (cd "$BENCH_SEED_DIR" && SEED_PG_PORT=$RECD_PG_PORT SEED_DB=$sdb /usr/bin/python3 load.py "${load_args[@]}") 2>&1 | sed 's/^/  seed: /' >&2
    record_cmd "(cd $BENCH_SEED_DIR && SEED_DB=$sdb python3 load.py ${load_args[*]})"
    RECD_POSTGRES_URL=$(pg_url "$db") "$recd" migrate >/dev/null
    psql "$(pg_url "$sdb")" -Atc "COPY (SELECT user_id, item_id, behavior_type, extract(epoch from timestamp)::bigint FROM user_behavior ORDER BY id) TO STDOUT WITH CSV" > "$BENCH_OUT/$name.csv"
    RECD_POSTGRES_URL=$(pg_url "$db") "$recd" import csv "$BENCH_OUT/$name.csv" >&2
    record_cmd "recd import csv <the seed's rows: user_id,item_id,behavior_type,epoch>"
  else
    RECD_POSTGRES_URL=$(pg_url "$db") "$recd" migrate >/dev/null
    RECD_POSTGRES_URL=$(pg_url "$db") "$recd" import synthetic --users "$DS_USERS" --items "$DS_ITEMS" --events "$DS_EVENTS" --seed 1 >&2
    record_cmd "recd migrate && recd import synthetic --users $DS_USERS --items $DS_ITEMS --events $DS_EVENTS --seed 1"
    if have_seed; then
      create_database "$sdb"
      psql "$(pg_url "$sdb")" -q -v ON_ERROR_STOP=1 -f "$BENCH_SEED_DIR/schema.sql" >/dev/null 2>&1
      psql "$(pg_url "$db")" -Atc "COPY (SELECT user_id, item_id, behavior_type, timestamp FROM user_behavior ORDER BY id) TO STDOUT" |
        psql "$(pg_url "$sdb")" -q -v ON_ERROR_STOP=1 -c "COPY user_behavior (user_id, item_id, behavior_type, timestamp) FROM STDIN"
      psql "$(pg_url "$db")" -Atc "COPY (SELECT item_id, title, price, rating, sales_count, category_id, brand_id FROM items ORDER BY item_id) TO STDOUT" |
        psql "$(pg_url "$sdb")" -q -v ON_ERROR_STOP=1 -c "COPY items (item_id, title, price, rating, sales_count, category_id, brand_id) FROM STDIN"
      psql "$(pg_url "$sdb")" -q -v ON_ERROR_STOP=1 -c "INSERT INTO users SELECT DISTINCT user_id FROM user_behavior" -c "ANALYZE" >/dev/null
      record_cmd "psql: COPY recd's user_behavior and items into the seed's schema (schema.sql); INSERT INTO users SELECT DISTINCT user_id FROM user_behavior; ANALYZE"
    fi
  fi
  if have_seed; then
    psql "$(pg_url "$sdb")" -q -v ON_ERROR_STOP=1 -f "$BENCH_SEED_DIR/recommend_items.sql" >/dev/null
  fi
  DS_EVENTS=$(psql "$(pg_url "$db")" -Atc "SELECT count(*) FROM user_behavior")
  # An import that failed (e.g. the seed's loader without its packages)
  # leaves an empty shop: measuring it would report figures of nothing.
  [ "${DS_EVENTS:-0}" -gt 0 ] || die "data set $name came out empty: its import failed (see above)"
  note "data set $name ready in $((SECONDS - t0)) s ($DS_EVENTS events)"
  touch "$BENCH_OUT/prepared-$name"
}

# Sets DS_USERS DS_ITEMS DS_EVENTS for a prepared data set.
dataset_use() {
  read -r DS_USERS DS_ITEMS DS_EVENTS < <(dataset_shape "$1")
  DS_EVENTS=$(psql "$(pg_url "$(dataset_db "$1")")" -Atc "SELECT count(*) FROM user_behavior")
}

# recd's jobs computed once (all three), so servers have something to serve.
# Prepares a data set, makes it the current one and computes recd's jobs on
# it: what every serving-side benchmark needs first. Returns 1 if the set is
# not available (the caller reports the skip).
dataset_ready() { # dataset
  dataset_prepare "$1" || return 1
  dataset_use "$1"
  dataset_compute_recd "$1"
}

dataset_compute_recd() {
  local name=$1
  [ -f "$BENCH_OUT/computed-$name" ] && return 0
  RECD_POSTGRES_URL=$(pg_url "$(dataset_db "$name")") "$recd" compute >/dev/null 2>"$BENCH_OUT/compute.err" ||
    { cat "$BENCH_OUT/compute.err" >&2; die "recd compute failed on $name"; }
  touch "$BENCH_OUT/computed-$name"
}

# The seed serves from its similarity tables. If its own jobs did not run in
# this run (the user job alone takes minutes), they get recd's results, which
# are the same relation (tests/jobs_test.cpp checks the pairs and scores).
dataset_seed_tables() {
  local name=$1 sdb db n
  sdb=$(seed_db "$name"); db=$(dataset_db "$name")
  for t in item_similarity user_similarity; do
    n=$(psql "$(pg_url "$sdb")" -Atc "SELECT count(*) FROM $t")
    if [ "$n" = 0 ]; then
      psql "$(pg_url "$db")" -Atc "COPY (SELECT * FROM $t) TO STDOUT" |
        psql "$(pg_url "$sdb")" -q -c "COPY $t FROM STDIN"
      note "seed's $t was empty: filled with recd's results"
      record_cmd "psql: COPY recd's $t into the seed's $t (its own job did not run in this run)"
    fi
  done
}

# ---- servers -----------------------------------------------------------------

wait_http() { # port path [tries of 0.2 s]
  for _ in $(seq "${3:-300}"); do
    curl -fs "127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# recd serve --role all on a data set; sets RECD_SERVE_PID and RECD_SERVE_PORT.
start_recd_serve() { # dataset [extra env...]
  local name=$1; shift
  local actor_port admin_port
  take_port RECD_SERVE_PORT; take_port actor_port; take_port admin_port
  env RECD_POSTGRES_URL="$(pg_url "$(dataset_db "$name")")" \
    RECD_REDIS_URL="redis://127.0.0.1:$RECD_REDIS_PORT/1" \
    RECD_HTTP_ADDR="127.0.0.1:$RECD_SERVE_PORT" RECD_CLUSTER_PORT="$actor_port" \
    RECD_ADMIN_ADDR="127.0.0.1:$admin_port" "$@" \
    "$recd" serve --role all > "$BENCH_OUT/recd-serve.log" 2>&1 &
  RECD_SERVE_PID=$!
  BENCH_PIDS+=("$RECD_SERVE_PID")
  wait_http "$RECD_SERVE_PORT" /readyz || { tail -20 "$BENCH_OUT/recd-serve.log" >&2; die "recd serve did not get ready"; }
  record_cmd "RECD_POSTGRES_URL=... RECD_REDIS_URL=redis://.../1 RECD_HTTP_ADDR=127.0.0.1:PORT recd serve --role all"
}

# The seed's FastAPI app on a data set; sets SEED_SERVE_PID and SEED_SERVE_PORT.
start_seed_app() { # dataset
  take_port SEED_SERVE_PORT
  (cd "$BENCH_SEED_DIR" && SEED_PG_PORT=$RECD_PG_PORT SEED_REDIS_PORT=$RECD_REDIS_PORT \
    SEED_DB="$(seed_db "$1")" SEED_HTTP_PORT=$SEED_SERVE_PORT exec /usr/bin/python3 app.py) \
    > "$BENCH_OUT/seed-app.log" 2>&1 &
  SEED_SERVE_PID=$!
  BENCH_PIDS+=("$SEED_SERVE_PID")
  wait_http "$SEED_SERVE_PORT" /api/stats || { tail -20 "$BENCH_OUT/seed-app.log" >&2; die "the seed app did not start"; }
  record_cmd "(cd $BENCH_SEED_DIR && SEED_DB=$(seed_db "$1") SEED_HTTP_PORT=PORT python3 app.py)"
}

# nginx serving one static file for every GET, as the HTTP ceiling of this
# machine: the same wrk scripts (same URLs, same connections) against it show
# how far recd's answers are from what the hardware and kernel allow for an
# answer of that size. Its own config under $BENCH_OUT/nginx (loopback only,
# no access log, keep-alive without a request limit, as recd keeps its
# connections, one worker per core); sets NGINX_PORT and NGINX_PID.
start_nginx_static() { # file: the body every request gets
  local dir="$BENCH_OUT/nginx"
  rm -rf "$dir"; mkdir -p "$dir/root" "$dir/tmp"
  cp "$1" "$dir/root/answer.json"
  take_port NGINX_PORT
  cat > "$dir/nginx.conf" <<CONF
worker_processes $(nproc);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root root;")
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  types { }
  default_type application/json;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $dir/root;
    location / { try_files /answer.json =404; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" > "$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  BENCH_PIDS+=("$NGINX_PID")
  wait_http "$NGINX_PORT" /api/recommend/1 || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "nginx did not start"; }
  record_cmd "nginx -c nginx.conf (static $(wc -c < "$1")-byte file for every GET on 127.0.0.1:PORT, $(nproc) workers)"
}

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

bench_stop_all() {
  local p
  for p in "${BENCH_PIDS[@]}"; do stop_pid "$p"; done
  BENCH_PIDS=()
}

# A bench script's private PostgreSQL and Redis (scripts/lib.sh), stopped with
# every server the script started when it exits; scratch files go to $BENCH_OUT.
bench_private_servers() {
  cleanup() { bench_stop_all; stop_redis; stop_postgres; cleanup_run; }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_postgres
  start_redis
  BENCH_OUT="$RECD_RUN/out"; mkdir -p "$BENCH_OUT"
}

rss_mib() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
hwm_mib() { awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# ---- a cluster of separate processes (as scripts/cluster starts them) --------

# Starts the coordinator on a data set; sets CL_COORD (host:port), CL_HTTP,
# CL_ADMIN (its admin port) and CL_ADMIN_TOKEN_FILE (a fresh random admin
# token, mode 600: it never appears in a process's arguments).
cluster_start() { # dataset [env for the coordinator...]
  CL_DB_URL=$(pg_url "$(dataset_db "$1")"); shift
  take_port CL_COORD_PORT; CL_COORD="127.0.0.1:$CL_COORD_PORT"; take_port CL_HTTP
  take_port CL_ADMIN; CL_ADMIN_TOKEN_FILE="$BENCH_OUT/admin.token"
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$CL_ADMIN_TOKEN_FILE")
  CL_APP="recd-bench-$$"; CL_SHARDS=(); CL_APIS=()
  cluster_node coordinator coordinator "$CL_HTTP" RECD_CLUSTER_PORT="$CL_COORD_PORT" \
    RECD_ADMIN_ADDR="127.0.0.1:$CL_ADMIN" RECD_ADMIN_TOKEN_FILE="$CL_ADMIN_TOKEN_FILE" "$@"
  CL_COORD_PID=$CL_LAST_PID
  wait_http "$CL_HTTP" /healthz 150 || die "the coordinator did not start (see $BENCH_OUT/cl-coordinator.log)"
  # A replica answers /healthz while it still stands by; /admin/cluster
  # answers 200 once it leads.
  local until=$((SECONDS + 60))
  until cluster_map >/dev/null 2>&1; do
    ((SECONDS < until)) || die "the coordinator does not lead (see $BENCH_OUT/cl-coordinator.log)"
    sleep 0.1
  done
}
cluster_node() { # name role http-port [env...]
  local name=$1 role=$2 http=$3; shift 3
  env RECD_POSTGRES_URL="$CL_DB_URL" RECD_REDIS_URL="redis://127.0.0.1:$RECD_REDIS_PORT/2" \
    RECD_CLUSTER_COORDINATOR="$CL_COORD" RECD_CLUSTER_APP_ID="$CL_APP" \
    RECD_HTTP_ADDR="127.0.0.1:$http" RECD_ADMIN_ADDR=127.0.0.1:0 "$@" "$recd" serve --role "$role" > "$BENCH_OUT/cl-$name.log" 2>&1 &
  CL_LAST_PID=$!
  BENCH_PIDS+=("$CL_LAST_PID")
}
cluster_add_shard() { # index -> CL_SHARDS += pid
  local i=$1 http actor
  take_port http; take_port actor
  cluster_node "shard-$i" shard "$http" RECD_CLUSTER_PORT="$actor" RECD_CLUSTER_NODE_NAME="shard-$i"
  CL_SHARDS+=("$CL_LAST_PID")
}
cluster_add_api() { local p; take_port p; cluster_node "api-${#CL_APIS[@]}" api "$p"; CL_APIS+=("$CL_LAST_PID"); CL_API_PORT=$p; }
# The coordinator's map as JSON (admin port; the token goes to curl on stdin,
# not in its arguments).
cluster_map() {
  printf 'header = "Authorization: Bearer %s"\n' "$(<"$CL_ADMIN_TOKEN_FILE")" |
    curl -fs -K - "127.0.0.1:$CL_ADMIN/admin/cluster"
}
# Waits until the map is ready, not moving, and has n live shards each owning partitions.
cluster_wait_shards() { # n [seconds]
  local n=$1 until=$((SECONDS + ${2:-600}))
  while ((SECONDS < until)); do
    if cluster_map 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin); n = int(sys.argv[1])
live = [s for s in m["shards"] if s["alive"] and s["partitions"]]
sys.exit(0 if m["ready"] and not m["moving"] and len(live) == n else 1)' "$n"; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# ---- wrk -----------------------------------------------------------------------

# CPU time (user + system) a process has used, in microseconds (/proc/PID/stat).
cpu_us() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Context switches (voluntary and not) of all of a process's threads so far:
# each is a thread going to sleep or being put off the core, which a request
# that crosses threads (HTTP thread, actors, shards) pays for.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { printf "%.0f", n }'
}

# CPU time of this run's PostgreSQL, in microseconds: the postmaster and its
# live children, plus what its exited children used (cutime/cstime, which the
# postmaster collects when it reaps them: the seed opens a connection per request).
pg_cpu_us() {
  local pm; pm=$(head -1 "$RECD_RUN/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return 0; }
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
    for c in $(pgrep -P "$pm" || true); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk -v hz="$(getconf CLK_TCK)" '{ t += $1 } END { printf "%.0f", t * 1e6 / hz }'
}

# run_wrk label port script conns seconds [env...]: one wrk run, result in WRK_* vars
# (WRK_RPS WRK_P50 WRK_P99 WRK_P999 in ms, WRK_ERRORS, WRK_REQUESTS). With
# WRK_CPU_PID set, WRK_CPU_US is that process's CPU time per request (us):
# steadier than req/s on a shared machine; WRK_PG_US is PostgreSQL's;
# WRK_CSW the process's context switches per request (threads that still
# run at the end only). WRK_OUT is wrk's own output.
run_wrk() {
  local label=$1 port=$2 script=$3 conns=$4 secs=$5; shift 5
  local threads=$((conns > 1 ? 2 : 1))
  local out="$BENCH_OUT/wrk-$label.txt" cpu0=0 csw0=0 pg0
  WRK_OUT=$out
  [ -n "${WRK_CPU_PID:-}" ] && { cpu0=$(cpu_us "$WRK_CPU_PID"); csw0=$(ctx_switches "$WRK_CPU_PID"); }
  pg0=$(pg_cpu_us)
  env "$@" wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s "$RECD_ROOT/bench/wrk/$script" \
    "http://127.0.0.1:$port" > "$out" 2>&1 || true
  record_cmd "$* wrk -t$threads -c$conns -d${secs}s --timeout 10s -s bench/wrk/$script http://127.0.0.1:PORT   # $label"
  local line; line=$(grep '^BENCH ' "$out" | tail -1)
  if [ -z "$line" ]; then
    note "wrk $label produced no result:"; tail -5 "$out" >&2
    WRK_RPS="-" WRK_P50="-" WRK_P99="-" WRK_P999="-" WRK_ERRORS="wrk failed" WRK_REQUESTS=0 WRK_CPU_US="-" WRK_PG_US="-"
    return 0
  fi
  eval "$(echo "$line" | cut -d' ' -f2- | tr ' ' '\n' | sed 's/^/WRK_/')"
  WRK_CPU_US="-" WRK_PG_US="-" WRK_CSW="-"
  ((WRK_REQUESTS > 0)) && WRK_PG_US=$(awk -v a="$pg0" -v b="$(pg_cpu_us)" -v n="$WRK_REQUESTS" 'BEGIN { printf "%.0f", (b - a) / n }')
  if [ -n "${WRK_CPU_PID:-}" ] && ((WRK_REQUESTS > 0)); then
    WRK_CPU_US=$(awk -v a="$cpu0" -v b="$(cpu_us "$WRK_CPU_PID")" -v n="$WRK_REQUESTS" 'BEGIN { printf "%.0f", (b - a) / n }')
    WRK_CSW=$(awk -v a="$csw0" -v b="$(ctx_switches "$WRK_CPU_PID")" -v n="$WRK_REQUESTS" 'BEGIN { printf "%.1f", (b - a) / n }')
  fi
}
wrk_cells() { # rps | p50 | p99 | p99.9 | errors | server CPU us / request | PostgreSQL CPU us / request
  printf '%s\n' "${WRK_RPS%.*}" "$WRK_P50" "$WRK_P99" "$WRK_P999" "$WRK_ERRORS" "$WRK_CPU_US" "$WRK_PG_US"
}
