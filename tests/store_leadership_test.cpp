// store/leadership and store/partition_map against a real PostgreSQL: the
// coordinator lease is taken by one replica at a time, passes to another only
// once it expired (a new term), fences the old term's writes (of the map too),
// and names the runs an older leader left running; the map round-trips.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/leadership.hpp"
#include "store/partition_map.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

void expire(pqxx::connection& c) {
  pqxx::work tx{c};
  tx.exec("UPDATE coordinator_lease SET expires_at = clock_timestamp() - interval '1 second'");
  tx.commit();
}

TEST(CoordinatorLease, OneHolderAtATimeAndANewTermOnlyAfterItExpired) {
  test_database db{"lease"};
  auto a = db.connect();
  auto b = db.connect();
  EXPECT_FALSE(store::read_lease(a).has_value());

  auto first = store::acquire_lease(a, "replica-a", "10.0.0.1:4242", 60000, 1, "0.9.0");
  ASSERT_EQ(first, std::optional<std::int64_t>{1});
  // B waits while A's lease runs, however often it asks.
  EXPECT_FALSE(store::acquire_lease(b, "replica-b", "10.0.0.2:4242", 60000, 2, "1.0.0").has_value());
  EXPECT_FALSE(store::acquire_lease(b, "replica-b", "10.0.0.2:4242", 60000, 2, "1.0.0").has_value());
  auto now = store::read_lease(b);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->holder, "replica-a");
  EXPECT_EQ(now->address, "10.0.0.1:4242");
  EXPECT_EQ(now->term, 1);
  EXPECT_FALSE(now->expired);
  // The lease names the leader's wire version and release (sql/007).
  EXPECT_EQ(now->wire_version, 1u);
  EXPECT_EQ(now->release, "0.9.0");
  EXPECT_TRUE(store::renew_lease(a, 1, 60000));

  expire(a);
  EXPECT_TRUE(store::read_lease(b)->expired);
  auto second = store::acquire_lease(b, "replica-b", "10.0.0.2:4242", 60000, 2, "1.0.0");
  ASSERT_EQ(second, std::optional<std::int64_t>{2});
  EXPECT_EQ(store::read_lease(a)->address, "10.0.0.2:4242");
  // A taker of another wire version replaces both with its own.
  EXPECT_EQ(store::read_lease(a)->wire_version, 2u);
  EXPECT_EQ(store::read_lease(a)->release, "1.0.0");
  // The old term can neither renew nor release the new term's lease.
  EXPECT_FALSE(store::renew_lease(a, 1, 60000));
  store::release_lease(a, 1);
  EXPECT_FALSE(store::read_lease(a)->expired);
  EXPECT_FALSE(store::acquire_lease(a, "replica-a", "10.0.0.1:4242", 60000, 1, "0.9.0").has_value());

  // A release ends the lease at once: the next replica takes term 3.
  store::release_lease(b, 2);
  EXPECT_EQ(store::acquire_lease(a, "replica-a", "10.0.0.1:4242", 60000, 1, "0.9.0"),
            std::optional<std::int64_t>{3});
}

