// The offline jobs end to end: the real `recd compute` binary against a real
// PostgreSQL database, checked against the seed's own SQL (the system recd
// replaces), plus top_k, atomic publishing, embeddings, bad settings and the
// one-run-per-kind lock.
//
// Data: synthetic shops imported with store::import_synthetic, with a few
// hand-made additions (old events outside every window, catalog items without
// behavior). Timestamps are relative to the wall clock, so events near a
// window boundary (30 / 45 days) are moved an hour away from it: a test then
// sees the same window contents whether recd or the reference SQL reads them.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "engine/bipartite.hpp"
#include "engine/ease.hpp"
#include "engine/similarity.hpp"
#include "engine/synthetic.hpp"
#include "protocol/errors.hpp"
#include "store/importer.hpp"
#include "support/test_database.hpp"

namespace {

namespace fs = std::filesystem;
using recd::test::test_database;

// ---- running the binary ------------------------------------------------------

struct outcome {
  int status = -1; // exit status; 128+signal if killed
  std::string out, err, cmd;
};

std::string show(const outcome& o) {
  return "command: " + o.cmd + "\nexit status: " + std::to_string(o.status) + "\nstderr:\n" +
         o.err + "\nstdout:\n" + o.out;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return q + "'";
}

std::string binary() {
  const char* b = std::getenv("RECD_BINARY");
  if (b == nullptr || *b == '\0')
    throw std::runtime_error("RECD_BINARY is not set: run the tests through ctest or scripts/test");
  return b;
}

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `recd <args...>` with RECD_POSTGRES_URL=url (and `env`, "NAME=value ..."
// already quoted), stdin from /dev/null; captures stdout and stderr.
outcome run_recd(const std::string& url, const std::vector<std::string>& args,
                 const std::string& env = "") {
  static std::atomic<int> n{0};
  auto base = fs::temp_directory_path() /
              ("recd_jobs_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  auto out_file = base.string() + ".out", err_file = base.string() + ".err";
  outcome o;
  // No settings beyond the test's own: item_similarity and user_similarity
  // are the seed's definitions under the defaults, which this file pins.
  o.cmd = "RECD_POSTGRES_URL=" + quote(url) + (env.empty() ? "" : " " + env) + " " + quote(binary());
  for (const auto& a : args)
    o.cmd += " " + quote(a);
  auto full = o.cmd + " </dev/null >" + quote(out_file) + " 2>" + quote(err_file);
  int st = std::system(full.c_str());
  if (st != -1 && WIFEXITED(st))
    o.status = WEXITSTATUS(st);
  else if (st != -1 && WIFSIGNALED(st))
    o.status = 128 + WTERMSIG(st);
  o.out = slurp(out_file);
  o.err = slurp(err_file);
  std::error_code ec;
  fs::remove(out_file, ec);
  fs::remove(err_file, ec);
  return o;
}

// `recd compute --jobs <jobs> [--shards N] [--set s]...`, as documented.
outcome compute(const test_database& db, const std::string& jobs,
                const std::vector<std::string>& sets = {}, int shards = 0,
                const std::string& env = "") {
  std::vector<std::string> args{"compute", "--jobs", jobs};
  if (shards > 0) {
    args.push_back("--shards");
    args.push_back(std::to_string(shards));
  }
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  return run_recd(db.url(), args, env);
}

// Plain `recd compute [--shards N]`: every job, every setting at its default.
outcome compute_defaults(const test_database& db, int shards = 0) {
  std::vector<std::string> args{"compute"};
  if (shards > 0) {
    args.push_back("--shards");
    args.push_back(std::to_string(shards));
  }
  return run_recd(db.url(), args);
}

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l.find_first_not_of(" \t\r") != std::string::npos)
      lines.push_back(l);
  return lines;
}

// ---- data ----------------------------------------------------------------------

void exec(const test_database& db, const std::string& sql) {
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  tx.exec(sql);
}

std::int64_t count(const test_database& db, const std::string& sql) {
  auto v = db.scalar(sql);
  return v.empty() ? -1 : std::stoll(v);
}

// Moves events within an hour of `days` ago two hours newer, so that no event
// crosses the boundary `now() - days` while a test runs (under an hour).
void guard_band(const test_database& db, int days) {
  exec(db, "UPDATE user_behavior SET timestamp = timestamp + interval '2 hours' WHERE "
           "timestamp > now() - interval '" + std::to_string(days) + " days' - interval '1 hour' "
           "AND timestamp <= now() - interval '" + std::to_string(days) + " days' + interval '1 hour'");
}

void import_shop(const test_database& db, std::uint64_t seed, std::int32_t users,
                 std::int32_t items, std::int64_t events, std::int32_t days) {
  recd::engine::synthetic_options opt;
  opt.users = users;
  opt.items = items;
  opt.events = events;
  opt.seed = seed;
  opt.days = days;
  opt.now = static_cast<recd::unix_seconds>(std::time(nullptr));
  auto c = db.connect();
  auto r = recd::store::import_synthetic(c, opt);
  if (!r)
    throw std::runtime_error("import_synthetic failed: " + recd::describe(r.error()));
}

// Hand-made item ids: no behavior / only old behavior / a stale vector and no behavior.
constexpr int item_without_behavior = 900001;
constexpr int item_with_old_behavior = 900002;
constexpr int item_with_stale_vector = 900003;
constexpr int user_with_old_behavior = 900001;

// A synthetic shop (3000 users, 600 items, 120k events over 80 days) plus:
//  - buy/cart events 100+ days old, re-attributed to other users, so a job
//    ignoring its 90-day window would get different sets;
//  - catalog items and a user with no behavior in any window;
//  - guard bands at the 30- and 45-day boundaries.
std::unique_ptr<test_database> make_shop(std::uint64_t seed) {
  auto db = std::make_unique<test_database>("jobs_shop" + std::to_string(seed));
  import_shop(*db, seed, 3000, 600, 120000, 80);
  exec(*db,
       "INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) "
       "SELECT (user_id * 7) % 3000 + 1, item_id, behavior_type, timestamp - interval '100 days' "
       "FROM user_behavior WHERE behavior_type IN ('buy', 'cart') AND id % 3 = 0;"
       "INSERT INTO items (item_id, title, sales_count) VALUES "
       "(900001, 'never touched', 50), (900002, 'only old events', 50), "
       "(900003, 'stale vector', 0);"
       "UPDATE items SET embedding = '{1,2,3}' WHERE item_id = 900003;"
       "INSERT INTO users (user_id) VALUES (900001);"
       "INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) "
       "SELECT u, 900002, 'buy', now() - interval '120 days' FROM generate_series(1, 40) u;"
       "INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) "
       "SELECT 900001, i, 'buy', now() - interval '95 days' FROM generate_series(1, 30) i;");
  guard_band(*db, 30);
  guard_band(*db, 45);
  exec(*db, "ANALYZE");
  return db;
}

// Two shops shared by the tests that only read their input tables (every test
// recomputes the result tables it checks). Built on first use, dropped by the
// test environment's TearDown: not by static destructors, which run after
// libpq's and OpenSSL's exit handlers may have torn their state down.
std::unique_ptr<test_database> shops[2];

const test_database& shop(int which) {
  if (!shops[which])
    shops[which] = make_shop(which == 0 ? 7 : 8);
  return *shops[which];
}

struct drop_shops : ::testing::Environment {
  void TearDown() override {
    for (auto& s : shops)
      s.reset();
  }
};
const auto* const shops_dropper = ::testing::AddGlobalTestEnvironment(new drop_shops);

// A small fresh shop for tests that need some data but not the comparison.
std::unique_ptr<test_database> small_shop(const std::string& tag) {
  auto db = std::make_unique<test_database>(tag, 4);
  import_shop(*db, 3, 300, 60, 8000, 60);
  return db;
}

// ---- the seed's SQL ----------------------------------------------------------

struct item_params {
  int min_sales = 10, max_items = 10000, window_days = 90, min_common = 5;
  std::string kinds = "'buy', 'cart'";
};

// SimilarityCalculator.calculate_item_similarity from the seed's app.py, run as
// ONE batch (the candidate list inline instead of batches of 100; ties in
// sales_count broken by item_id as recd documents), into `table`.
std::string seed_item_sql(const std::string& table, const item_params& p = {}) {
  return "DROP TABLE IF EXISTS " + table + ";"
         "CREATE TABLE " + table + " (item_id INT NOT NULL, similar_item_id INT NOT NULL, "
         "similarity_score NUMERIC NOT NULL, PRIMARY KEY (item_id, similar_item_id));\n"
         "WITH item_users AS (\n"
         "    SELECT item_id, array_agg(DISTINCT user_id) AS users\n"
         "    FROM user_behavior\n"
         "    WHERE item_id = ANY(ARRAY(SELECT item_id FROM items WHERE sales_count > " +
         std::to_string(p.min_sales) + " ORDER BY sales_count DESC, item_id LIMIT " +
         std::to_string(p.max_items) + "))\n"
         "      AND behavior_type IN (" + p.kinds + ")\n"
         "      AND timestamp > CURRENT_TIMESTAMP - INTERVAL '" + std::to_string(p.window_days) +
         " days'\n"
         "    GROUP BY item_id\n"
         "),\n"
         "pairs AS (\n"
         "    SELECT a.item_id AS item_a, b.item_id AS item_b, a.users AS users_a, b.users AS users_b\n"
         "    FROM item_users a CROSS JOIN item_users b\n"
         "    WHERE a.item_id < b.item_id\n"
         "),\n"
         "similarities AS (\n"
         "    SELECT item_a, item_b,\n"
         "        cardinality(users_a & users_b)::NUMERIC /\n"
         "        NULLIF(cardinality(users_a | users_b), 0) AS jaccard_sim\n"
         "    FROM pairs\n"
         "    WHERE cardinality(users_a & users_b) >= " + std::to_string(p.min_common) + "\n"
         ")\n"
         "INSERT INTO " + table + " (item_id, similar_item_id, similarity_score)\n"
         "SELECT item_a, item_b, jaccard_sim FROM similarities\n"
         "UNION ALL\n"
         "SELECT item_b, item_a, jaccard_sim FROM similarities\n"
         "ON CONFLICT (item_id, similar_item_id) DO UPDATE\n"
         "SET similarity_score = EXCLUDED.similarity_score;";
}

struct user_params {
  int active_days = 30, window_days = 90, min_common = 3;
  double min_score = 0.1;
  std::string kinds = "'buy', 'cart'";
  bool literal = false; // the seed's text as is: array_agg without DISTINCT, LIMIT 50000
};

// SimilarityCalculator.calculate_user_similarity, corrected as recd documents
// (distinct item sets, every active user) unless p.literal, into `table`.
std::string seed_user_sql(const std::string& table, const user_params& p = {}) {
  char score[32];
  std::snprintf(score, sizeof score, "%.17g", p.min_score);
  return "DROP TABLE IF EXISTS " + table + ";"
         "CREATE TABLE " + table + " (user_id INT NOT NULL, similar_user_id INT NOT NULL, "
         "similarity_score NUMERIC NOT NULL, PRIMARY KEY (user_id, similar_user_id));\n"
         "WITH active_users AS (\n"
         "    SELECT DISTINCT user_id\n"
         "    FROM user_behavior\n"
         "    WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '" + std::to_string(p.active_days) +
         " days'\n" + (p.literal ? "    LIMIT 50000\n" : "") +
         "),\n"
         "user_vectors AS (\n"
         "    SELECT ub.user_id, array_agg(" + (p.literal ? "" : "DISTINCT ") +
         "ub.item_id) AS items\n"
         "    FROM user_behavior ub\n"
         "    JOIN active_users au ON ub.user_id = au.user_id\n"
         "    WHERE ub.behavior_type IN (" + p.kinds + ")\n"
         "      AND ub.timestamp > CURRENT_TIMESTAMP - INTERVAL '" + std::to_string(p.window_days) +
         " days'\n"
         "    GROUP BY ub.user_id\n"
         "),\n"
         "pairs AS (\n"
         "    SELECT a.user_id AS user_a, b.user_id AS user_b, a.items AS items_a, b.items AS items_b\n"
         "    FROM user_vectors a CROSS JOIN user_vectors b\n"
         "    WHERE a.user_id < b.user_id AND a.items && b.items\n"
         "),\n"
         "similarities AS (\n"
         "    SELECT user_a, user_b,\n"
         "        cardinality(items_a & items_b)::NUMERIC /\n"
         "        SQRT(cardinality(items_a) * cardinality(items_b)) AS cosine_sim\n"
         "    FROM pairs\n"
         "    WHERE cardinality(items_a & items_b) >= " + std::to_string(p.min_common) + "\n"
         ")\n"
         "INSERT INTO " + table + " (user_id, similar_user_id, similarity_score)\n"
         "SELECT user_a, user_b, cosine_sim FROM similarities WHERE cosine_sim > " + score + "\n"
         "UNION ALL\n"
         "SELECT user_b, user_a, cosine_sim FROM similarities WHERE cosine_sim > " + score + "\n"
         "ON CONFLICT (user_id, similar_user_id) DO UPDATE\n"
         "SET similarity_score = EXCLUDED.similarity_score;";
}

// ---- comparing result tables ----------------------------------------------------

struct table_diff {
  std::int64_t only_live = 0, only_expected = 0, score_mismatch = 0, live_rows = 0,
               expected_rows = 0;
  std::string examples;
  bool same() const { return only_live == 0 && only_expected == 0 && score_mismatch == 0; }
};

std::ostream& operator<<(std::ostream& os, const table_diff& d) {
  return os << "live rows " << d.live_rows << ", expected rows " << d.expected_rows
            << ", only in live " << d.only_live << ", only in expected " << d.only_expected
            << ", scores differing by > 1e-9 " << d.score_mismatch << "\nfirst differences:\n"
            << d.examples;
}

// Compares `live` with `expected` (any relation or subquery with columns
// a, b, similarity_score) on the key (a, b) and the score within 1e-9.
table_diff compare(const test_database& db, const std::string& live, const std::string& expected,
                   const std::string& a, const std::string& b) {
  auto from = " FROM " + live + " l FULL JOIN " + expected + " e ON l." + a + " = e." + a +
              " AND l." + b + " = e." + b;
  auto differs = "abs(l.similarity_score::float8 - e.similarity_score::float8) > 1e-9";
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  auto r = tx.exec("SELECT count(*) FILTER (WHERE e." + a + " IS NULL), count(*) FILTER (WHERE l." +
                   a + " IS NULL), count(*) FILTER (WHERE " + differs + "), count(l." + a +
                   "), count(e." + a + ")" + from);
  table_diff d;
  d.only_live = r[0][0].as<std::int64_t>();
  d.only_expected = r[0][1].as<std::int64_t>();
  d.score_mismatch = r[0][2].as<std::int64_t>();
  d.live_rows = r[0][3].as<std::int64_t>();
  d.expected_rows = r[0][4].as<std::int64_t>();
  auto ex = tx.exec("SELECT coalesce(l." + a + ", e." + a + "), coalesce(l." + b + ", e." + b +
                    "), l.similarity_score::float8, e.similarity_score::float8" + from +
                    " WHERE l." + a + " IS NULL OR e." + a + " IS NULL OR " + differs +
                    " ORDER BY 1, 2 LIMIT 8");
  for (const auto& row : ex)
    d.examples += "  (" + std::string{row[0].c_str()} + ", " + row[1].c_str() + ") live " +
                  (row[2].is_null() ? "-" : row[2].c_str()) + " expected " +
                  (row[3].is_null() ? "-" : row[3].c_str()) + "\n";
  return d;
}

// ---- 1. item similarity = the seed's SQL -------------------------------------------

TEST(ItemSimilarityJob, UnderTheDefaultsEqualsTheSeedsJaccardSqlRunAsOneBatch) {
  for (int which : {0, 1}) {
    SCOPED_TRACE("shop " + std::to_string(which));
    const auto& db = shop(which);
    exec(db, seed_item_sql("seed_item_similarity"));
    auto expected = count(db, "SELECT count(*) FROM seed_item_similarity");
    EXPECT_GE(expected, 300) << "the comparison needs hundreds of pairs to mean something";
    EXPECT_GE(count(db, "SELECT count(DISTINCT item_id) FROM seed_item_similarity"), 50);
    std::printf("[   info   ] seed item pairs: %lld\n", static_cast<long long>(expected));
    for (int shards : {1, 3}) {
      SCOPED_TRACE("--shards " + std::to_string(shards));
      // Plain `recd compute` (every job) once, the item_similarity job alone once.
      auto o = shards == 1 ? compute_defaults(db, shards) : compute(db, "item_similarity", {}, shards);
      ASSERT_EQ(o.status, 0) << show(o);
      auto d = compare(db, "item_similarity", "seed_item_similarity", "item_id",
                       "similar_item_id");
      EXPECT_TRUE(d.same()) << d;
      EXPECT_EQ(d.live_rows, expected);
    }
  }
}

TEST(ItemSimilarityJob, HonoursItsSettingsLikeTheSeedsSqlWithTheSameParameters) {
  // A candidate cut inside a run of equal sales counts (the tie order matters), buy only, 45 days,
  // 2 common users, a higher sales threshold.
  const auto& db = shop(0);
  item_params p;
  p.min_sales = 15;
  // The first cut at or after rank 150 that splits items of equal sales_count.
  p.max_items = static_cast<int>(count(
    db, "SELECT min(rank) FROM (SELECT row_number() OVER w AS rank, sales_count, "
        "lead(sales_count) OVER w AS next FROM items WHERE sales_count > 15 "
        "WINDOW w AS (ORDER BY sales_count DESC, item_id)) x "
        "WHERE rank >= 150 AND sales_count = next"));
  ASSERT_GT(p.max_items, 0) << "no tie to cut";
  p.window_days = 45;
  p.min_common = 2;
  p.kinds = "'buy'";
  exec(db, seed_item_sql("seed_item_similarity_params", p));
  auto expected = count(db, "SELECT count(*) FROM seed_item_similarity_params");
  EXPECT_GE(expected, 100);
  auto o = compute(db, "item_similarity",
                   {"item_similarity.top_k=0", "item_similarity.min_sales=15",
                    "item_similarity.max_items=" + std::to_string(p.max_items), "item_similarity.window_days=45",
                    "item_similarity.min_common=2", "item_similarity.behavior_types=buy"},
                   2);
  ASSERT_EQ(o.status, 0) << show(o);
  auto d = compare(db, "item_similarity", "seed_item_similarity_params", "item_id",
                   "similar_item_id");
  EXPECT_TRUE(d.same()) << d;
}

TEST(ItemWeightsJob, WritesTheEnginesEaseWeightsIntoItsOwnTableWhateverTheShardCount) {
  // The seed's candidates and window (buy + cart, sales_count > 10, 90 days),
  // set on item_weights, so the input is checkable against the seed's SQL.
  const auto& db = shop(1);
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  {
    auto c = db.connect();
    pqxx::nontransaction tx{c};
    for (const auto& r : tx.exec(
           "SELECT item_id, user_id FROM user_behavior WHERE behavior_type IN ('buy', 'cart') "
           "AND timestamp > now() - interval '90 days' AND item_id IN (SELECT item_id FROM items "
           "WHERE sales_count > 10 ORDER BY sales_count DESC, item_id LIMIT 3000)"))
      pairs.emplace_back(r[0].as<std::int32_t>(), r[1].as<std::int32_t>());
  }
  auto g = recd::engine::bipartite_from_pairs(pairs);
  recd::engine::ease_model model{g, 500};
  std::vector<recd::engine::neighbour> row;
  std::string expected = "(VALUES (0, 0, 0::float8)";
  std::int64_t expected_rows = 0;
  for (std::size_t r = 0; r < g.rows(); ++r) {
    model.neighbours(r, 5, row);
    for (const auto& n : row) {
      char score[64];
      std::snprintf(score, sizeof score, "%.17g", n.score);
      expected += ", (" + std::to_string(g.row_ids[r]) + ", " + std::to_string(n.id) + ", " + score + ")";
      ++expected_rows;
    }
  }
  expected += ") e0 (item_id, similar_item_id, similarity_score)";
  auto rows_of = "(SELECT * FROM " + expected + " WHERE item_id <> 0)";
  ASSERT_GE(expected_rows, 100);
  exec(db, seed_item_sql("seed_item_similarity_ease"));
  for (int shards : {1, 3}) {
    SCOPED_TRACE("--shards " + std::to_string(shards));
    auto o = compute(db, "item_similarity,item_weights",
                     {"item_weights.behavior_types=buy,cart", "item_weights.min_sales=10",
                      "item_weights.window_days=90", "item_weights.top_k=5"},
                     shards);
    ASSERT_EQ(o.status, 0) << show(o);
    auto d = compare(db, "item_weights", rows_of, "item_id", "similar_item_id");
    EXPECT_TRUE(d.same()) << d;
    EXPECT_EQ(d.live_rows, expected_rows);
    auto seed = compare(db, "item_similarity", "seed_item_similarity_ease", "item_id",
                        "similar_item_id");
    EXPECT_TRUE(seed.same()) << "item_similarity keeps the seed's Jaccard beside the weights\n"
                             << seed;
  }
}

// ---- 2. user similarity = the seed's SQL, corrected -------------------------------

TEST(UserSimilarityJob, UnderTheDefaultsEqualsTheSeedsCosineSqlWithDistinctItemsAndNoUserLimit) {
  for (int which : {0, 1}) {
    SCOPED_TRACE("shop " + std::to_string(which));
    const auto& db = shop(which);
    exec(db, seed_user_sql("seed_user_similarity"));
    auto expected = count(db, "SELECT count(*) FROM seed_user_similarity");
    EXPECT_GE(expected, 300) << "the comparison needs hundreds of pairs to mean something";
    std::printf("[   info   ] seed user pairs: %lld\n", static_cast<long long>(expected));
    for (int shards : {1, 3}) {
      SCOPED_TRACE("--shards " + std::to_string(shards));
      auto o = compute(db, "user_similarity", {}, shards);
      ASSERT_EQ(o.status, 0) << show(o);
      auto d = compare(db, "user_similarity", "seed_user_similarity", "user_id",
                       "similar_user_id");
      EXPECT_TRUE(d.same()) << d;
      EXPECT_EQ(d.live_rows, expected);
    }
  }
}

TEST(UserSimilarityJob, HonoursItsSettingsLikeTheSeedsSqlWithTheSameParameters) {
  const auto& db = shop(0);
  user_params p;
  p.active_days = 45;
  p.min_common = 2;
  p.min_score = 0.25;
  p.kinds = "'buy', 'cart', 'click'";
  exec(db, seed_user_sql("seed_user_similarity_params", p));
  EXPECT_GE(count(db, "SELECT count(*) FROM seed_user_similarity_params"), 300);
  auto o = compute(db, "user_similarity",
                   {"user_similarity.top_k=0", "user_similarity.active_days=45",
                    "user_similarity.min_common=2", "user_similarity.min_score=0.25",
                    "user_similarity.behavior_types=buy,cart,click"},
                   2);
  ASSERT_EQ(o.status, 0) << show(o);
  auto d = compare(db, "user_similarity", "seed_user_similarity_params", "user_id",
                   "similar_user_id");
  EXPECT_TRUE(d.same()) << d;
}

TEST(UserSimilarityJob, CountsARepeatedCartAndBuyOnceWhereTheSeedsLiteralSqlDoesNot) {
  test_database db{"jobs_repeat", 4};
  // User 1 carts AND buys item 1; both users have exactly items {1, 2, 3}.
  exec(db, "INSERT INTO users (user_id) VALUES (1), (2);"
           "INSERT INTO items (item_id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c');"
           "INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) VALUES "
           "(1, 1, 'cart', now() - interval '2 days'), (1, 1, 'buy', now() - interval '1 day'),"
           "(1, 2, 'cart', now() - interval '2 days'), (1, 3, 'buy', now() - interval '2 days'),"
           "(2, 1, 'buy', now() - interval '3 days'), (2, 2, 'buy', now() - interval '3 days'),"
           "(2, 3, 'cart', now() - interval '3 days');");
  auto o = compute(db, "user_similarity", {"user_similarity.top_k=0"}, 1);
  ASSERT_EQ(o.status, 0) << show(o);
  exec(db, seed_user_sql("seed_corrected"));
  user_params literal;
  literal.literal = true;
  exec(db, seed_user_sql("seed_literal", literal));
  // recd and the corrected SQL: identical sets, cosine 3 / sqrt(3 * 3) = 1.
  auto d = compare(db, "user_similarity", "seed_corrected", "user_id", "similar_user_id");
  EXPECT_TRUE(d.same()) << d;
  EXPECT_EQ(d.live_rows, 2);
  EXPECT_EQ(db.scalar("SELECT similarity_score FROM user_similarity WHERE user_id = 1 AND "
                      "similar_user_id = 2"),
            "1");
  // The literal seed counts user 1's item 1 twice: 3 / sqrt(4 * 3) = 0.866...
  auto lit = compare(db, "user_similarity", "seed_literal", "user_id", "similar_user_id");
  EXPECT_EQ(lit.score_mismatch, 2) << lit;
  EXPECT_NEAR(std::stod(db.scalar("SELECT similarity_score::float8 FROM seed_literal WHERE "
                                  "user_id = 1 AND similar_user_id = 2")),
              3.0 / std::sqrt(12.0), 1e-9);
}

// ---- 3. top_k -----------------------------------------------------------------

// The best k of every row of `full`: score desc, then neighbour id asc.
std::string best_k(const std::string& full, const std::string& a, const std::string& b, int k) {
  return "(SELECT " + a + ", " + b + ", similarity_score FROM (SELECT *, row_number() OVER "
         "(PARTITION BY " + a + " ORDER BY similarity_score DESC, " + b + ") AS rank FROM " +
         full + ") ranked WHERE rank <= " + std::to_string(k) + ")";
}

TEST(SimilarityJobs, TopKKeepsExactlyTheKBestNeighboursOfTheFullResult) {
  const auto& db = shop(0);
  {
    auto o = compute(db, "item_similarity,user_similarity",
                     {"item_similarity.top_k=0", "user_similarity.top_k=0"}, 2);
    ASSERT_EQ(o.status, 0) << show(o);
  }
  exec(db, "DROP TABLE IF EXISTS full_item_similarity, full_user_similarity;"
           "CREATE TABLE full_item_similarity AS SELECT * FROM item_similarity;"
           "CREATE TABLE full_user_similarity AS SELECT * FROM user_similarity;");
  // Rows that really get cut: items with more than 3 neighbours, users with more than 2.
  EXPECT_GE(count(db, "SELECT count(*) FROM (SELECT item_id FROM full_item_similarity GROUP BY "
                      "item_id HAVING count(*) > 3) x"),
            20);
  EXPECT_GE(count(db, "SELECT count(*) FROM (SELECT user_id FROM full_user_similarity GROUP BY "
                      "user_id HAVING count(*) > 2) x"),
            20);
  auto o = compute(db, "item_similarity,user_similarity",
                   {"item_similarity.top_k=3", "user_similarity.top_k=2"}, 3);
  ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_LE(count(db, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM "
                      "item_similarity GROUP BY item_id) x"),
            3);
  EXPECT_LE(count(db, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM "
                      "user_similarity GROUP BY user_id) x"),
            2);
  auto items = compare(db, "item_similarity",
                       best_k("full_item_similarity", "item_id", "similar_item_id", 3), "item_id",
                       "similar_item_id");
  EXPECT_TRUE(items.same()) << "item_similarity.top_k=3:\n" << items;
  auto users = compare(db, "user_similarity",
                       best_k("full_user_similarity", "user_id", "similar_user_id", 2), "user_id",
                       "similar_user_id");
  EXPECT_TRUE(users.same()) << "user_similarity.top_k=2:\n" << users;
}

// user_neighbours.max_item_users (10,000 by default, which no test shop reaches): the job's rows are the
// engine's kernel over the job's input with the same cap, on any shard count,
// and a cap that bites changes them.
TEST(UserNeighboursJob, AnItemUserCapGivesTheKernelsRowsForTheSampledSetsOnAnyShardCount) {
  const auto& db = shop(0);
  constexpr int cap = 100;
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  {
    auto c = db.connect();
    pqxx::nontransaction tx{c};
    for (const auto& r : tx.exec("SELECT user_id, item_id FROM user_behavior"))
      pairs.emplace_back(r[0].as<std::int32_t>(), r[1].as<std::int32_t>());
  }
  const auto g = recd::engine::bipartite_from_pairs(std::move(pairs));
  const auto gt = recd::engine::transpose(g);
  std::size_t over = 0;
  for (std::size_t c = 0; c < gt.rows(); ++c)
    over += gt.degree(c) > static_cast<std::size_t>(cap);
  ASSERT_GE(over, 10u) << "the cap must bite on this shop";
  recd::engine::similarity_options opt{recd::engine::set_measure::cosine, 3, 0.1, 50};
  opt.max_column_rows = cap;
  recd::engine::similarity_kernel kernel(g, gt, opt);
  {
    auto c = db.connect();
    pqxx::work tx{c};
    tx.exec("DROP TABLE IF EXISTS capped_expected;"
            "CREATE TABLE capped_expected (user_id INT, similar_user_id INT, "
            "similarity_score DOUBLE PRECISION)");
    pqxx::stream_to out{tx, "capped_expected",
                        std::vector<std::string>{"user_id", "similar_user_id", "similarity_score"}};
    std::vector<recd::engine::neighbour> found;
    for (std::size_t r = 0; r < g.rows(); ++r) {
      kernel.neighbours(r, found);
      for (const auto& n : found)
        out << std::make_tuple(g.row_ids[r], n.id, n.score);
    }
    out.complete();
    tx.commit();
  }
  ASSERT_GT(count(db, "SELECT count(*) FROM capped_expected"), 1000);
  for (const int shards : {2, 3}) {
    auto o = compute(db, "user_neighbours", {"user_neighbours.max_item_users=" + std::to_string(cap)},
                     shards);
    ASSERT_EQ(o.status, 0) << show(o);
    auto d = compare(db, "user_neighbours", "capped_expected", "user_id", "similar_user_id");
    EXPECT_TRUE(d.same()) << shards << " shards:\n" << d;
  }
  auto o = compute(db, "user_neighbours", {}, 2); // the default: exact
  ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_FALSE(compare(db, "user_neighbours", "capped_expected", "user_id", "similar_user_id").same());
  exec(db, "DROP TABLE capped_expected");
}

// ---- 4. atomic publishing -----------------------------------------------------------

TEST(SimilarityJobs, PublishingIsAtomicForAConcurrentReader) {
  const auto& db = shop(1);
  exec(db, "TRUNCATE item_similarity");
  auto first_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs") + 1;
  std::atomic<bool> stop{false};
  std::atomic<int> published_runs{0};
  std::vector<std::int64_t> seen;       // every count the reader saw, in order
  std::vector<int> runs_done_when_seen; // published_runs when that count was taken
  std::string reader_error;
  std::thread reader{[&] {
    try {
      auto c = db.connect();
      while (!stop.load()) {
        int done = published_runs.load();
        pqxx::nontransaction tx{c};
        seen.push_back(tx.exec("SELECT count(*) FROM item_similarity")[0][0].as<std::int64_t>());
        runs_done_when_seen.push_back(done);
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  }};
  const int runs = 4;
  std::vector<outcome> outcomes;
  for (int k = 0; k < runs; ++k) {
    outcomes.push_back(compute(db, "item_similarity", {"item_similarity.top_k=0"}, 1 + k % 3));
    published_runs.store(k + 1);
    if (outcomes.back().status != 0)
      break;
  }
  // A few more reads after the last publish.
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  stop.store(true);
  reader.join();
  for (const auto& o : outcomes)
    ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_EQ(reader_error, "") << "the reader's query failed while runs were published";
  auto full = count(db, "SELECT count(*) FROM item_similarity");
  ASSERT_GE(full, 300);
  std::int64_t zeros_after_publish = 0, partial = 0, full_reads = 0;
  std::string first_bad;
  bool published = false;
  for (std::size_t k = 0; k < seen.size(); ++k) {
    if (seen[k] == full) {
      published = true;
      ++full_reads;
    } else if (seen[k] == 0) {
      if (published || runs_done_when_seen[k] > 0) {
        ++zeros_after_publish;
        if (first_bad.empty())
          first_bad = "read " + std::to_string(k) + " saw 0 after a publish";
      }
    } else {
      ++partial;
      if (first_bad.empty())
        first_bad = "read " + std::to_string(k) + " saw " + std::to_string(seen[k]) + " of " +
                    std::to_string(full);
    }
  }
  EXPECT_EQ(zeros_after_publish, 0) << first_bad;
  EXPECT_EQ(partial, 0) << first_bad;
  EXPECT_GE(seen.size(), 20u) << "the reader hardly ran";
  std::printf("[   info   ] %zu reads, %lld saw the full %lld rows\n", seen.size(),
              static_cast<long long>(full_reads), static_cast<long long>(full));
  EXPECT_GT(full_reads, 0);
  // job_runs: one published row per run, each with the full row count.
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  auto rows = tx.exec_params("SELECT kind, status, rows, finished_at IS NOT NULL FROM job_runs "
                             "WHERE run_id >= $1 ORDER BY run_id",
                             first_run);
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(runs));
  for (const auto& r : rows) {
    EXPECT_EQ(std::string{r[0].c_str()}, "item_similarity");
    EXPECT_EQ(std::string{r[1].c_str()}, "published");
    EXPECT_EQ(r[2].as<std::int64_t>(), full);
    EXPECT_TRUE(r[3].as<bool>());
  }
  // No staging or old tables are left behind, and the live table keeps its primary key.
  EXPECT_EQ(count(db, "SELECT count(*) FROM pg_class WHERE relname LIKE 'item_similarity_%' "
                      "AND relkind = 'r'"),
            0);
  EXPECT_EQ(db.scalar("SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = "
                      "'item_similarity_pkey' AND contype = 'p'"),
            "item_similarity");
}

// ---- 5. embeddings ------------------------------------------------------------------

std::vector<float> parse_vector(const std::string& text) {
  std::vector<float> v;
  std::string s = text;
  for (char& ch : s)
    if (ch == '{' || ch == '}' || ch == ',')
      ch = ' ';
  std::istringstream in{s};
  for (std::string tok; in >> tok;)
    v.push_back(std::strtof(tok.c_str(), nullptr));
  return v;
}

std::map<int, std::vector<float>> item_vectors(const test_database& db) {
  std::map<int, std::vector<float>> out;
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  for (const auto& r : tx.exec("SELECT item_id, embedding FROM items WHERE embedding IS NOT NULL"))
    out[r[0].as<int>()] = parse_vector(r[1].c_str());
  return out;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
    ab += double(a[k]) * b[k];
    aa += double(a[k]) * a[k];
    bb += double(b[k]) * b[k];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

TEST(EmbeddingJob, GivesEveryItemWithRecentBehaviorALearnedDeterministicVector) {
  const auto& db = shop(0);
  auto first_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs") + 1;
  auto o = compute(db, "item_similarity,embeddings",
                   {"embedding.dim=16", "embedding.window_days=90"}, 2);
  ASSERT_EQ(o.status, 0) << show(o);

  // With a 90-day window exactly the items (and users) with behavior in it have 16 floats.
  const std::string recent_item = "EXISTS (SELECT 1 FROM user_behavior b WHERE b.item_id = "
                                  "i.item_id AND b.timestamp > now() - interval '90 days')";
  const std::string recent_user = "EXISTS (SELECT 1 FROM user_behavior b WHERE b.user_id = "
                                  "u.user_id AND b.timestamp > now() - interval '90 days')";
  auto embedded = count(db, "SELECT count(*) FROM items i WHERE " + recent_item);
  EXPECT_GE(embedded, 500);
  EXPECT_EQ(count(db, "SELECT count(*) FROM items i WHERE " + recent_item +
                      " AND (embedding IS NULL OR array_ndims(embedding) <> 1 OR "
                      "array_length(embedding, 1) <> 16)"),
            0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM items i WHERE NOT " + recent_item +
                      " AND embedding IS NOT NULL"),
            0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM items WHERE embedding IS NULL AND item_id IN (" +
                      std::to_string(item_without_behavior) + ", " +
                      std::to_string(item_with_old_behavior) + ", " +
                      std::to_string(item_with_stale_vector) + ")"),
            "3")
    << "items without behavior in the window (one with a stale vector) must have NULL";
  EXPECT_EQ(count(db, "SELECT count(*) FROM users u WHERE " + recent_user +
                      " AND (embedding IS NULL OR array_length(embedding, 1) <> 16)"),
            0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM users u WHERE NOT " + recent_user +
                      " AND embedding IS NOT NULL"),
            0);
  EXPECT_EQ(db.scalar("SELECT embedding IS NULL FROM users WHERE user_id = " +
                      std::to_string(user_with_old_behavior)),
            "t");
  EXPECT_EQ(count(db, "SELECT count(*) FROM job_runs WHERE run_id >= " +
                      std::to_string(first_run) + " AND kind = 'embeddings' AND status = "
                      "'published' AND rows = " + std::to_string(embedded)),
            1);

  auto first = item_vectors(db);
  ASSERT_EQ(static_cast<std::int64_t>(first.size()), embedded);
  for (const auto& [id, v] : first) {
    ASSERT_EQ(v.size(), 16u) << "item " << id;
    for (float x : v)
      ASSERT_TRUE(std::isfinite(x)) << "item " << id;
  }

  // Learned: items often bought together point the same way, far more than random pairs.
  std::vector<std::pair<int, int>> top;
  {
    auto c = db.connect();
    pqxx::nontransaction tx{c};
    for (const auto& r : tx.exec("SELECT item_id, similar_item_id FROM item_similarity WHERE "
                                 "item_id < similar_item_id ORDER BY similarity_score DESC, "
                                 "item_id, similar_item_id LIMIT 200"))
      top.emplace_back(r[0].as<int>(), r[1].as<int>());
  }
  ASSERT_GE(top.size(), 100u);
  double top_mean = 0;
  for (auto [a, b] : top)
    top_mean += cosine(first.at(a), first.at(b));
  top_mean /= double(top.size());
  std::vector<int> ids;
  for (const auto& [id, v] : first)
    ids.push_back(id);
  std::mt19937_64 rng{12345};
  std::uniform_int_distribution<std::size_t> pick{0, ids.size() - 1};
  double random_mean = 0;
  const int random_pairs = 5000;
  for (int k = 0; k < random_pairs; ++k) {
    auto a = ids[pick(rng)], b = ids[pick(rng)];
    while (b == a)
      b = ids[pick(rng)];
    random_mean += cosine(first.at(a), first.at(b));
  }
  random_mean /= random_pairs;
  std::printf("[   info   ] mean cosine: top pairs %.3f, random pairs %.3f\n", top_mean,
              random_mean);
  EXPECT_GT(top_mean, random_mean + 0.3)
    << "mean cosine of the 200 most similar item pairs " << top_mean << ", of random pairs "
    << random_mean;

  // Deterministic: a second run, on a different number of shards, gives the same vectors.
  auto o2 = compute(db, "embeddings", {"embedding.dim=16", "embedding.window_days=90"}, 3);
  ASSERT_EQ(o2.status, 0) << show(o2);
  auto second = item_vectors(db);
  ASSERT_EQ(second.size(), first.size());
  double worst = 0;
  int worst_item = -1;
  for (const auto& [id, v] : first) {
    auto it = second.find(id);
    ASSERT_NE(it, second.end()) << "item " << id << " lost its vector";
    ASSERT_EQ(it->second.size(), v.size());
    for (std::size_t k = 0; k < v.size(); ++k)
      if (std::abs(double(v[k]) - it->second[k]) > worst) {
        worst = std::abs(double(v[k]) - it->second[k]);
        worst_item = id;
      }
  }
  EXPECT_LE(worst, 1e-4) << "largest difference between two runs, at item " << worst_item;
}

TEST(EmbeddingJob, UnderTheDefaultsLearnsFromTheWholeHistoryWithDecayedWeights) {
  // No window by default: the item and the user whose only events are 95-120
  // days old get vectors too; with a half-life the run still publishes them.
  const auto& db = shop(0);
  for (const auto& sets : {std::vector<std::string>{},
                           std::vector<std::string>{"embedding.half_life_days=30"}}) {
    SCOPED_TRACE(sets.empty() ? "defaults" : sets[0]);
    auto o = compute(db, "embeddings", sets, 2);
    ASSERT_EQ(o.status, 0) << show(o);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM items WHERE embedding IS NOT NULL AND item_id IN (" +
                        std::to_string(item_with_old_behavior) + ", " +
                        std::to_string(item_without_behavior) + ")"),
              "1")
      << "the item with only old events has a vector, the untouched one none";
    EXPECT_EQ(db.scalar("SELECT embedding IS NOT NULL FROM users WHERE user_id = " +
                        std::to_string(user_with_old_behavior)),
              "t");
    EXPECT_EQ(count(db, "SELECT count(*) FROM items i WHERE embedding IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM user_behavior b WHERE b.item_id = i.item_id)"),
              0);
  }
}

