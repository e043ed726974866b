#include "store/job_inputs.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <unordered_set>

#include "store/database.hpp"
#include "store/job_tables.hpp"

namespace recd::store {

namespace {

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "'buy','cart'": names of behavior kinds, never text from a setting or a message.
std::string kinds_list(const std::vector<behavior_kind>& kinds) {
  std::string out;
  for (auto k : kinds)
    out += (out.empty() ? "'" : ",'") + std::string{to_string(k)} + "'";
  return out;
}

// The transaction every read of a job's input runs in.
using snapshot_tx = pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only>;

// Makes `tx` see exactly the exported snapshot `id`; must be its first
// statement. The id was checked to be of [0-9A-F-] only (by the driver that
// exported it, or limits::check_similarity_plan / check_embedding_task for
// one that came in a message) and is quoted besides.
void join_snapshot(snapshot_tx& tx, const std::string& id) {
  tx.exec("SET TRANSACTION SNAPSHOT " + tx.quote(id));
}

} // namespace

struct input_snapshot::transaction {
  explicit transaction(pqxx::connection& c) : tx{c} {}
  snapshot_tx tx;
};

input_snapshot::input_snapshot(connection_ptr conn) : conn_(std::move(conn)) {
  tx_ = std::make_unique<transaction>(*conn_);
  id_ = tx_->tx.exec("SELECT pg_export_snapshot()")[0][0].as<std::string>();
}

input_snapshot::~input_snapshot() { release(); }

std::int64_t input_snapshot::since(std::int32_t days) {
  // extract() is numeric on PostgreSQL 14+: exact to the microsecond.
  return tx_->tx
    .exec_params("SELECT (extract(epoch FROM now() - interval '1 day' * $1) * 1000000)::bigint",
                 days)[0][0]
    .as<std::int64_t>();
}

std::vector<item_id> input_snapshot::candidate_items(std::int32_t min_sales,
                                                     std::int32_t max_items) {
  std::vector<item_id> out;
  auto rows = tx_->tx.exec_params("SELECT item_id FROM items WHERE sales_count > $1 "
                                  "ORDER BY sales_count DESC, item_id LIMIT $2",
                                  min_sales, max_items);
  for (const auto& r : rows)
    out.push_back(r[0].as<item_id>());
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t input_snapshot::now_micros() {
  return tx_->tx.exec("SELECT (extract(epoch FROM now()) * 1000000)::bigint")[0][0]
    .as<std::int64_t>();
}

std::pair<std::vector<user_id>, std::vector<item_id>>
input_snapshot::behavior_ids(std::int64_t window_since, pqxx::connection& helper) {
  std::pair<std::vector<user_id>, std::vector<item_id>> out;
  const std::string where =
    window_since > 0 ? " WHERE timestamp > timestamptz 'epoch' + interval '" +
                         std::to_string(window_since) + " microseconds'"
                     : "";
  // Room for the distinct ids in memory (for the rest of the transaction,
  // which reads nothing else this large). With the default 4 MB PostgreSQL
  // 15's hash aggregate spills to disk: at 30M behaviors and 860,794 users
  // 5.1 to 5.8 s on a quiet machine, and one run beside another session's
  // 30M-event import had not finished after 3 min 53 s; in memory 4.0 s (a
  // 90 MB hash table; docs/benchmarks.md).
  const std::string room = "SET LOCAL work_mem = '64MB'";
  // The items on the helper, in the same snapshot, while this transaction
  // reads the users; its error, if any, is thrown here after both ended.
  snapshot_tx items_tx{helper};
  join_snapshot(items_tx, id_);
  items_tx.exec(room);
  std::exception_ptr items_error;
  std::thread items_reader{[&] {
    try {
      for (const auto& r :
           items_tx.exec("SELECT DISTINCT item_id FROM user_behavior" + where + " ORDER BY 1"))
        out.second.push_back(r[0].as<item_id>());
      items_tx.commit();
    } catch (...) {
      items_error = std::current_exception();
    }
  }};
  // The whole history's users by a walk down the (user_id, timestamp) index,
  // one descent per user, in one process: at 860,794 users 2.99 s, where
  // DISTINCT's parallel plan took 2.61 s in three processes, whose CPU the
  // other lane's work wants (docs/benchmarks.md).
  const std::string users =
    window_since > 0
      ? "SELECT DISTINCT user_id FROM user_behavior" + where + " ORDER BY 1"
      : "WITH RECURSIVE walk AS (SELECT min(user_id) AS u FROM user_behavior UNION ALL "
        "SELECT (SELECT min(user_id) FROM user_behavior WHERE user_id > walk.u) FROM walk "
        "WHERE walk.u IS NOT NULL) SELECT u FROM walk WHERE u IS NOT NULL";
  try {
    if (window_since > 0) // the walk needs no room, the DISTINCT does
      tx_->tx.exec(room);
    for (const auto& r : tx_->tx.exec(users))
      out.first.push_back(r[0].as<user_id>());
  } catch (...) {
    items_reader.join();
    throw;
  }
  items_reader.join();
  if (items_error)
    std::rethrow_exception(items_error);
  return out;
}

void input_snapshot::release() {
  if (tx_) {
    try {
      tx_->tx.commit();
    } catch (const std::exception&) {
      // A broken connection: the snapshot ends with it all the same.
    }
    tx_.reset();
  }
  conn_.reset();
}

namespace {

// " AND timestamp > <t>": t in microseconds since the Unix epoch, an integer
// this program holds (COPY takes no bind parameters).
std::string after(std::int64_t micros, const std::string& column = "timestamp") {
  return " AND " + column + " > timestamptz 'epoch' + interval '" + std::to_string(micros) +
         " microseconds'";
}

// "(1,2,3)" of integers ("(-1)" for none).
template <class Int>
std::string in_list(const std::vector<Int>& xs) {
  if (xs.empty())
    return "(-1)";
  std::string out = "(";
  for (std::size_t k = 0; k < xs.size(); ++k)
    out += (k ? "," : "") + std::to_string(xs[k]);
  return out + ")";
}

} // namespace

void read_partition_input(pqxx::connection& c, const partition_input_spec& spec,
                          const std::function<void(std::int32_t, std::int32_t)>& pair) {
  snapshot_tx tx{c};
  join_snapshot(tx, spec.snapshot);
  const std::string row = spec.item_rows ? "item_id" : "user_id";
  const std::string col = spec.item_rows ? "user_id" : "item_id";
  std::string where = " WHERE behavior_type IN (" + kinds_list(spec.behaviors) + ")";
  if (spec.windowed)
    where += after(spec.window_since);
  if (spec.item_rows) {
    // The candidates of these partitions (the driver sent them all).
    if (spec.candidates.empty()) {
      tx.commit();
      return;
    }
    where += " AND item_id IN " + in_list(spec.candidates);
  } else {
    where += " AND user_id % " + std::to_string(spec.count) + " IN " + in_list(spec.partitions);
  }
  std::string query = "SELECT " + row + ", " + col + " FROM user_behavior" + where;
  if (!spec.item_rows && spec.active_only)
    // Users with a behavior after active_since: the rows' distinct users are
    // each looked up once in the (user_id, timestamp) index. A plain
    // `user_id IN (SELECT ...)` was planned as one index probe per behavior
    // row (1.56M at 30M events: one shard's share took 8.5 s against 4.7 s,
    // both measured beside another job).
    query = "WITH cand AS MATERIALIZED (" + query +
            "), active AS (SELECT d.u FROM (SELECT DISTINCT user_id AS u FROM cand) d WHERE "
            "EXISTS (SELECT 1 FROM user_behavior a WHERE a.user_id = d.u" +
            after(spec.active_since, "a.timestamp") +
            ")) SELECT user_id, item_id FROM cand WHERE user_id IN (SELECT u FROM active)";
  std::vector<std::string_view> f;
  copy_out(tx, query,
           [&](std::string_view line) {
             split_copy_line(line, f);
             pair(static_cast<std::int32_t>(to_i64(f[0])), static_cast<std::int32_t>(to_i64(f[1])));
           });
  tx.commit();
}

void create_staging_table(pqxx::connection& c, job_kind kind, std::int64_t run_id) {
  pqxx::work tx{c};
  // An embeddings run's staging table is read once, by the publishing
  // transaction, and then dropped: UNLOGGED spares writing its vectors to the
  // WAL (a server crash empties it, and the run it served is redone anyway).
  if (kind == job_kind::embeddings)
    tx.exec("CREATE UNLOGGED TABLE " + staging_table(kind, run_id) +
            " (is_item BOOLEAN NOT NULL, id INT NOT NULL, embedding REAL[] NOT NULL, "
            "PRIMARY KEY (is_item, id))");
  else
    tx.exec("CREATE TABLE " + staging_table(kind, run_id) + " (LIKE " + similarity_table(kind) +
          " INCLUDING DEFAULTS)");
  tx.commit();
}

void read_embedding_share(pqxx::connection& c, const embedding_input_spec& spec,
                          const std::function<void(user_id, item_id, float)>& cell) {
  snapshot_tx tx{c};
  join_snapshot(tx, spec.snapshot);
  const auto& w = spec.kind_weights;
  char weights[256];
  std::snprintf(weights, sizeof weights,
                "CASE behavior_type WHEN 'view' THEN %.6g WHEN 'click' THEN %.6g "
                "WHEN 'cart' THEN %.6g ELSE %.6g END",
                w[0], w[1], w[2], w[3]);
  // Age decay: weight x 2^(-age / half_life), so years of history count
  // without the newest months being drowned; age from the driver's now(). The
  // exponent stops at -1000: PostgreSQL raises an error where pow() underflows.
  // The age is cast to numeric (extract() returns numeric since PostgreSQL
  // 14 anyway), so the factor is numeric and the cell's sum exact.
  std::string decay;
  if (spec.half_life_days > 0) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  " * power(2.0, greatest(extract(epoch from (timestamp - (timestamptz 'epoch' + "
                  "interval '%lld microseconds')))::numeric / %.9g, -1000))",
                  static_cast<long long>(spec.now_micros), spec.half_life_days * 86400.0);
    decay = buf;
  }
  std::string where = " WHERE (user_id % " + std::to_string(spec.count) + " IN " +
                      in_list(spec.partitions) + " OR item_id % " + std::to_string(spec.count) +
                      " IN " + in_list(spec.partitions) + ")";
  if (spec.window_since > 0)
    where += after(spec.window_since);
  // No ORDER BY inside sum(): the sum is exact (job_inputs.hpp), and an
  // ordered aggregate made PostgreSQL sort every cell's behaviors, 18 s
  // against 10 s for one shard's share at 30M events (docs/benchmarks.md).
  std::vector<std::string_view> f;
  copy_out(tx,
           std::string{"SELECT user_id, item_id, sum(("} + weights + ")" + decay +
             ") FROM user_behavior" + where +
             " GROUP BY user_id, item_id ORDER BY user_id, item_id",
           [&](std::string_view line) {
             split_copy_line(line, f);
             cell(static_cast<user_id>(to_i64(f[0])), static_cast<item_id>(to_i64(f[1])),
                  std::strtof(std::string{f[2]}.c_str(), nullptr));
           });
  tx.commit();
}

} // namespace recd::store
