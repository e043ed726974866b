# Benchmark `similarity` (sourced by scripts/bench): the offline item and user
# similarity jobs on each data set, end to end (load from PostgreSQL, compute,
# write, publish: the job's own seconds from `recd compute`) on 1 and 2 shards,
# next to the seed's SQL (similarity.py: item as ONE batch, user as written)
# on the same rows in the same PostgreSQL; then the compute kernel alone and
# the bare co-occurrence loop (the limit) on the very rows each job reads.
#
# The seed's jobs stop after BENCH_SEED_TIMEOUT seconds (its user SQL is
# quadratic; on 30M events it runs for hours): the table then says "> N s".
# On data sets of more than 10M events BENCH_SEED_TIMEOUT_LARGE applies
# instead, when set (a full run's seed jobs on synth-30m would take 40 of its
# minutes to say "> 1200 s").

# The seed's time limit for a data set.
seed_timeout() { # dataset
  local e; read -r _ _ e < <(dataset_shape "$1")
  if ((e > 10000000)) && [ -n "${BENCH_SEED_TIMEOUT_LARGE:-}" ]; then echo "$BENCH_SEED_TIMEOUT_LARGE"; else echo "$BENCH_SEED_TIMEOUT"; fi
}

# The rows a job reads, as recd's job driver selects them (default settings).
export_job_input() { # dataset kind file
  local db url; db=$(dataset_db "$1"); url=$(pg_url "$db")
  if [ "$2" = item ]; then
    psql "$url" -Atc "COPY (SELECT b.item_id, b.user_id FROM user_behavior b JOIN (SELECT item_id FROM items WHERE sales_count > 10 ORDER BY sales_count DESC, item_id LIMIT 10000) c USING (item_id) WHERE b.behavior_type IN ('buy','cart') AND b.timestamp > now() - interval '90 days') TO STDOUT" > "$3"
  else
    psql "$url" -Atc "COPY (SELECT b.user_id, b.item_id FROM user_behavior b WHERE b.behavior_type IN ('buy','cart') AND b.timestamp > now() - interval '90 days' AND b.user_id IN (SELECT DISTINCT user_id FROM user_behavior WHERE timestamp > now() - interval '30 days')) TO STDOUT" > "$3"
  fi
}

# Runs one of the seed's jobs with a time limit; sets SEED_S (seconds or "> N") and SEED_ROWS.
seed_job() { # dataset item|user
  local args=$2; [ "$2" = item ] && args="item 0"
  local out limit; limit=$(seed_timeout "$1")
  if out=$(cd "$BENCH_SEED_DIR" && SEED_PG_PORT=$RECD_PG_PORT SEED_REDIS_PORT=$RECD_REDIS_PORT \
      SEED_DB="$(seed_db "$1")" timeout "$limit" /usr/bin/python3 similarity.py $args 2>&1); then
    SEED_S=$(echo "$out" | sed -n 's/.* \([0-9.]*\)s rows=.*/\1/p' | tail -1)
    SEED_ROWS=$(echo "$out" | sed -n 's/.*rows=\([0-9]*\).*/\1/p')
  else
    SEED_S="> $limit"; SEED_ROWS="(stopped)"
    # The backend may still run the statement: cancel it so the next job starts clean.
    psql "$(pg_url "$(seed_db "$1")")" -Atc "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '$(seed_db "$1")' AND pid <> pg_backend_pid()" >/dev/null
  fi
  record_cmd "(cd $BENCH_SEED_DIR && SEED_DB=$(seed_db "$1") timeout $limit python3 similarity.py $args)"
}

