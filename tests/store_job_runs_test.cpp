// store/job_runs, store/job_inputs and store/job_results against a real
// PostgreSQL, as the job driver and the similarity workers use them: one run
// of a kind at a time, runs a dead process left 'running' end failed with
// their staging tables; a run's input comes with its staging table, its rows
// replace the live table only when published, and only while its term leads;
// a failed run leaves no staging table; the shards' shares of a run's input,
// read in the driver's exported snapshot, make the whole input. Also store/operations' count of
// stored behaviors that recd eval checks before it imports.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <tuple>
#include <vector>
#include <optional>
#include <string>

#include "protocol/errors.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"
#include "store/job_results.hpp"
#include "store/job_runs.hpp"
#include "store/job_tables.hpp"
#include "store/leadership.hpp"
#include "store/operations.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

std::string table_exists(const test_database& db, const std::string& table) {
  return db.scalar("SELECT to_regclass('" + table + "') IS NOT NULL");
}

TEST(JobRuns, OneRunOfAKindAtATimeAndADeadProcessRunEndsFailed) {
  test_database db{"job_runs_lock"};
  import_small_shop(db, 200, 100, 3000);
  auto b = db.connect();
  std::int64_t first = 0;
  auto a = db.connect();
  {
    auto run = store::start_run(a, job_kind::item_similarity, 0);
    ASSERT_TRUE(run.has_value());
    first = *run;
    // Its staging table is made.
    store::create_staging_table(a, job_kind::item_similarity, first);
    EXPECT_EQ(table_exists(db, store::staging_table(job_kind::item_similarity, first)), "t");
    // While it holds the lock, another session starts no run of the kind,
    // but may start another kind.
    EXPECT_FALSE(store::start_run(b, job_kind::item_similarity, 0).has_value());
    auto other = store::start_run(b, job_kind::user_similarity, 0);
    ASSERT_TRUE(other.has_value());
    store::release_run_lock(b, job_kind::user_similarity);
  }
  // Its process dies: the lock is gone (released here as PostgreSQL does when
  // the session ends) and the run still says 'running'.
  store::release_run_lock(a, job_kind::item_similarity);
  auto next = store::start_run(b, job_kind::item_similarity, 3);
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, first);
  EXPECT_EQ(db.scalar("SELECT status || ' ' || error FROM job_runs WHERE run_id = " +
                      std::to_string(first)),
            "failed abandoned: its process stopped");
  EXPECT_EQ(table_exists(db, store::staging_table(job_kind::item_similarity, first)), "f");
  EXPECT_EQ(db.scalar("SELECT status || ' ' || term FROM job_runs WHERE run_id = " +
                      std::to_string(*next)),
            "running 3");
  store::release_run_lock(b, job_kind::item_similarity);
  EXPECT_TRUE(store::start_run(b, job_kind::item_similarity, 3).has_value());
}

// A similarity run's input read as the shards read it: the driver exports a
// snapshot, each "shard" reads its partitions in it; together they read every
// input row once, and a behavior committed after the export is in no share.
TEST(JobRuns, SharesReadInOneExportedSnapshotMakeTheWholeInput) {
  test_database db{"job_runs_snapshot"};
  import_small_shop(db, 200, 100, 3000);
  auto conn = store::connect(db.url());
  ASSERT_TRUE(conn) << describe(conn.error());
  store::input_snapshot snapshot{std::move(*conn)};
  const auto candidates = snapshot.candidate_items(0, 50);
  ASSERT_FALSE(candidates.empty());
  ASSERT_TRUE(std::is_sorted(candidates.begin(), candidates.end()));
  std::string in;
  for (auto id : candidates)
    in += (in.empty() ? "" : ",") + std::to_string(id);
  const auto item_rows = std::stoll(db.scalar(
    "SELECT count(*) FROM user_behavior WHERE behavior_type IN ('buy','cart') AND item_id IN (" +
    in + ")"));
  const auto window = snapshot.since(30);
  const auto user_rows = std::stoll(
    db.scalar("SELECT count(*) FROM user_behavior WHERE behavior_type = 'view' AND timestamp > "
              "timestamptz 'epoch' + interval '" + std::to_string(window) + " microseconds'"));
  ASSERT_GT(user_rows, 0);
  // Committed after the export: no share may see it.
  db.scalar("INSERT INTO user_behavior (user_id, item_id, behavior_type) VALUES (1, " +
            std::to_string(candidates.front()) + ", 'buy'), (2, 1, 'view') RETURNING 1");
  auto read = [&](bool items, std::vector<std::uint32_t> partitions) {
    store::partition_input_spec spec;
    spec.snapshot = snapshot.id();
    spec.item_rows = items;
    spec.behaviors = items ? std::vector<behavior_kind>{behavior_kind::buy, behavior_kind::cart}
                           : std::vector<behavior_kind>{behavior_kind::view};
    spec.windowed = !items;
    spec.window_since = window;
    spec.count = 4;
    for (auto id : candidates)
      for (auto p : partitions)
        if (partition_of(id, 4) == p)
          spec.candidates.push_back(id);
    spec.partitions = partitions;
    std::int64_t rows = 0;
    auto reader = db.connect();
    store::read_partition_input(reader, spec, [&](std::int32_t row, std::int32_t) {
      EXPECT_NE(std::find(partitions.begin(), partitions.end(), partition_of(row, 4)),
                partitions.end())
        << "row " << row << " of another share";
      ++rows;
    });
    return rows;
  };
  EXPECT_EQ(read(true, {0, 2}) + read(true, {1, 3}), item_rows);
  EXPECT_EQ(read(false, {0, 2}) + read(false, {1, 3}), user_rows);
  snapshot.release();
  // Once released, the snapshot can be imported no more.
  EXPECT_THROW(read(true, {0, 1, 2, 3}), std::exception);
}