TEST(ComputeCommand, UnderTheDefaultsRecallsTablesAreFilledBesideTheSeeds) {
  // Plain `recd compute`: the seed's two tables and the two recall reads,
  // which count every behavior over the whole history.
  auto db = small_shop("jobs_defaults");
  auto o = compute_defaults(*db, 2);
  ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_EQ(db->scalar("SELECT string_agg(kind || ' ' || status, ', ' ORDER BY kind) FROM job_runs"),
            "embeddings published, item_similarity published, item_weights published, "
            "user_neighbours published, user_similarity published");
  // Two lanes (actors/coordinator_jobs.cpp): the similarity kinds one after
  // another in the documented order, embeddings beside them from the start,
  // so its run began before the fourth similarity run did.
  EXPECT_EQ(db->scalar("SELECT string_agg(kind, ', ' ORDER BY run_id) FROM job_runs WHERE kind <> "
                       "'embeddings'"),
            "item_similarity, user_similarity, item_weights, user_neighbours");
  EXPECT_EQ(db->scalar("SELECT (SELECT run_id FROM job_runs WHERE kind = 'embeddings') < "
                       "(SELECT run_id FROM job_runs WHERE kind = 'user_neighbours')"),
            "t");
  // The summary table lists the jobs in the order they were asked for.
  std::vector<std::string> listed;
  for (const auto& line : nonempty_lines(o.out))
    for (const char* kind :
         {"item_similarity", "user_similarity", "item_weights", "user_neighbours", "embeddings"})
      if (line.rfind(std::string{kind} + " ", 0) == 0 && line.find('%') == std::string::npos)
        listed.push_back(kind);
  EXPECT_EQ(listed, (std::vector<std::string>{"item_similarity", "user_similarity", "item_weights",
                                              "user_neighbours", "embeddings"}))
    << show(o);
  EXPECT_GT(count(*db, "SELECT count(*) FROM item_weights"), 100);
  EXPECT_GT(count(*db, "SELECT count(*) FROM user_neighbours"), 100);
  // Recall's user table counts views too: more users have neighbours there
  // than in the seed's buy/cart table.
  EXPECT_GT(count(*db, "SELECT count(DISTINCT user_id) FROM user_neighbours"),
            count(*db, "SELECT count(DISTINCT user_id) FROM user_similarity"));
  EXPECT_EQ(count(*db, "SELECT count(*) FROM user_neighbours WHERE similarity_score <= 0.1 OR "
                       "similarity_score > 1.000001"),
            0);
}

