// The history reader (actors/history_reader.hpp) in this process, against a
// fresh database on the PostgreSQL scripts/test started: what an API node
// learns of a user whose shard does not answer.
//
//   The record's bought items, and the newest touched ones when asked; a user
//   without rows has none; a query past its deadline is not read; a read
//   blocked by a lock ends at the deadline with an error, and the next one
//   works; an unreachable server is an error, not a wait.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/history_reader.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct answer {
  std::vector<item_id> bought, seen;
  caf::error error;
};

struct reader_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  history_reader_actor reader;

  explicit reader_fixture(const std::string& conninfo) {
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    reader = spawn_history_reader(*sys, conninfo);
  }
  ~reader_fixture() { caf::anon_send_exit(reader, caf::exit_reason::user_shutdown); }

  // Asks with a deadline `within` from now (negative: already passed).
  answer ask(user_id user, bool with_seen, std::int32_t seen_limit,
             steady::duration within = 2s) {
    history_query q;
    q.user = user;
    q.with_seen = with_seen;
    q.seen_limit = seen_limit;
    q.deadline_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>((steady::now() + within).time_since_epoch())
        .count();
    answer out;
    caf::scoped_actor self{*sys};
    self->request(reader, 30s, q)
      .receive(
        [&](std::vector<item_id>& bought, std::vector<item_id>& seen) {
          out.bought = std::move(bought);
          out.seen = std::move(seen);
        },
        [&](caf::error& err) { out.error = std::move(err); });
    return out;
  }
};

bool is(const caf::error& err, ec code) {
  return err.category() == error_category && err.code() == static_cast<std::uint8_t>(code);
}

// user 7: bought 30 twice and 10; touched 50 (oldest), 40, 30, 10, 20 (newest).
void seed_rows(const test_database& db) {
  auto c = db.connect();
  pqxx::work tx{c};
  tx.exec("INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) VALUES "
          "(7, 50, 'view', now() - interval '6 hours'), "
          "(7, 40, 'click', now() - interval '5 hours'), "
          "(7, 30, 'buy', now() - interval '4 hours'), "
          "(7, 10, 'buy', now() - interval '3 hours'), "
          "(7, 30, 'buy', now() - interval '2 hours'), "
          "(7, 20, 'cart', now() - interval '1 hour'), "
          "(8, 99, 'buy', now())");
  tx.commit();
}

TEST(HistoryReader, AnswersTheRecordsBoughtItemsAndTheNewestTouchedOnes) {
  test_database db{"history_reader"};
  seed_rows(db);
  reader_fixture f{db.url()};

  auto bought_only = f.ask(7, false, 1000);
  ASSERT_FALSE(bought_only.error) << describe(bought_only.error);
  EXPECT_EQ(bought_only.bought, (std::vector<item_id>{10, 30}));
  EXPECT_TRUE(bought_only.seen.empty());

  auto with_seen = f.ask(7, true, 1000);
  ASSERT_FALSE(with_seen.error) << describe(with_seen.error);
  EXPECT_EQ(with_seen.bought, (std::vector<item_id>{10, 30}));
  EXPECT_EQ(with_seen.seen, (std::vector<item_id>{10, 20, 30, 40, 50}));

  // recommend.history_items = 3: the three newest distinct items (20, 30, 10), sorted.
  auto newest = f.ask(7, true, 3);
  ASSERT_FALSE(newest.error) << describe(newest.error);
  EXPECT_EQ(newest.seen, (std::vector<item_id>{10, 20, 30}));
  EXPECT_EQ(newest.bought, (std::vector<item_id>{10, 30})); // never cut

  auto nobody = f.ask(12345, true, 1000);
  ASSERT_FALSE(nobody.error) << describe(nobody.error);
  EXPECT_TRUE(nobody.bought.empty());
  EXPECT_TRUE(nobody.seen.empty());
}

TEST(HistoryReader, AnExpiredQueryIsNotReadAndALockEndsAReadAtItsDeadline) {
  test_database db{"history_reader_late"};
  seed_rows(db);
  reader_fixture f{db.url()};

  auto expired = f.ask(7, true, 1000, -1ms);
  EXPECT_TRUE(is(expired.error, ec::timeout)) << describe(expired.error);

  {
    // A migration's lock: the read waits for it until its deadline, then fails.
    auto locker = db.connect();
    pqxx::work tx{locker};
    tx.exec("LOCK TABLE user_behavior IN ACCESS EXCLUSIVE MODE");
    auto blocked = f.ask(7, true, 1000, 300ms);
    // An answer while the lock is still held (this thread holds it): the
    // read did not wait for the lock beyond its deadline.
    EXPECT_TRUE(is(blocked.error, ec::database_error)) << describe(blocked.error);
    tx.abort();
  }
  // The same reader answers again once the lock is gone.
  auto after = f.ask(7, false, 1000);
  ASSERT_FALSE(after.error) << describe(after.error);
  EXPECT_EQ(after.bought, (std::vector<item_id>{10, 30}));
}

TEST(HistoryReader, AnUnreachableServerIsAnErrorNamingNoPassword) {
  // Nothing listens on port 1 of the loopback: the connection is refused.
  reader_fixture f{"postgresql://recd:secret-password@127.0.0.1:1/recd?connect_timeout=2"};
  auto a = f.ask(7, true, 1000);
  EXPECT_TRUE(is(a.error, ec::database_unavailable)) << describe(a.error);
  EXPECT_EQ(describe(a.error).find("secret-password"), std::string::npos) << describe(a.error);
}

} // namespace
} // namespace recd::test