TEST(CoordinatorLease, FenceLetsOnlyTheLeadingTermWrite) {
  test_database db{"lease_fence"};
  auto c = db.connect();
  ASSERT_TRUE(store::acquire_lease(c, "replica-a", "a:1", 60000, 1, "0.9.0").has_value());
  expire(c);
  ASSERT_EQ(store::acquire_lease(c, "replica-b", "b:1", 60000, 2, "1.0.0"), std::optional<std::int64_t>{2});

  // The deposed term 1 writes a map: refused, and nothing of it commits.
  {
    pqxx::work tx{c};
    EXPECT_THROW(
      {
        store::fence(tx, 1);
        tx.exec("INSERT INTO partition_map (partition, shard, epoch) VALUES (0, 'old', 99)");
        tx.commit();
      },
      store::fenced);
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM partition_map WHERE epoch = 99"), "0");
  // The leading term 2 writes; term 0 (no replicas) is never fenced.
  for (std::int64_t term : {2, 0}) {
    pqxx::work tx{c};
    EXPECT_NO_THROW(store::fence(tx, term));
    tx.exec_params("INSERT INTO partition_map (partition, shard, epoch) VALUES ($1, 'new', 7)",
                   static_cast<int>(term));
    tx.commit();
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM partition_map WHERE epoch = 7"), "2");
}

TEST(CoordinatorLease, TheMapRoundTripsAndADeposedTermCannotReplaceIt) {
  test_database db{"lease_map"};
  auto c = db.connect();
  EXPECT_EQ(store::load_partition_map(c).epoch, 0u);
  ASSERT_EQ(store::acquire_lease(c, "replica-a", "a:1", 60000, 1, "0.9.0"), std::optional<std::int64_t>{1});
  const std::vector<std::string> owners{"shard-0", "shard \"1\"", "", "back\\slash"};
  store::save_partition_map(c, 7, owners, 1);
  auto back = store::load_partition_map(c);
  EXPECT_EQ(back.epoch, 7u);
  EXPECT_EQ(back.owners, owners);
  expire(c);
  ASSERT_EQ(store::acquire_lease(c, "replica-b", "b:1", 60000, 2, "1.0.0"), std::optional<std::int64_t>{2});
  EXPECT_THROW(store::save_partition_map(c, 8, {"old", "old", "old", "old"}, 1), store::fenced);
  EXPECT_EQ(store::load_partition_map(c).epoch, 7u);
  EXPECT_EQ(store::load_partition_map(c).owners, owners);
}

TEST(CoordinatorLease, ALeadersLongWriteDoesNotHoldUpItsRenewal) {
  // A map write that waits (here for a lock another session holds on
  // partition_map; in production an embeddings publish's UPDATE of every
  // user, seconds at a million users) must not keep the lease row locked:
  // the leader's renewal UPDATE would wait as long, and a leader that cannot
  // renew for two thirds of its lease exits. The fence is taken last.
  test_database db{"lease_long_write"};
  auto leader = db.connect();
  auto renewer = db.connect();
  auto other = db.connect();
  ASSERT_EQ(store::acquire_lease(leader, "replica-a", "a:1", 60000, 1, "0.9.0"),
            std::optional<std::int64_t>{1});
  pqxx::work blocker{other};
  blocker.exec("LOCK TABLE partition_map IN ACCESS EXCLUSIVE MODE");
  std::thread writer{[&] { store::save_partition_map(leader, 3, {"shard-0", "shard-1"}, 1); }};
  // The writer waits for the lock; wait until PostgreSQL shows it waiting.
  for (int i = 0; i < 500 && db.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted") == "0"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  ASSERT_NE(db.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted"), "0")
    << "the map write never waited for the lock";
  // The renewal goes through meanwhile (a statement_timeout turns a wait
  // behind the writer's fence into a failure instead of a hang).
  {
    pqxx::nontransaction set{renewer};
    set.exec("SET statement_timeout = '10s'");
  }
  bool renewed = false;
  EXPECT_NO_THROW(renewed = store::renew_lease(renewer, 1, 60000));
  EXPECT_TRUE(renewed);
  blocker.commit();
  writer.join();
  EXPECT_EQ(store::load_partition_map(leader).epoch, 3u);
}

TEST(CoordinatorLease, OrphanedRunsAreThoseOlderLeadersLeftRunning) {
  test_database db{"lease_orphans"};
  auto c = db.connect();
  {
    pqxx::work tx{c};
    tx.exec("INSERT INTO job_runs (kind, status, term) VALUES "
            "('item_similarity', 'running', 1), ('embeddings', 'running', 2), "
            "('user_similarity', 'published', 1), ('user_similarity', 'running', 3), "
            "('item_similarity', 'running', 0)");
    tx.commit();
  }
  // Term 3 leads: runs of terms 1 and 2 still 'running' are orphans; its own
  // run and a run outside any replicated coordinator (term 0) are not.
  EXPECT_EQ(store::orphaned_run_kinds(c, 3),
            (std::vector<std::string>{"embeddings", "item_similarity"}));
  EXPECT_EQ(store::orphaned_run_kinds(c, 2), (std::vector<std::string>{"item_similarity"}));
  EXPECT_TRUE(store::orphaned_run_kinds(c, 1).empty());
}

TEST(CoordinatorLease, ANewTermEndsTheJobSessionsOfOlderTermsAndTheirLocks) {
  test_database db{"lease_sessions"};
  postgres_settings pg;
  pg.url = db.url();
  auto session = [&](const std::string& name) {
    return pqxx::connection{store::conninfo(pg, store::session::job, name)};
  };
  // A frozen leader of term 1 holds a job's advisory lock; term 3's own job
  // session and an unnamed session are not to be touched.
  auto deposed = session(store::job_session_name(1));
  auto current = session(store::job_session_name(3));
  auto other = db.connect();
  {
    pqxx::nontransaction tx{deposed};
    ASSERT_TRUE(tx.exec("SELECT pg_try_advisory_lock(4242)")[0][0].as<bool>());
  }
  auto lock_free = [&] {
    pqxx::nontransaction tx{other};
    bool got = tx.exec("SELECT pg_try_advisory_lock(4242)")[0][0].as<bool>();
    if (got)
      tx.exec("SELECT pg_advisory_unlock(4242)");
    return got;
  };
  EXPECT_FALSE(lock_free());

  auto ender = db.connect();
  EXPECT_EQ(store::end_job_sessions_of_older_terms(ender, 3), 1);
  // pg_terminate_backend returns before the backend is gone: wait for it.
  for (int i = 0; i < 100 && !lock_free(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  EXPECT_TRUE(lock_free()) << "the deposed term's lock is still held";
  EXPECT_THROW(pqxx::nontransaction{deposed}.exec("SELECT 1"), pqxx::broken_connection);
  EXPECT_NO_THROW(pqxx::nontransaction{current}.exec("SELECT 1"));
  EXPECT_NO_THROW(pqxx::nontransaction{other}.exec("SELECT 1"));
  EXPECT_EQ(store::end_job_sessions_of_older_terms(ender, 3), 0);
}

} // namespace
} // namespace recd::test
