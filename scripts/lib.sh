# Shared by scripts/test, scripts/quickstart: install what is missing, build,
# and run a private PostgreSQL and Redis on reserved loopback ports (take_port) under .run/.
# Source it; it defines functions only.

RECD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Each invocation gets its own folder, so a test run and a quickstart can coexist.
RECD_RUN="$RECD_ROOT/.run/$(basename "$0")-$$"
RECD_BUILD="${RECD_BUILD:-$RECD_ROOT/build}"
# The build type of RECD_BUILD: scripts/test builds RelWithDebInfo (asserts
# and symbols for the suites), scripts/bench Release (what users run).
RECD_BUILD_TYPE="${RECD_BUILD_TYPE:-RelWithDebInfo}"
PG_BIN=/usr/lib/postgresql/15/bin

APT_PACKAGES="cmake ninja-build ccache g++ pkg-config libcaf-dev libpqxx-dev libpq-dev libhiredis-dev libjemalloc-dev
  libboost-dev libboost-system-dev libmsgpack-cxx-dev nlohmann-json3-dev libhnswlib-dev libeigen3-dev
  libspdlog-dev libfmt-dev libcli11-dev prometheus-cpp-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  postgresql postgresql-contrib redis-server curl python3 procps unzip wrk openssl
  chromium chromium-driver python3-selenium mmdebstrap umoci skopeo
  python3-yaml python3-jsonschema python3-msgpack openapi-specification"

log() { printf '[recd] %s\n' "$*" >&2; }
die() { printf '[recd] error: %s\n' "$*" >&2; exit 1; }

ensure_packages() {
  local missing=()
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # Packaged services (postgresql, redis-server, nginx) must not start on
    # install: the scripts start their own, on loopback and free ports. Where
    # the machine has no policy-rc.d, one that refuses every start is in place
    # for the install only.
    local policy=/usr/sbin/policy-rc.d guard=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && guard=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -z "$guard" ] || $sudo rm -f "$policy"
    ((rc == 0)) || die "apt-get install failed ($rc)"
  fi
}

# RECD_CMAKE_ARGS: extra configure arguments (scripts/test --sanitize, scripts/fuzz).
# The project's own builds treat warnings as errors (RECD_WERROR); a plain
# cmake build does not.
build_recd() { # [cmake --build args, e.g. --target recd]
  log "building in $RECD_BUILD"
  # shellcheck disable=SC2086
  cmake -S "$RECD_ROOT" -B "$RECD_BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$RECD_BUILD_TYPE" \
    -DRECD_WERROR=ON ${RECD_CMAKE_ARGS:-} >/dev/null
  cmake --build "$RECD_BUILD" -j "$(nproc)" "$@"
}

