// The three importers against a real PostgreSQL (a fresh database per test):
// counts, catalog rows, sales_count, MovieLens mapping, CSV forms, and the
// all-or-nothing contract on bad input.

#include "store/importer.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/synthetic.hpp"
#include "support/test_database.hpp"

namespace {

namespace fs = std::filesystem;
using recd::ec;
using recd::store::import_csv;
using recd::store::import_movielens;
using recd::store::import_report;
using recd::store::import_synthetic;
using recd::store::movielens_options;
using recd::test::test_database;

constexpr std::int64_t fixed_now = 1'714'564'800; // 2024-05-01T12:00:00Z

// A scratch directory, removed with its files.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> n{0};
    path_ = fs::temp_directory_path() /
            ("recd_import_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  // Writes `content` byte for byte and returns the file's path.
  std::string write(const std::string& name, const std::string& content) const {
    auto p = path_ / name;
    std::ofstream out{p, std::ios::binary};
    out << content;
    return p.string();
  }

private:
  fs::path path_;
};

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

// Everything an import may touch, as one comparable string: row counts, the
// sales total and checksums over the rows of the three tables.
std::string snapshot(const test_database& db) {
  return db.scalar(
      "SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM items) || '/' || "
      "(SELECT count(*) FROM user_behavior) || '/' || "
      "(SELECT coalesce(sum(sales_count), 0) FROM items) || '/' || "
      "(SELECT md5(coalesce(string_agg(user_id::text, ',' ORDER BY user_id), '')) FROM users) || "
      "'/' || (SELECT md5(coalesce(string_agg(item_id || ':' || title || ':' || price || ':' || "
      "rating || ':' || sales_count, ',' ORDER BY item_id), '')) FROM items) || '/' || "
      "(SELECT md5(coalesce(string_agg(id || ':' || user_id || ':' || item_id || ':' || "
      "behavior_type || ':' || extract(epoch FROM timestamp), ',' ORDER BY id), '')) "
      "FROM user_behavior)");
}

// Items whose sales_count differs from their number of buy + cart events.
std::int64_t sales_mismatches(const test_database& db) {
  return count(db, "SELECT count(*) FROM items i WHERE sales_count <> (SELECT count(*) "
                   "FROM user_behavior b WHERE b.item_id = i.item_id "
                   "AND b.behavior_type IN ('buy', 'cart'))");
}

std::string message(const caf::error& err) {
  return recd::describe(err);
}

::testing::AssertionResult import_failed(const caf::expected<import_report>& r) {
  if (r)
    return ::testing::AssertionFailure() << "the import succeeded";
  if (r.error().category() != recd::error_category ||
      r.error().code() != static_cast<std::uint8_t>(ec::import_failed))
    return ::testing::AssertionFailure() << "wrong error: " << message(r.error());
  return ::testing::AssertionSuccess();
}

// ---- synthetic ------------------------------------------------------------

recd::engine::synthetic_options small_shop() {
  recd::engine::synthetic_options opt;
  opt.users = 300;
  opt.items = 120;
  opt.events = 5000;
  opt.categories = 8;
  opt.brands = 20;
  opt.seed = 3;
  opt.now = fixed_now;
  opt.days = 30;
  return opt;
}

TEST(import_synthetic, counts_catalog_and_sales) {
  test_database db{"imp_synth"};
  auto c = db.connect();
  const auto opt = small_shop();
  const auto shop = recd::engine::generate_shop(opt);
  std::set<int> users;
  std::map<std::string, std::int64_t> kinds;
  for (const auto& e : shop.events) {
    users.insert(e.user);
    ++kinds[std::string{to_string(e.kind)}];
  }

  auto r = import_synthetic(c, opt);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 5000);
  EXPECT_EQ(r->users_created, static_cast<std::int64_t>(users.size()));
  EXPECT_EQ(r->items_created, 120); // the whole catalog
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior"), 5000);
  EXPECT_EQ(count(db, "SELECT count(*) FROM users"), static_cast<std::int64_t>(users.size()));
  EXPECT_EQ(count(db, "SELECT count(*) FROM items"), 120);
  for (const auto& [kind, n] : kinds)
    EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior WHERE behavior_type = '" + kind + "'"),
              n)
        << kind;
  EXPECT_EQ(sales_mismatches(db), 0);
  EXPECT_GT(count(db, "SELECT max(sales_count) FROM items"), 0);

  // Catalog rows as generated.
  const auto& first = shop.items.front();
  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 1"), first.title);
  EXPECT_EQ(std::stod(db.scalar("SELECT price FROM items WHERE item_id = 1")), first.price);
  EXPECT_EQ(std::stod(db.scalar("SELECT rating FROM items WHERE item_id = 1")), first.rating);
  EXPECT_EQ(count(db, "SELECT category_id FROM items WHERE item_id = 1"), first.category);
  EXPECT_EQ(count(db, "SELECT brand_id FROM items WHERE item_id = 1"), first.brand);

  // Timestamps exactly as generated.
  EXPECT_EQ(count(db, "SELECT max(extract(epoch FROM timestamp))::bigint FROM user_behavior"),
            shop.events.back().ts);
  EXPECT_EQ(count(db, "SELECT min(extract(epoch FROM timestamp))::bigint FROM user_behavior"),
            shop.events.front().ts);
}