TEST(JobRuns, APublishedRunReplacesTheLiveRowsAndAFailedOneLeavesNoStagingTable) {
  test_database db{"job_runs_publish"};
  import_small_shop(db, 200, 100, 3000);
  auto c = db.connect();
  auto run = store::start_run(c, job_kind::item_similarity, 0);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::item_similarity, *run);
  const auto old_rows = db.scalar("SELECT count(*) FROM item_similarity");
  {
    store::staging_rows rows{db.url(), job_kind::item_similarity, *run};
    rows.add(1, 2, 0.5);
    rows.add(1, 3, 0.25);
    rows.add(2, 1, 0.5);
    rows.commit();
  }
  {
    store::staging_rows rows{db.url(), job_kind::item_similarity, *run};
    rows.add(9, 9, 1.0);
  } // never committed: nothing of it is written
  EXPECT_EQ(db.scalar("SELECT count(*) FROM item_similarity"), old_rows); // not yet published
  store::publish_similarity_run(c, job_kind::item_similarity, *run, 3, 0);
  EXPECT_EQ(
      db.scalar("SELECT string_agg(item_id || '-' || similar_item_id || ':' || "
                "similarity_score, ' ' ORDER BY item_id, similar_item_id) FROM item_similarity"),
      "1-2:0.5 1-3:0.25 2-1:0.5");
  EXPECT_EQ(db.scalar("SELECT status || ' ' || rows FROM job_runs WHERE run_id = " +
                      std::to_string(*run)),
            "published 3");
  EXPECT_EQ(table_exists(db, store::staging_table(job_kind::item_similarity, *run)), "f");
  store::release_run_lock(c, job_kind::item_similarity);

  // A failed run: its staging table is dropped and its error kept.
  auto failed = store::start_run(c, job_kind::item_similarity, 0);
  ASSERT_TRUE(failed.has_value());
  store::create_staging_table(c, job_kind::item_similarity, *failed);
  const auto staging = store::staging_table(job_kind::item_similarity, *failed);
  store::record_run_failed(c, *failed, "job_failed: a shard went away", staging);
  EXPECT_EQ(table_exists(db, staging), "f");
  EXPECT_EQ(db.scalar("SELECT status || ' ' || error FROM job_runs WHERE run_id = " +
                      std::to_string(*failed)),
            "failed job_failed: a shard went away");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM item_similarity"), "3");
}

// user_neighbours is published without a key (sql/008): its rows replace
// the live table as they are, and a user erased while the run was going loses
// its rows on both sides; one erased before the run started is not looked
// for (its behaviors were gone from the run's input).
TEST(JobRuns, UserNeighboursPublishUnkeyedAndDropUsersErasedDuringTheRun) {
  test_database db{"job_runs_user_neighbours"};
  auto c = db.connect();
  db.scalar("INSERT INTO erased_users (user_id, erased_at, epoch) VALUES "
          "(5, now() - interval '1 hour', 1)");
  auto publish = [&](bool erase_during_run) {
    auto run = store::start_run(c, job_kind::user_neighbours, 0);
    EXPECT_TRUE(run.has_value());
    store::create_staging_table(c, job_kind::user_neighbours, *run);
    {
      store::staging_rows rows{db.url(), job_kind::user_neighbours, *run};
      rows.add(1, 2, 0.5);
      rows.add(2, 1, 0.5);
      rows.add(2, 7, 0.25);
      rows.add(7, 2, 0.25);
      rows.add(5, 1, 0.75);
      rows.commit();
    }
    if (erase_during_run)
      db.scalar("INSERT INTO erased_users (user_id, erased_at, epoch) VALUES (7, now(), 2)");
    store::publish_similarity_run(c, job_kind::user_neighbours, *run, 5, 0);
    store::release_run_lock(c, job_kind::user_neighbours);
    return db.scalar("SELECT string_agg(user_id || '-' || similar_user_id, ' ' ORDER BY user_id, "
                     "similar_user_id) FROM user_neighbours");
  };
  EXPECT_EQ(publish(false), "1-2 2-1 2-7 5-1 7-2");
  EXPECT_EQ(publish(true), "1-2 2-1 5-1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_constraint WHERE conrelid = "
                      "'user_neighbours'::regclass AND contype = 'p'"),
            "0");
}