// ---- 6. bad settings, bad databases --------------------------------------------------

// Exit status non-zero and exactly one non-empty line on stderr containing `needle`.
void expect_refused(const outcome& o, const std::string& needle) {
  EXPECT_NE(o.status, 0) << show(o);
  auto lines = nonempty_lines(o.err);
  EXPECT_EQ(lines.size(), 1u) << "expected a one-line reason\n" << show(o);
  EXPECT_NE(o.err.find(needle), std::string::npos)
    << "stderr should mention \"" << needle << "\"\n" << show(o);
}

TEST(ComputeCommand, RefusesBadSettingsWithANonZeroExitAndAOneLineReason) {
  auto db = small_shop("jobs_bad");
  {
    auto o = compute(*db, "item_similarity", {"item_similarity.top_k=0"}, 2);
    ASSERT_EQ(o.status, 0) << show(o);
  }
  auto live = count(*db, "SELECT count(*) FROM item_similarity");
  ASSERT_GT(live, 0);
  {
    SCOPED_TRACE("unknown behavior type");
    auto o = compute(*db, "item_similarity", {"item_similarity.behavior_types=buy,flying"}, 2);
    expect_refused(o, "flying");
    // The published result is untouched and no staging table is left behind.
    EXPECT_EQ(count(*db, "SELECT count(*) FROM item_similarity"), live);
    EXPECT_EQ(count(*db, "SELECT count(*) FROM pg_class WHERE relname LIKE "
                         "'item_similarity_%' AND relkind = 'r'"),
              0);
    EXPECT_EQ(count(*db, "SELECT count(*) FROM job_runs WHERE status = 'running'"), 0);
  }
  {
    SCOPED_TRACE("unknown behavior type for users");
    expect_refused(compute(*db, "user_similarity", {"user_similarity.behavior_types=purchase"}),
                   "purchase");
  }
  {
    SCOPED_TRACE("unknown setting name");
    expect_refused(compute(*db, "item_similarity", {"item_similarity.topk=3"}),
                   "item_similarity.topk");
  }
  {
    SCOPED_TRACE("not an integer");
    expect_refused(compute(*db, "item_similarity", {"item_similarity.min_common=five"}), "five");
  }
  {
    SCOPED_TRACE("negative top_k");
    expect_refused(compute(*db, "item_similarity", {"item_similarity.top_k=-1"}), "top_k");
  }
  {
    SCOPED_TRACE("negative item user cap");
    expect_refused(compute(*db, "user_neighbours", {"user_neighbours.max_item_users=-1"}),
                   "user_neighbours.max_item_users");
  }
  {
    SCOPED_TRACE("zero embedding dimension");
    expect_refused(compute(*db, "embeddings", {"embedding.dim=0"}), "embedding.dim");
  }
  {
    SCOPED_TRACE("too many conjugate-gradient steps");
    expect_refused(compute(*db, "embeddings", {"embedding.cg_steps=65"}), "embedding.cg_steps");
  }
  {
    SCOPED_TRACE("bad environment override");
    expect_refused(compute(*db, "item_similarity", {}, 0, "RECD_ITEM_SIMILARITY_TOP_K=lots"),
                   "RECD_ITEM_SIMILARITY_TOP_K");
  }
  {
    SCOPED_TRACE("unknown job");
    auto o = compute(*db, "item_similarity,flying");
    EXPECT_NE(o.status, 0) << show(o);
    EXPECT_NE(o.err.find("flying"), std::string::npos) << show(o);
  }
  EXPECT_EQ(count(*db, "SELECT count(*) FROM item_similarity"), live);
}