TEST(import_synthetic, importing_twice_appends_and_accumulates_sales) {
  test_database db{"imp_twice"};
  auto c = db.connect();
  auto first = import_synthetic(c, small_shop());
  ASSERT_TRUE(first) << message(first.error());
  const auto sales = count(db, "SELECT sum(sales_count) FROM items");
  auto second = import_synthetic(c, small_shop());
  ASSERT_TRUE(second) << message(second.error());
  EXPECT_EQ(second->events, 5000);
  EXPECT_EQ(second->users_created, 0);
  EXPECT_EQ(second->items_created, 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior"), 10000);
  EXPECT_EQ(count(db, "SELECT sum(sales_count) FROM items"), 2 * sales);
  EXPECT_EQ(sales_mismatches(db), 0);
}

TEST(import_synthetic, invalid_options_are_refused) {
  test_database db{"imp_synth_bad"};
  auto c = db.connect();
  auto opt = small_shop();
  opt.users = 0;
  auto r = import_synthetic(c, opt);
  ASSERT_TRUE(import_failed(r));
  EXPECT_NE(message(r.error()).find("users"), std::string::npos) << message(r.error());
  EXPECT_EQ(count(db, "SELECT count(*) FROM items"), 0);
}

// The defaults at the current time give the seed's own item-similarity SQL
// (one batch, >= 5 common users, 90 days) work to do.
TEST(import_synthetic, defaults_feed_the_seed_item_similarity_sql) {
  test_database db{"imp_seed_sql"};
  auto c = db.connect();
  recd::engine::synthetic_options opt; // now = 0: the current time
  auto r = import_synthetic(c, opt);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 200000);
  EXPECT_GE(count(db, "SELECT count(*) FROM items WHERE sales_count > 10"), 24);
  pqxx::work tx{c};
  tx.exec(R"(
    WITH popular AS (SELECT item_id FROM items WHERE sales_count > 10
                     ORDER BY sales_count DESC LIMIT 10000),
    item_users AS (
      SELECT item_id, array_agg(DISTINCT user_id) AS users FROM user_behavior
      WHERE item_id IN (SELECT item_id FROM popular) AND behavior_type IN ('buy', 'cart')
        AND timestamp > CURRENT_TIMESTAMP - INTERVAL '90 days'
      GROUP BY item_id),
    pairs AS (
      SELECT a.item_id AS item_a, b.item_id AS item_b, a.users AS users_a, b.users AS users_b
      FROM item_users a CROSS JOIN item_users b WHERE a.item_id < b.item_id),
    similarities AS (
      SELECT item_a, item_b,
             cardinality(users_a & users_b)::NUMERIC / NULLIF(cardinality(users_a | users_b), 0)
               AS jaccard_sim
      FROM pairs WHERE cardinality(users_a & users_b) >= 5)
    INSERT INTO item_similarity (item_id, similar_item_id, similarity_score)
    SELECT item_a, item_b, jaccard_sim FROM similarities
    UNION ALL SELECT item_b, item_a, jaccard_sim FROM similarities)");
  tx.commit();
  EXPECT_GE(count(db, "SELECT count(*) FROM item_similarity"), 100);
}

// ---- MovieLens -------------------------------------------------------------