# take_port VAR: sets VAR to a loopback port reserved for this shell, under
# the contract of tests/support/ports.hpp (which the C++ tests and
# bench/faults/deployment.py follow too): a port of RECD_PORT_RANGE (default
# 20000-32767) outside the kernel's ephemeral range (which outgoing
# connections and port-0 binds draw from), locked by an flock on
# ${RECD_PORT_LOCK_DIR:-/tmp/recd-ports}/<port>.lock, and free to bind when
# handed out. The lock is held by a descriptor this shell keeps open until it
# exits (its children inherit it, so a server started here holds it as long as
# it runs). Call it in the shell the port's server lives with, never in $( ):
# the subshell's lock would go with it. VAR may be any name but port_out_ and
# tp_* (the function's own, VAR being reached by name).
RECD_PORT_CURSOR=""
take_port() {
  local -n port_out_=$1
  local tp_dir="${RECD_PORT_LOCK_DIR:-/tmp/recd-ports}" tp_range="${RECD_PORT_RANGE:-20000-32767}"
  local tp_low="${tp_range%%-*}" tp_high="${tp_range#*-}" tp_elow=1 tp_ehigh=0 tp_span tp_i tp_p tp_fd
  [[ "$tp_low" =~ ^[0-9]+$ && "$tp_high" =~ ^[0-9]+$ ]] && ((tp_low >= 1 && tp_low <= tp_high && tp_high <= 65535)) ||
    die "RECD_PORT_RANGE must be LOW-HIGH within 1-65535, not '$tp_range'"
  { read -r tp_elow tp_ehigh </proc/sys/net/ipv4/ip_local_port_range; } 2>/dev/null || true
  if [ ! -d "$tp_dir" ]; then
    mkdir -p "$tp_dir" && chmod 1777 "$tp_dir" 2>/dev/null || die "cannot make the port lock folder $tp_dir"
  fi
  tp_span=$((tp_high - tp_low + 1))
  [ -n "$RECD_PORT_CURSOR" ] || RECD_PORT_CURSOR=$(($$ * 101 % tp_span))
  for ((tp_i = 0; tp_i < tp_span; tp_i++)); do
    tp_p=$((tp_low + (RECD_PORT_CURSOR + tp_i) % tp_span))
    ((tp_p >= tp_elow && tp_p <= tp_ehigh)) && continue
    [ -e "$tp_dir/$tp_p.lock" ] || : 2>/dev/null >>"$tp_dir/$tp_p.lock" || continue
    exec {tp_fd}<"$tp_dir/$tp_p.lock" || continue
    if flock -n "$tp_fd" && port_bindable "$tp_p"; then
      RECD_PORT_CURSOR=$(((RECD_PORT_CURSOR + tp_i + 1) % tp_span))
      port_out_=$tp_p
      return 0
    fi
    exec {tp_fd}<&-
  done
  die "no free port in $tp_range outside the ephemeral range $tp_elow-$tp_ehigh (locks in $tp_dir)"
}

# True if 127.0.0.1:PORT can be bound now (no SO_REUSEADDR: a listener or a
# connection in TIME_WAIT on it refuses).
port_bindable() {
  python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# PostgreSQL refuses to run as root: run it as the 'postgres' user the package creates.
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# RECD_PG_PRELOAD: shared_preload_libraries for the server (scripts/test:
# pg_stat_statements, so a test can see which statements ran).
start_postgres() {
  local dir="$RECD_RUN/pg"
  mkdir -p "$RECD_RUN"
  take_port RECD_PG_PORT
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  pg_as "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >/dev/null
  pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $RECD_PG_PORT -k $dir -c fsync=on -c max_connections=200${RECD_PG_PRELOAD:+ -c shared_preload_libraries=$RECD_PG_PRELOAD}" start >/dev/null \
    || { cat "$dir/log" >&2; die "PostgreSQL did not start"; }
  export RECD_PG_PORT
  export RECD_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$RECD_PG_PORT/postgres"
  log "PostgreSQL 15 on 127.0.0.1:$RECD_PG_PORT (data in $dir)"
}

stop_postgres() {
  [ -d "$RECD_RUN/pg/data" ] && pg_as "$PG_BIN/pg_ctl" -D "$RECD_RUN/pg/data" -m fast -w stop >/dev/null 2>&1 || true
}

create_database() { # name
  psql "$RECD_PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$1\"" >/dev/null
}

start_redis() {
  mkdir -p "$RECD_RUN"
  take_port RECD_REDIS_PORT
  redis-server --port "$RECD_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$RECD_RUN/redis.pid" --logfile "$RECD_RUN/redis.log" >/dev/null || die "Redis did not start"
  for _ in $(seq 50); do redis-cli -p "$RECD_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export RECD_REDIS_PORT
  log "Redis on 127.0.0.1:$RECD_REDIS_PORT"
}

stop_redis() {
  [ -f "$RECD_RUN/redis.pid" ] && kill "$(cat "$RECD_RUN/redis.pid")" 2>/dev/null || true
  rm -f "$RECD_RUN/redis.pid"
}

# Removes this invocation's folder once both servers are stopped.
cleanup_run() { rm -rf "$RECD_RUN"; }
