// store::write_behaviors against a real PostgreSQL: a batch without event ids
// goes through COPY (pg_stat_statements shows it) and stores exactly its
// events with ids in request order; a batch mixing new and stored event ids
// stores only the new ones and answers the stored rows for the others; two
// writers on their own connections committing overlapping users and items at
// once all commit with every sale counted; COPY's timestamps are PostgreSQL's own.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/behavior_rows.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

struct batch {
  std::vector<behavior_event> events;
  std::vector<std::string> event_ids;
  std::vector<store::written_behavior> write(pqxx::connection& c) const {
    std::vector<const behavior_event*> e;
    std::vector<const std::string*> d;
    for (std::size_t k = 0; k < events.size(); ++k) {
      e.push_back(&events[k]);
      d.push_back(&event_ids[k]);
    }
    return store::write_behaviors(c, e, d);
  }
  void add(user_id u, item_id i, behavior_kind kind, unix_seconds ts, std::string id = "") {
    events.push_back({u, i, kind, ts});
    event_ids.push_back(std::move(id));
  }
};

class BehaviorRows : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<test_database>("behavior_rows");
    import_small_shop(*db_, 50, 40, 500);
  }
  static void TearDownTestSuite() { db_.reset(); }

  static std::int64_t sales_of(item_id item) {
    return count(*db_, "SELECT sales_count FROM items WHERE item_id = " + std::to_string(item));
  }
  // The row `id` holds exactly this event.
  static bool row_is(std::int64_t id, const behavior_event& e) {
    return count(*db_, "SELECT count(*) FROM user_behavior WHERE id = " + std::to_string(id) +
                         " AND user_id = " + std::to_string(e.user) +
                         " AND item_id = " + std::to_string(e.item) + " AND behavior_type = '" +
                         std::string{to_string(e.kind)} +
                         "' AND timestamp = to_timestamp(" + std::to_string(e.ts) + ")") == 1;
  }
  static std::int64_t copies() {
    return count(*db_, "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN "
                       "pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
                       "AND s.query ~* '^\\s*copy\\s+user_behavior'");
  }

  static inline std::unique_ptr<test_database> db_;
};

TEST_F(BehaviorRows, ABatchWithoutEventIdsIsCopiedWithIdsInRequestOrder) {
  db_->scalar("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  const auto copies_before = copies();
  batch b;
  const behavior_kind kinds[] = {behavior_kind::view, behavior_kind::buy, behavior_kind::cart,
                                 behavior_kind::click};
  std::map<item_id, std::int64_t> sold;
  // Items in descending order, so that COPY's (item, kind) order is not the request's.
  for (int k = 0; k < 100; ++k) {
    const item_id item = 40 - k % 40;
    const auto kind = kinds[k % 4];
    b.add(700000 + k % 7, item, kind, 1700000000 + k * 3601);
    if (kind == behavior_kind::buy || kind == behavior_kind::cart)
      ++sold[item];
  }
  ASSERT_GE(b.events.size(), store::copy_min_events);
  std::map<item_id, std::int64_t> sales_before;
  for (const auto& [item, n] : sold)
    sales_before[item] = sales_of(item);
  const auto rows_before = count(*db_, "SELECT count(*) FROM user_behavior");

  auto c = db_->connect();
  auto written = b.write(c);
  ASSERT_EQ(written.size(), b.events.size());
  for (std::size_t k = 0; k < written.size(); ++k) {
    EXPECT_TRUE(written[k].fresh) << k;
    EXPECT_TRUE(row_is(written[k].id, b.events[k])) << "events[" << k << "] is not row "
                                                    << written[k].id;
    if (k > 0) {
      EXPECT_GT(written[k].id, written[k - 1].id) << "ids follow the request's order";
    }
  }
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior"), rows_before + 100);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM users WHERE user_id BETWEEN 700000 AND 700006"), 7);
  for (const auto& [item, n] : sold)
    EXPECT_EQ(sales_of(item), sales_before[item] + n) << "item " << item;
  const auto copies_after = copies();
  ASSERT_GE(copies_before, 0);
  EXPECT_EQ(copies_after, copies_before + 1) << "the batch did not go through COPY";
}