// 19 genre flags with the given ones set.
std::string flags(std::set<int> set) {
  std::string out;
  for (int g = 0; g < 19; ++g)
    out += (g ? "|" : "") + std::string(set.count(g) ? "1" : "0");
  return out;
}

void write_ml100k(const temp_dir& dir) {
  dir.write("u.item", "1|Toy Story (1995)|01-Jan-1995||http://x/1|" + flags({3, 4, 5}) + "\n" +
                          "2|Caf\xe9 Society (2016)|01-Jan-2016||http://x/2|" + flags({8}) + "\n" +
                          "3|Nothing Flagged|01-Jan-1990||http://x/3|" + flags({}) + "\n" +
                          "4|Never Rated|01-Jan-1990||http://x/4|" + flags({0}) + "\n");
  dir.write("u.data", "10\t1\t5\t881250949\n"
                      "10\t2\t4\t881250950\n"
                      "11\t1\t3\t881250951\n"
                      "\n"
                      "11\t3\t2\t881250952\n"
                      "12\t1\t1\t881250960\n"
                      "12\t2\t5\t881250900\n");
}

TEST(import_movielens, ml100k_layout) {
  temp_dir dir;
  write_ml100k(dir);
  test_database db{"imp_ml100k"};
  auto c = db.connect();
  auto r = import_movielens(c, movielens_options{dir.path().string(), false, 0});
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 6);
  EXPECT_EQ(r->users_created, 3);
  EXPECT_EQ(r->items_created, 4); // every listed movie, rated or not

  auto kind = [&](int user, int item) {
    return db.scalar("SELECT behavior_type FROM user_behavior WHERE user_id = " +
                     std::to_string(user) + " AND item_id = " + std::to_string(item));
  };
  EXPECT_EQ(kind(10, 1), "buy");
  EXPECT_EQ(kind(10, 2), "cart");
  EXPECT_EQ(kind(11, 1), "click");
  EXPECT_EQ(kind(11, 3), "view");
  EXPECT_EQ(kind(12, 1), "view");
  EXPECT_EQ(count(db, "SELECT extract(epoch FROM timestamp)::bigint FROM user_behavior "
                      "WHERE user_id = 11 AND item_id = 3"),
            881250952);

  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 1"), "Toy Story (1995)");
  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 2"), "Caf\xc3\xa9 Society (2016)");
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 1"), "3");
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 2"), "8");
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 3"), "");
  EXPECT_EQ(db.scalar("SELECT brand_id FROM items WHERE item_id = 1"), "");
  EXPECT_EQ(db.scalar("SELECT price FROM items WHERE item_id = 1"), "38.00"); // 1 + 37 % 500
  EXPECT_EQ(db.scalar("SELECT price FROM items WHERE item_id = 2"), "75.00");
  EXPECT_EQ(db.scalar("SELECT rating FROM items WHERE item_id = 1"), "3.00"); // (5+3+1)/3
  EXPECT_EQ(db.scalar("SELECT rating FROM items WHERE item_id = 2"), "4.50");
  EXPECT_EQ(db.scalar("SELECT rating FROM items WHERE item_id = 4"), "0.00");
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 1"), "1");
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 2"), "2");
  EXPECT_EQ(sales_mismatches(db), 0);
}