TEST(JobRuns, StagingRowsKeepEveryIdAndScoreBitForBitAcrossManyBlocks) {
  test_database db{"job_runs_staging_bits"};
  auto c = db.connect();
  auto run = store::start_run(c, job_kind::user_neighbours, 0);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::user_neighbours, *run);
  // Extreme ids, a denormal, scores one ulp apart, and enough rows for many
  // blocks of the binary COPY.
  std::vector<std::tuple<std::int32_t, std::int32_t, double>> rows{
      {1, 2, 1.0 / 3.0},
      {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max(), 5e-324},
      {-7, 0, 0.1},
      {-7, 1, std::nextafter(0.1, 1.0)},
      {9, 10, 1.0}};
  for (std::int32_t i = 0; i < 20000; ++i)
    rows.emplace_back(100 + i / 50, i, 1.0 / std::sqrt(double(i) + 2.0));
  {
    store::staging_rows out{db.url(), job_kind::user_neighbours, *run};
    for (const auto& [id, other, score] : rows)
      out.add(id, other, score);
    out.commit();
  }
  pqxx::work tx{c};
  const auto stored = tx.exec("SELECT user_id, similar_user_id, "
                              "encode(float8send(similarity_score), 'hex') FROM " +
                              store::staging_table(job_kind::user_neighbours, *run));
  ASSERT_EQ(stored.size(), rows.size());
  std::sort(rows.begin(), rows.end());
  std::vector<std::tuple<std::int32_t, std::int32_t, std::string>> got, want;
  for (const auto& r : stored)
    got.emplace_back(r[0].as<std::int32_t>(), r[1].as<std::int32_t>(), r[2].as<std::string>());
  for (const auto& [id, other, score] : rows) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(score)));
    want.emplace_back(id, other, hex);
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

TEST(JobRuns, StagingRowsNeverCommittedLeaveTheStagingTableEmpty) {
  test_database db{"job_runs_staging_abort"};
  auto c = db.connect();
  auto run = store::start_run(c, job_kind::user_neighbours, 0);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::user_neighbours, *run);
  {
    store::staging_rows out{db.url(), job_kind::user_neighbours, *run};
    for (std::int32_t i = 0; i < 20000; ++i) // several blocks already sent
      out.add(i, i + 1, 0.5);
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM " +
                      store::staging_table(job_kind::user_neighbours, *run)),
            "0");
}

TEST(JobRuns, StagingRowsForAnUnreachableServerThrowBrokenConnection) {
  // Port 1 on loopback: nothing listens there.
  EXPECT_THROW((store::staging_rows{"postgresql://recd@127.0.0.1:1/recd?connect_timeout=2",
                                    job_kind::user_neighbours, 1}),
               pqxx::broken_connection);
}

TEST(JobRuns, ADeposedLeaderPublishesNothing) {
  test_database db{"job_runs_fence"};
  import_small_shop(db, 200, 100, 3000);
  auto c = db.connect();
  ASSERT_EQ(store::acquire_lease(c, "replica-a", "a:1", 60000, 1, "0.1.0"),
            std::optional<std::int64_t>{1});
  auto run = store::start_run(c, job_kind::item_similarity, 1);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::item_similarity, *run);
  {
    store::staging_rows rows{db.url(), job_kind::item_similarity, *run};
    rows.add(1, 2, 0.5);
    rows.commit();
  }
  const auto live = db.scalar("SELECT count(*) FROM item_similarity");
  db.scalar("UPDATE coordinator_lease SET expires_at = clock_timestamp() - interval '1 second'");
  auto b = db.connect();
  ASSERT_EQ(store::acquire_lease(b, "replica-b", "b:1", 60000, 1, "0.1.0"),
            std::optional<std::int64_t>{2});
  EXPECT_THROW(store::publish_similarity_run(c, job_kind::item_similarity, *run, 1, 1),
               store::fenced);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM item_similarity"), live);
  EXPECT_EQ(db.scalar("SELECT status FROM job_runs WHERE run_id = " + std::to_string(*run)),
            "running");
}

TEST(StoredBehaviors, ZeroBeforeMigrateThenTheRowsOfUserBehavior) {
  test_database bare{"stored_behaviors_bare", 16, false};
  auto c = bare.connect();
  EXPECT_EQ(store::stored_behaviors(c), 0);
  test_database db{"stored_behaviors"};
  auto d = db.connect();
  EXPECT_EQ(store::stored_behaviors(d), 0);
  import_small_shop(db, 50, 20, 400);
  EXPECT_EQ(std::to_string(store::stored_behaviors(d)),
            db.scalar("SELECT count(*) FROM user_behavior"));
  EXPECT_GT(store::stored_behaviors(d), 0);
}

} // namespace
} // namespace recd::test