# recd compute on n shards; sets RECD_ITEM_S RECD_USER_S RECD_ITEM_ROWS RECD_USER_ROWS RECD_RSS_KIB.
# The seed's job definitions are the defaults of item_similarity and
# user_similarity (docs/architecture.md); none to set.
SEED_JOB_SETTINGS=()
recd_jobs() { # dataset shards
  local url out; url=$(pg_url "$(dataset_db "$1")")
  out=$(RECD_POSTGRES_URL=$url /usr/bin/time -f "RSS %M" "$recd" compute --shards "$2" \
    --jobs item_similarity,user_similarity ${SEED_JOB_SETTINGS[@]+"${SEED_JOB_SETTINGS[@]}"} 2>&1) ||
    { echo "$out" >&2; die "recd compute failed"; }
  record_cmd "RECD_POSTGRES_URL=.../$(dataset_db "$1") recd compute --shards $2 --jobs item_similarity,user_similarity${SEED_JOB_SETTINGS[*]:+ ${SEED_JOB_SETTINGS[*]}}"
  RECD_ITEM_S=$(echo "$out" | awk '$1 == "item_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $5}')
  RECD_USER_S=$(echo "$out" | awk '$1 == "user_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $5}')
  RECD_ITEM_ROWS=$(echo "$out" | awk '$1 == "item_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $4}')
  RECD_USER_ROWS=$(echo "$out" | awk '$1 == "user_similarity" && NF == 5 && $2 ~ /^[0-9]+$/ {print $4}')
  RECD_RSS_KIB=$(echo "$out" | awk '$1 == "RSS" {print $2}')
}

# The kernel program on one job's input; sets LIM_* and K1_* and K2_* (seconds, rates, pairs).
kernel_run() { # dataset item|user
  local f="$BENCH_OUT/$1-$2.tsv" args out
  export_job_input "$1" "$2" "$f"
  if [ "$2" = item ]; then args="--measure jaccard --min-common 5"
  else args="--measure cosine --min-common 3 --min-score 0.1"; fi
  out=$("$limit_bin" "$f" $args --threads 2) || die "cooccurrence_limit failed on $f"
  record_cmd "build/bench/cooccurrence_limit <$2 job input of $1: $(wc -l < "$f") rows> $args --threads 2"
  KGRAPH=$(echo "$out" | awk '/^graph/ {gsub("="," ",$0); print $3 " x " $5 ", nnz " $7}')
  eval "$(echo "$out" | awk '
    /^limit/  { p = "LIM" } /^kernel threads=1 / { p = "K1" } /^kernel threads=2 / { p = "K2" }
    /^(limit|kernel)/ { for (i = 3; i <= NF; i++) { split($i, kv, "="); printf "%s_%s=%s\n", p, toupper(kv[1]), kv[2] } }')"
  rm -f "$f"
}