TEST(import_movielens, csv_layout_with_rebased_time) {
  temp_dir dir;
  dir.write("movies.csv",
            "movieId,title,genres\r\n"
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
            "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
            "12,\"Dracula: Dead and Loving It \"\"Uncut\"\" (1995)\",Comedy|Horror\r\n"
            "13,Some IMAX Film (2010),IMAX\r\n"
            "14,Mystery Tape,(no genres listed)\r\n"
            "15,Kids Stuff,Children\r\n");
  dir.write("ratings.csv", "userId,movieId,rating,timestamp\r\n"
                           "1,1,4.0,964982703\r\n"
                           "1,11,4.5,964981247\r\n"
                           "2,11,5.0,964982224\r\n"
                           "2,12,3.5,964983815\r\n"
                           "3,13,0.5,964982931\r\n"
                           "3,14,2.5,964982400\r\n");
  test_database db{"imp_mlcsv"};
  auto c = db.connect();
  auto r = import_movielens(c, movielens_options{dir.path().string(), true, fixed_now});
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 6);
  EXPECT_EQ(r->users_created, 3);
  EXPECT_EQ(r->items_created, 6);

  auto kind = [&](int user, int item) {
    return db.scalar("SELECT behavior_type FROM user_behavior WHERE user_id = " +
                     std::to_string(user) + " AND item_id = " + std::to_string(item));
  };
  EXPECT_EQ(kind(1, 1), "cart");
  EXPECT_EQ(kind(1, 11), "cart"); // 4.5
  EXPECT_EQ(kind(2, 11), "buy");
  EXPECT_EQ(kind(2, 12), "click"); // 3.5
  EXPECT_EQ(kind(3, 13), "view");
  EXPECT_EQ(kind(3, 14), "view");

  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 11"),
            "American President, The (1995)");
  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 12"),
            "Dracula: Dead and Loving It \"Uncut\" (1995)");
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 1"), "2");   // Adventure
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 11"), "5");  // Comedy
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 13"), "19"); // IMAX
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 14"), "0");
  EXPECT_EQ(db.scalar("SELECT category_id FROM items WHERE item_id = 15"), "4"); // Children
  EXPECT_EQ(db.scalar("SELECT rating FROM items WHERE item_id = 11"), "4.75");
  EXPECT_EQ(db.scalar("SELECT price FROM items WHERE item_id = 11"), "408.00"); // 1 + 407

  // Rebased: the newest event is at `now`, the spacing is kept.
  EXPECT_EQ(count(db, "SELECT max(extract(epoch FROM timestamp))::bigint FROM user_behavior"),
            fixed_now);
  EXPECT_EQ(count(db, "SELECT min(extract(epoch FROM timestamp))::bigint FROM user_behavior"),
            fixed_now - (964983815 - 964981247));
}

TEST(import_movielens, rebase_to_the_current_time) {
  temp_dir dir;
  write_ml100k(dir);
  test_database db{"imp_ml_now"};
  auto c = db.connect();
  const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto r = import_movielens(c, movielens_options{dir.path().string(), true, 0});
  ASSERT_TRUE(r) << message(r.error());
  const auto newest =
      count(db, "SELECT max(extract(epoch FROM timestamp))::bigint FROM user_behavior");
  EXPECT_GE(newest, before);
  EXPECT_LE(newest, before + 60);
}

TEST(import_movielens, bad_input_names_file_and_line) {
  test_database db{"imp_ml_bad"};
  auto c = db.connect();
  {
    temp_dir empty;
    auto r = import_movielens(c, movielens_options{empty.path().string(), false, 0});
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find("u.data"), std::string::npos) << message(r.error());
  }
  {
    temp_dir dir;
    write_ml100k(dir);
    dir.write("u.data", "10\t1\t5\t881250949\n10\t2\tfive\t881250950\n");
    auto r = import_movielens(c, movielens_options{dir.path().string(), false, 0});
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find("u.data line 2: rating 'five'"), std::string::npos)
        << message(r.error());
  }
  {
    temp_dir dir;
    write_ml100k(dir);
    dir.write("u.item", "1|Toy Story (1995)|x||y|" + flags({1}) + "\n2|Broken|x||y|0|2\n");
    auto r = import_movielens(c, movielens_options{dir.path().string(), false, 0});
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find("u.item line 2"), std::string::npos) << message(r.error());
  }
  {
    temp_dir dir;
    dir.write("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n");
    auto r = import_movielens(c, movielens_options{dir.path().string(), false, 0});
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find("movies.csv"), std::string::npos) << message(r.error());
  }
  EXPECT_EQ(snapshot(db), "0/0/0/0/" + db.scalar("SELECT md5('')") + "/" +
                              db.scalar("SELECT md5('')") + "/" + db.scalar("SELECT md5('')"));
}

TEST(import_movielens, real_ml100k_if_present) {
  const fs::path dir = "/work/shared/datasets/ml-100k";
  if (!fs::exists(dir / "u.data") || !fs::exists(dir / "u.item"))
    GTEST_SKIP() << "ml-100k is not at " << dir;
  test_database db{"imp_ml100k_real"};
  auto c = db.connect();
  auto r = import_movielens(c, movielens_options{dir.string(), true, fixed_now});
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 100000);
  EXPECT_EQ(r->users_created, 943);
  EXPECT_EQ(r->items_created, 1682);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior"), 100000);
  EXPECT_EQ(count(db, "SELECT count(*) FROM users"), 943);
  EXPECT_EQ(count(db, "SELECT count(*) FROM items"), 1682);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior WHERE behavior_type = 'buy'"), 21201);
  EXPECT_EQ(sales_mismatches(db), 0);
  EXPECT_EQ(count(db, "SELECT max(extract(epoch FROM timestamp))::bigint FROM user_behavior"),
            fixed_now);
  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 1"), "Toy Story (1995)");
  // Latin-1 titles arrive as UTF-8.
  EXPECT_GT(count(db, "SELECT count(*) FROM items WHERE octet_length(title) > length(title)"), 0);
}

