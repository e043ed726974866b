// Similarity runs read and exchanged by the shards themselves (docs/cluster.md,
// "Jobs on a cluster"), on clusters of separate processes on 127.0.0.1
// (support/cluster_harness.hpp): each shard reads its share of the input
// under the job driver's exported snapshot and sends it to the others.
//
//   OneTwoThreeShards   the four similarity kinds over 1, 2 and 3 shard
//                       processes equal a one-node run (16 processes:
//                       cluster_many_test); every shard read a share, and
//                       the shards exchanged over direct connections
//                       (of each two, one holds one to the other's actor port).
//   OneTwoThreeShards   the embeddings job (ALS) over 1, 2 and 3 shard
//                       processes gives the vectors of a one-node run: the
//                       workers exchanged the factors among themselves, over
//                       direct connections, and staged the vectors.
//   ShardFailure        a shard process killed (kill -9) once the embeddings
//                       run is recorded as running: the run is redone on the
//                       live shards and equals the one-node run; no staging
//                       table is left and no run stays 'running'.
//
// The coordinator's peak resident memory (VmHWM) after each run is printed:
// figures for docs/cluster.md, never asserted.

#include <gtest/gtest.h>

#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/job_reference.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/sockets.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

// Starts a coordinator and `shards` shard processes, named into `live`;
// then waits for the map to balance over them.
auto start_shards(cluster& c, int shards, std::set<std::string>& live) {
  c.start_coordinator();
  c.wait_leading();
  for (int i = 0; i < shards; ++i) {
    c.start_shard(i);
    live.insert("shard-" + std::to_string(i));
  }
  return c.wait_balanced(live, 30s);
}

// A run's exchange went straight from shard to shard, not through the
// coordinator's node: of each two shard processes, one holds a connection to
// the other's actor port (only a run's exchange opens it).
void expect_direct_exchange(cluster& c, const std::set<std::string>& live) {
  for (const auto& a : live)
    for (const auto& b : live)
      if (a < b) {
        EXPECT_TRUE(connected_to(c[a].proc->pid(), c[b].actor) ||
                    connected_to(c[b].proc->pid(), c[a].actor))
          << "no connection between " << a << " and " << b;
      }
}

TEST(OneTwoThreeShards, EverySimilarityKindEqualsAOneNodeRun) {
  test_database db{"cluster_shuffle", 16};
  shop_spec spec;
  spec.users = 1500;
  spec.items = 300;
  spec.events = 20000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  const auto reference = keep_one_node_similarity(db);
  for (std::size_t k = 0; k < reference.size(); ++k)
    ASSERT_GT(reference[k], 0) << similarity_kinds[k] << ": the one-node run found nothing";

  std::string figures;
  for (int shards : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(shards) + " shard processes");
    redis_server redis;
    cluster c{"shuffle" + std::to_string(shards), db.url(), redis.url()};
    std::set<std::string> live;
    auto balanced = start_shards(c, shards, live);
    ASSERT_TRUE(balanced.ok) << (balanced.map ? balanced.map->raw : "no map");
    auto& coordinator = c["coordinator"];
    auto job = run_cli({"compute", "--coordinator", c.coordinator_addr(), "--jobs",
                        "item_similarity,user_similarity,item_weights,user_neighbours"},
                       c.common_env(), 180s);
    ASSERT_EQ(job.status, 0) << show(job);
    for (const char* table : similarity_kinds)
      EXPECT_EQ(similarity_differences(db, table), 0)
        << table << " over " << shards << " shard processes differs from the one-node run";
    // Each shard read a share and exchanged it: its log says so.
    for (const auto& name : live) {
      EXPECT_NE(slurp(c[name].log).find("read its share"), std::string::npos)
        << name << " did not read its share of the input:\n" << tail(slurp(c[name].log));
    }
    expect_direct_exchange(c, live);
    figures += "\n  " + std::to_string(shards) + " shards: coordinator VmHWM " +
               fmt(status_mib(coordinator.proc->pid(), "VmHWM"), 1) + " MiB";
    c.shutdown();
  }
  info("the four similarity kinds equal the one-node run on 1, 2 and 3 shard processes;" +
       figures);
}