TEST(ComputeCommand, OnADatabaseWithoutTheSchemaSaysToRunMigrate) {
  test_database db{"jobs_nomig", 4, /*migrate=*/false};
  auto o = compute(db, "item_similarity");
  expect_refused(o, "recd migrate");
}

TEST(ComputeCommand, TakesGlobalOptionsBeforeOrAfterTheSubcommand) {
  auto db = small_shop("jobs_options");
  auto max_neighbours = [&] {
    return count(*db, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM "
                      "item_similarity GROUP BY item_id) x");
  };
  {
    SCOPED_TRACE("--set before the subcommand");
    auto o = run_recd(db->url(), {"--set", "item_similarity.top_k=1", "compute", "--jobs",
                                  "item_similarity", "--shards", "2"});
    ASSERT_EQ(o.status, 0) << show(o);
    EXPECT_EQ(max_neighbours(), 1);
  }
  {
    SCOPED_TRACE("--set after the subcommand");
    auto o = run_recd(db->url(), {"compute", "--jobs", "item_similarity", "--shards", "2",
                                  "--set", "item_similarity.top_k=2"});
    ASSERT_EQ(o.status, 0) << "`recd compute ... --set key=value` must work\n" << show(o);
    EXPECT_EQ(max_neighbours(), 2);
  }
  {
    SCOPED_TRACE("--postgres-url after the subcommand overrides RECD_POSTGRES_URL");
    auto rows = [&] { return count(*db, "SELECT count(*) FROM item_similarity"); };
    // The reference: every pair (top_k = 0), then a smaller result in place,
    // so that only a real default run can bring the full count back.
    auto all = run_recd(db->url(), {"compute", "--jobs", "item_similarity", "--set",
                                     "item_similarity.top_k=0"});
    ASSERT_EQ(all.status, 0) << show(all);
    auto every_pair = rows();
    auto one = run_recd(db->url(), {"compute", "--jobs", "item_similarity", "--set",
                                     "item_similarity.top_k=1"});
    ASSERT_EQ(one.status, 0) << show(one);
    ASSERT_GT(every_pair, rows()) << "the shop must have items with several neighbours";
    auto o = run_recd("postgresql://postgres@127.0.0.1:1/nowhere",
                      {"compute", "--jobs", "item_similarity", "--postgres-url", db->url()});
    ASSERT_EQ(o.status, 0) << show(o);
    EXPECT_EQ(rows(), every_pair) << "the default top_k = 0 keeps every neighbour";
  }
}