// ---- behavior CSV ----------------------------------------------------------

TEST(import_csv, header_timestamps_and_missing_ones) {
  temp_dir dir;
  const auto path =
      dir.write("behaviors.csv", "\xEF\xBB\xBFuser_id,item_id,behavior_type,timestamp\r\n"
                                 "1,100,view,1714564800\r\n"
                                 "\r\n"
                                 "  1 , 100 , click , 2024-05-01T12:05:00Z \r\n"
                                 "2,100,buy,2024-05-01 13:00:00\r\n"
                                 "2,101,cart,2024-05-01T15:00:00+02:00\r\n"
                                 "3,\"102\",\"view\"\r\n"
                                 "3,102,cart,\r\n");
  test_database db{"imp_csv"};
  auto c = db.connect();
  const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto r = import_csv(c, path);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 6);
  EXPECT_EQ(r->users_created, 3);
  EXPECT_EQ(r->items_created, 3);

  auto ts = [&](const std::string& where) {
    return count(db,
                 "SELECT extract(epoch FROM timestamp)::bigint FROM user_behavior WHERE " + where);
  };
  EXPECT_EQ(ts("user_id = 1 AND behavior_type = 'view'"), 1714564800);
  EXPECT_EQ(ts("user_id = 1 AND behavior_type = 'click'"), 1714564800 + 300);
  EXPECT_EQ(ts("user_id = 2 AND behavior_type = 'buy'"), 1714564800 + 3600);
  EXPECT_EQ(ts("user_id = 2 AND behavior_type = 'cart'"), 1714564800 + 3600);
  for (auto kind : {"view", "cart"}) {
    const auto t = ts(std::string{"user_id = 3 AND behavior_type = '"} + kind + "'");
    EXPECT_GE(t, before) << kind;
    EXPECT_LE(t, before + 60) << kind;
  }
  // Unknown items get the generic row; sales_count counts buy + cart.
  EXPECT_EQ(db.scalar("SELECT title FROM items WHERE item_id = 101"), "item 101");
  EXPECT_EQ(db.scalar("SELECT price FROM items WHERE item_id = 101"), "0.00");
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 100"), "1");
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 102"), "1");
  EXPECT_EQ(sales_mismatches(db), 0);
}

TEST(import_csv, without_header_and_twice) {
  temp_dir dir;
  const auto path = dir.write("b.csv", "5,7,buy,1714564800\n6,7,cart,1714564801.9\n6,8,view\n");
  test_database db{"imp_csv_twice"};
  auto c = db.connect();
  auto r = import_csv(c, path);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 3);
  EXPECT_EQ(r->users_created, 2);
  EXPECT_EQ(r->items_created, 2);
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 7"), "2");
  auto again = import_csv(c, path);
  ASSERT_TRUE(again) << message(again.error());
  EXPECT_EQ(again->events, 3);
  EXPECT_EQ(again->users_created, 0);
  EXPECT_EQ(again->items_created, 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior"), 6);
  EXPECT_EQ(db.scalar("SELECT sales_count FROM items WHERE item_id = 7"), "4");
  EXPECT_EQ(sales_mismatches(db), 0);
}

TEST(import_csv, reads_stdin) {
  std::istringstream input{"user_id,item_id,behavior_type\n9,90,buy\n9,91,view\n"};
  auto* saved = std::cin.rdbuf(input.rdbuf());
  test_database db{"imp_csv_stdin"};
  auto c = db.connect();
  auto r = import_csv(c, "-");
  std::cin.rdbuf(saved);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 2);
}