TEST(OneTwoThreeShards, TheEmbeddingsEqualAOneNodeRun) {
  test_database db{"cluster_shuffle_als", 16};
  shop_spec spec;
  spec.users = 1500;
  spec.items = 300;
  spec.events = 20000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  ASSERT_GT(keep_one_node_embeddings(db), 100) << "the one-node run learned too few vectors";

  std::string figures;
  for (int shards : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(shards) + " shard processes");
    redis_server redis;
    cluster c{"shuffle_als" + std::to_string(shards), db.url(), redis.url()};
    std::set<std::string> live;
    auto balanced = start_shards(c, shards, live);
    ASSERT_TRUE(balanced.ok) << (balanced.map ? balanced.map->raw : "no map");
    auto& coordinator = c["coordinator"];
    auto job = run_cli({"compute", "--coordinator", c.coordinator_addr(), "--jobs", "embeddings"},
                       c.common_env(), 180s);
    ASSERT_EQ(job.status, 0) << show(job);
    auto d = embeddings_differences(db);
    EXPECT_EQ(d.mismatched, 0) << "vectors in one run only, or of another length";
    // Bit for bit: every worker solves its rows from the same cells (read
    // in (user, item) order), the same whole fixed side and its same Gram,
    // and a row's solve depends on nothing else (engine/als.hpp).
    EXPECT_EQ(d.largest, 0.0) << "over " << shards << " shard processes";
    // No staging table is left behind.
    EXPECT_EQ(count(db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'embeddings_run_%'"),
              0);
    for (const auto& name : live)
      EXPECT_NE(slurp(c[name].log).find("solves"), std::string::npos)
        << name << " ran no worker of the run:\n" << tail(slurp(c[name].log));
    expect_direct_exchange(c, live); // the factors too
    figures += "\n  " + std::to_string(shards) + " shards: largest difference " +
               fmt(d.largest, 9) + ", coordinator VmHWM " +
               fmt(status_mib(coordinator.proc->pid(), "VmHWM"), 1) + " MiB";
    c.shutdown();
  }
  info("the embeddings equal the one-node run on 1, 2 and 3 shard processes;" + figures);
}

TEST(ShardFailure, AnEmbeddingsRunWhoseShardIsKilledIsRedoneAndLeavesNoStagingTable) {
  test_database db{"cluster_shuffle_alskill", 16};
  shop_spec spec;
  spec.users = 3000;
  spec.items = 500;
  spec.events = 60000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  ASSERT_GT(keep_one_node_embeddings(db), 100) << "the one-node run learned too few vectors";
  redis_server redis;
  cluster c{"shuffle_alskill", db.url(), redis.url()};
  c.start_coordinator();
  c.wait_leading();
  for (int i = 0; i < 3; ++i)
    c.start_shard(i);
  ASSERT_TRUE(c.wait_balanced({"shard-0", "shard-1", "shard-2"}, 30s).ok);
  const auto last_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs");

  // shard-2 dies as soon as the run is recorded as running.
  cli_run job{{"compute", "--coordinator", c.coordinator_addr(), "--jobs", "embeddings"},
              c.common_env()};
  auto started = steady::now();
  bool seen_running = false;
  while (seconds_since(started) < 60 && job.process().running()) {
    if (count(db, "SELECT count(*) FROM job_runs WHERE kind = 'embeddings' AND status = "
                  "'running' AND run_id > " + std::to_string(last_run)) > 0) {
      seen_running = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  c.kill9(c["shard-2"]);
  auto outcome = job.finish(60s);
  std::string runs;
  {
    auto conn = db.connect();
    pqxx::nontransaction tx{conn};
    for (const auto& r : tx.exec("SELECT run_id, status, coalesce(error, '') FROM job_runs "
                                 "WHERE run_id > " + std::to_string(last_run) + " ORDER BY run_id"))
      runs += "  run " + std::string{r[0].c_str()} + ": " + r[1].c_str() + " " + r[2].c_str() +
              "\n";
  }
  info("shard-2 killed once the embeddings run was " +
       std::string{seen_running ? "seen running" : "NOT seen running"} + "; job_runs:\n" + runs);
  EXPECT_TRUE(seen_running) << "the run was not seen running before it ended";
  ASSERT_EQ(outcome.status, 0) << show(outcome) << "\njob_runs:\n" << runs;
  auto d = embeddings_differences(db);
  EXPECT_EQ(d.mismatched, 0) << "vectors in one run only, or of another length";
  EXPECT_EQ(d.largest, 0.0) << "the redone run differs from the one-node run";
  EXPECT_EQ(count(db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'embeddings_run_%'"), 0)
    << "a staging table was left behind; job_runs:\n" << runs;
  EXPECT_EQ(count(db, "SELECT count(*) FROM job_runs WHERE status = 'running'"), 0) << runs;
  c.shutdown();
}

} // namespace
} // namespace recd::test