TEST(ComputeCommand, OnAnEmptyDatabaseEveryJobPublishesAnEmptyResult) {
  test_database db{"jobs_empty", 4};
  auto o = compute_defaults(db, 3);
  ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_EQ(db.scalar("SELECT string_agg(kind || ' ' || status || ' ' || rows, ', ' ORDER BY "
                      "kind) FROM job_runs"),
            "embeddings published 0, item_similarity published 0, item_weights published 0, "
            "user_neighbours published 0, user_similarity published 0");
  EXPECT_EQ(count(db, "SELECT count(*) FROM item_similarity"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_similarity"), 0);
}

// ---- 7. one run per kind ------------------------------------------------------------

TEST(ComputeCommand, RefusesToStartAJobKindThatIsAlreadyRunning) {
  auto db = small_shop("jobs_lock");
  // Another process running item_similarity holds this advisory lock
  // (job_driver.cpp: 'recd' 'job' 0 + kind).
  const std::int64_t item_lock = 0x72656364'6a6f6200 + 0;
  auto holder = db->connect();
  {
    pqxx::nontransaction tx{holder};
    tx.exec_params("SELECT pg_advisory_lock($1)", item_lock);
  }
  auto runs_before = count(*db, "SELECT count(*) FROM job_runs");
  auto o = compute(*db, "item_similarity", {}, 2);
  EXPECT_NE(o.status, 0) << show(o);
  EXPECT_NE(o.err.find("already running"), std::string::npos) << show(o);
  EXPECT_EQ(count(*db, "SELECT count(*) FROM job_runs"), runs_before)
    << "a refused run must not be recorded";
  EXPECT_EQ(count(*db, "SELECT count(*) FROM item_similarity"), 0);
  // Other kinds are not blocked by it.
  auto users = compute(*db, "user_similarity", {}, 2);
  EXPECT_EQ(users.status, 0) << show(users);
  // Once the other run ends, the job runs.
  {
    pqxx::nontransaction tx{holder};
    tx.exec_params("SELECT pg_advisory_unlock($1)", item_lock);
  }
  auto again = compute(*db, "item_similarity", {}, 2);
  EXPECT_EQ(again.status, 0) << show(again);
  EXPECT_GT(count(*db, "SELECT count(*) FROM item_similarity"), 0);
}

TEST(ComputeCommand, MarksARunLeftRunningByADeadProcessFailedAndDropsItsStagingTable) {
  auto db = small_shop("jobs_stale");
  auto stale = count(*db, "INSERT INTO job_runs (kind, status) VALUES ('item_similarity', "
                          "'running') RETURNING run_id");
  auto staging = "item_similarity_run_" + std::to_string(stale);
  exec(*db, "CREATE TABLE " + staging + " (LIKE item_similarity INCLUDING DEFAULTS)");
  auto o = compute(*db, "item_similarity", {}, 2);
  ASSERT_EQ(o.status, 0) << show(o);
  EXPECT_EQ(db->scalar("SELECT status || ': ' || coalesce(error, '') FROM job_runs WHERE run_id = " +
                       std::to_string(stale)),
            "failed: abandoned: its process stopped");
  EXPECT_EQ(db->scalar("SELECT to_regclass('" + staging + "') IS NULL"), "t");
  EXPECT_EQ(count(*db, "SELECT count(*) FROM job_runs WHERE status = 'published'"), 1);
}

} // namespace