TEST_F(BehaviorRows, ABatchMixingNewAndStoredEventIdsStoresOnlyTheNew) {
  auto c = db_->connect();
  batch first;
  first.add(710001, 3, behavior_kind::buy, 1700000000, "mix-a");
  first.add(710001, 4, behavior_kind::view, 1700000001, "mix-b");
  auto stored = first.write(c);
  ASSERT_EQ(stored.size(), 2u);
  const auto sales3 = sales_of(3), sales5 = sales_of(5);

  batch second;
  second.add(710002, 5, behavior_kind::buy, 1700000002, "mix-c"); // new
  second.add(710001, 3, behavior_kind::buy, 1700000000, "mix-a"); // stored
  second.add(710002, 6, behavior_kind::view, 1700000003, "");     // new, no id
  second.add(710001, 4, behavior_kind::view, 1700000001, "mix-b"); // stored
  auto written = second.write(c);
  ASSERT_EQ(written.size(), 4u);
  EXPECT_TRUE(written[0].fresh);
  EXPECT_FALSE(written[1].fresh);
  EXPECT_TRUE(written[2].fresh);
  EXPECT_FALSE(written[3].fresh);
  EXPECT_EQ(written[1].id, stored[0].id);
  EXPECT_EQ(written[3].id, stored[1].id);
  EXPECT_TRUE(row_is(written[0].id, second.events[0]));
  EXPECT_TRUE(row_is(written[2].id, second.events[2]));
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id IN (710001, 710002)"), 4);
  EXPECT_EQ(sales_of(3), sales3) << "a stored buy counted again";
  EXPECT_EQ(sales_of(5), sales5 + 1);
}

TEST_F(BehaviorRows, TwoWritersWithTheSameUsersAndItemsBothCommit) {
  // Two writers, each on its own connection (as postgres.behavior_writers
  // runs them), commit batches naming the same new users and selling the
  // same items, in opposite request orders, at the same time: every batch
  // commits (a deadlock would throw) and no sale is lost or counted twice.
  const int batches = 15, per_batch = 60;
  std::map<item_id, std::int64_t> before;
  for (item_id i = 1; i <= 10; ++i)
    before[i] = sales_of(i);
  std::vector<std::string> failures(2);
  auto run = [&](int w) {
    try {
      auto c = db_->connect();
      for (int n = 0; n < batches; ++n) {
        batch b;
        for (int k = 0; k < per_batch; ++k) {
          const int j = w == 0 ? k : per_batch - 1 - k;
          b.add(720000 + n * 100 + j % 20, 1 + j % 10, behavior_kind::buy, 1700000000 + k);
        }
        b.write(c);
      }
    } catch (const std::exception& e) {
      failures[static_cast<std::size_t>(w)] = e.what();
    }
  };
  std::thread a{run, 0}, b{run, 1};
  a.join();
  b.join();
  EXPECT_EQ(failures[0], "");
  EXPECT_EQ(failures[1], "");
  for (item_id i = 1; i <= 10; ++i)
    EXPECT_EQ(sales_of(i), before[i] + 2 * batches * per_batch / 10) << "item " << i;
}

TEST_F(BehaviorRows, CopyTimestampsAreTheOnesPostgresWrites) {
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{59}, std::int64_t{951782400},
                         std::int64_t{1709164800 + 86399}, std::int64_t{1767225599},
                         std::int64_t{4102444800}}) {
    std::string mine;
    store::append_copy_timestamp(mine, t);
    EXPECT_EQ(mine, db_->scalar("SELECT to_char(to_timestamp(" + std::to_string(t) +
                                ") AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'"))
      << t;
  }
}

TEST_F(BehaviorRows, KnownItemsAreTheCatalogsOnes) {
  auto c = db_->connect();
  auto known = store::known_items(c, {1, 40, 990001, 2});
  std::sort(known.begin(), known.end());
  EXPECT_EQ(known, (std::vector<item_id>{1, 2, 40}));
  EXPECT_TRUE(store::known_items(c, {}).empty());
}

} // namespace
} // namespace recd::test