bench_similarity() {
  md ""; md "## 1. Offline similarity"; md ""
  md "Item similarity (Jaccard over buy/cart users, 90 days, items with sales_count > 10, top 10,000, min 5 common) and user similarity (cosine over buy/cart items, users active in 30 days, min 3 common, score > 0.1), all pairs kept (top_k 0, as the seed). End to end = the job's own time in \`recd compute\` (load from PostgreSQL, compute, COPY out, index, publish); the seed's SQL runs through its own \`similarity.py\` (item job as ONE batch)."
  local set
  for set in "${BENCH_SETS[@]}"; do
    dataset_prepare "$set" || { md ""; md "### $set: skipped (data set not available)"; continue; }
    dataset_use "$set"
    md ""; md "### $set ($DS_USERS users, $DS_ITEMS items, $DS_EVENTS events)"
    local s_item="-" s_user="-" s_item_rows="-" s_user_rows="-"
    if have_seed; then
      seed_job "$set" item; s_item=$SEED_S; s_item_rows=$SEED_ROWS
      seed_job "$set" user; s_user=$SEED_S; s_user_rows=$SEED_ROWS
    fi
    recd_jobs "$set" 1
    local r1_item=$RECD_ITEM_S r1_user=$RECD_USER_S rss1=$RECD_RSS_KIB
    recd_jobs "$set" 2
    local r2_item=$RECD_ITEM_S r2_user=$RECD_USER_S rss2=$RECD_RSS_KIB
    md ""
    md_row "job" "seed SQL (s)" "recd 1 shard (s)" "recd 2 shards (s)" "recd / seed (speed-up, 2 shards)" "1 vs 2 shards" "rows seed" "rows recd"
    md_row "---" "---" "---" "---" "---" "---" "---" "---"
    local sp_item="-" sp_user="-" sp_both="-"
    if [[ $s_item =~ ^[0-9.]+$ ]]; then sp_item="$(calc "$s_item/$r2_item")x"; fi
    if [[ $s_user =~ ^[0-9.]+$ ]]; then sp_user="$(calc "$s_user/$r2_user")x"; fi
    if [[ $s_item =~ ^[0-9.]+$ && $s_user =~ ^[0-9.]+$ ]]; then sp_both="$(calc "($s_item+$s_user)/($r2_item+$r2_user)")x"
    elif [[ $s_item =~ ^\> || $s_user =~ ^\> ]]; then sp_both="> $(calc "$(seed_timeout "$set")/($r2_item+$r2_user)")x"; fi
    md_row "item similarity" "$s_item" "$r1_item" "$r2_item" "$sp_item" "$(calc "$r1_item/$r2_item")x" "$s_item_rows" "$RECD_ITEM_ROWS"
    md_row "user similarity" "$s_user" "$r1_user" "$r2_user" "$sp_user" "$(calc "$r1_user/$r2_user")x" "$s_user_rows" "$RECD_USER_ROWS"
    md_row "both" "$( [[ $s_item =~ ^[0-9.]+$ && $s_user =~ ^[0-9.]+$ ]] && calc "$s_item+$s_user" || echo "-")" \
      "$(calc "$r1_item+$r1_user")" "$(calc "$r2_item+$r2_user")" "$sp_both" "$(calc "($r1_item+$r1_user)/($r2_item+$r2_user)")x" "" ""
    md ""
    md "recd compute peak RSS: $((rss1 / 1024)) MiB (1 shard), $((rss2 / 1024)) MiB (2 shards)."
    eval "BENCH_SIM_${set//-/_}_SPEEDUP='$sp_both'; BENCH_SIM_${set//-/_}_RECD_S='$(calc "$r2_item+$r2_user")'"

    # recd's whole default job set (what `recd compute` runs with no --jobs),
    # on 2 shards: wall time of the command, and each job's own seconds.
    local url out t0 t1 wall
    url=$(pg_url "$(dataset_db "$set")")
    t0=$(date +%s.%N)
    out=$(RECD_POSTGRES_URL=$url "$recd" compute --shards 2 2>&1) ||
      { echo "$out" >&2; die "recd compute (defaults) failed"; }
    t1=$(date +%s.%N)
    wall=$(calc "$t1-$t0")
    record_cmd "RECD_POSTGRES_URL=.../$(dataset_db "$set") recd compute --shards 2"
    md ""
    md "recd's whole default job set (\`recd compute --shards 2\`, no --jobs: the seed's two tables, EASE item weights, user neighbours over every behavior, ALS embeddings; embeddings run beside the similarity kinds): **$wall s** wall; each job's own seconds: $(echo "$out" | awk '$2 ~ /^[0-9]+$/ && NF == 5 {printf "%s%s %s", sep, $1, $5; sep=", "}')."
    eval "BENCH_DEFAULTS_${set//-/_}_S='$wall'"

    md ""
    md "Kernel alone (no I/O) on the rows each job reads, against the bare single-threaded co-occurrence loop; rate = pair increments (sum over columns of degree², rows that cannot reach min_common skipped by both) per second, best pass of at least 3 (and 1 s; at most 10 s):"
    md ""
    md_row "job" "graph (rows, cols, nnz)" "increments" "limit: bare loop, 1 thread" "recd kernel, 1 thread" "recd kernel, 2 threads" "recd kernel rate / limit rate (1 thread)" "1 vs 2 threads" "pairs out"
    md_row "---" "---" "---" "---" "---" "---" "---" "---" "---"
    local kind worst=""
    for kind in item user; do
      kernel_run "$set" "$kind"
      local ratio; ratio=$(calc "$K1_INCR_PER_S/$LIM_INCR_PER_S")
      md_row "$kind" "$KGRAPH" "$(sci "$LIM_INCREMENTS")" \
        "$(sci "$LIM_INCR_PER_S")/s ($(calc "$LIM_SECONDS*1000") ms)" \
        "$(sci "$K1_INCR_PER_S")/s ($(calc "$K1_SECONDS*1000") ms)" \
        "$(sci "$K2_INCR_PER_S")/s ($(calc "$K2_SECONDS*1000") ms)" \
        "$ratio" "$(calc "$K1_SECONDS/$K2_SECONDS")x" "$K1_PAIRS"
      eval "BENCH_KERNEL_${set//-/_}_${kind}='$ratio'"
    done
    flush_cmds
  done
}