TEST(import_csv, empty_file_imports_nothing) {
  temp_dir dir;
  const auto path = dir.write("empty.csv", "user_id,item_id,behavior_type,timestamp\n\n");
  test_database db{"imp_csv_empty"};
  auto c = db.connect();
  auto r = import_csv(c, path);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 0);
  EXPECT_EQ(r->users_created, 0);
  EXPECT_EQ(r->items_created, 0);
}

// Each bad row fails the whole import, names the file and its line, and leaves
// every table exactly as it was; the connection stays usable.
TEST(import_csv, bad_rows_roll_back_everything) {
  temp_dir dir;
  test_database db{"imp_csv_bad"};
  auto c = db.connect();
  ASSERT_TRUE(import_synthetic(c, small_shop()));
  const auto before = snapshot(db);

  const std::string good = "user_id,item_id,behavior_type,timestamp\n"
                           "1,2,view,1714564800\n"
                           "1000,2000,buy,1714564801\n";
  struct bad_case {
    std::string row;
    std::string expected; // part of the message after "line 4: "
  };
  const std::vector<bad_case> cases = {
      {"-1,2,view,1714564800", "user_id -1 is negative"},
      {"1,-2,view,1714564800", "item_id -2 is negative"},
      {"x1,2,view,1714564800", "user_id 'x1' is not an integer"},
      {"1,2.5,view,1714564800", "item_id '2.5' is not an integer"},
      {"1,3000000000,view,1714564800", "item_id '3000000000' is out of range"},
      {"1,2,buyy,1714564800", "behavior_type 'buyy' is not one of view, click, cart, buy"},
      {"1,2,Buy,1714564800", "behavior_type 'Buy'"},
      {"1,2,view,yesterday", "timestamp 'yesterday'"},
      {"1,2,view,2024-02-30T00:00:00Z", "timestamp '2024-02-30T00:00:00Z'"},
      {"1,2", "expected 3 or 4 fields"},
      {"1,2,view,1714564800,extra", "expected 3 or 4 fields"},
      {",2,view", "user_id is empty"},
      {"1,\"2,view", "a quoted field is not closed on its line"},
  };
  for (const auto& bad : cases) {
    const auto path = dir.write("bad.csv", good + bad.row + "\n5,6,view,1714564802\n");
    auto r = import_csv(c, path);
    ASSERT_TRUE(import_failed(r)) << bad.row;
    const auto msg = message(r.error());
    EXPECT_NE(msg.find(path + " line 4: " + bad.expected), std::string::npos)
        << bad.row << " -> " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(snapshot(db), before) << bad.row;
  }

  // Without a header the line numbers count from the first line too.
  {
    const auto path = dir.write("noheader.csv", "1,2,view\n\n1,2,nope\n");
    auto r = import_csv(c, path);
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find(path + " line 3: behavior_type 'nope'"), std::string::npos)
        << message(r.error());
  }
  // A header naming the columns in another order would swap data.
  {
    const auto path = dir.write("swapped.csv", "item_id,user_id,behavior_type\n1,2,view\n");
    auto r = import_csv(c, path);
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find(path + " line 1:"), std::string::npos) << message(r.error());
  }
  // A missing file.
  {
    auto r = import_csv(c, (dir.path() / "missing.csv").string());
    ASSERT_TRUE(import_failed(r));
    EXPECT_NE(message(r.error()).find("missing.csv"), std::string::npos) << message(r.error());
  }
  EXPECT_EQ(snapshot(db), before);

  // The same connection still imports.
  const auto known_users = count(db, "SELECT count(*) FROM users WHERE user_id IN (1, 1000)");
  const auto path = dir.write("ok.csv", good);
  auto r = import_csv(c, path);
  ASSERT_TRUE(r) << message(r.error());
  EXPECT_EQ(r->events, 2);
  EXPECT_EQ(r->users_created, 2 - known_users);
  EXPECT_EQ(r->items_created, 1); // item 2 is in the synthetic catalog, 2000 is not
  EXPECT_EQ(sales_mismatches(db), 0);
}

// A database error (here: no schema) is an import failure too.
TEST(import_csv, database_errors_are_import_failures) {
  temp_dir dir;
  const auto path = dir.write("b.csv", "1,2,view\n");
  test_database db{"imp_noschema", 16, false};
  auto c = db.connect();
  auto r = import_csv(c, path);
  ASSERT_TRUE(import_failed(r));
  EXPECT_NE(message(r.error()).find(path), std::string::npos) << message(r.error());
}

} // namespace
