// A similarity worker's exchange in one process against a real PostgreSQL
// (actors/similarity_worker.hpp): it reads its share in an exported snapshot
// (store_job_runs_test shows what the snapshot hides),
// takes a peer's pieces only in order, from as many senders as the run has
// peers, of its own run and within bounds; it sends what it read to its peer
// and computes over the union.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/similarity_worker.hpp"
#include "engine/similarity.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"
#include "store/job_runs.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using pairs = std::set<std::pair<std::int64_t, std::int64_t>>;

pairs view_pairs(const test_database& db, const std::string& partitions) {
  pairs out;
  auto users = column(db, "SELECT user_id FROM user_behavior WHERE behavior_type = 'view' AND "
                          "user_id % 4 IN " + partitions + " ORDER BY user_id, item_id");
  auto items = column(db, "SELECT item_id FROM user_behavior WHERE behavior_type = 'view' AND "
                          "user_id % 4 IN " + partitions + " ORDER BY user_id, item_id");
  for (std::size_t k = 0; k < users.size(); ++k)
    out.emplace(users[k], items[k]);
  return out;
}

TEST(SimilarityExchange, PiecesAreTakenOnlyInOrderFromThePeersOfTheRunAndTheGraphIsTheUnion) {
  test_database db{"similarity_exchange", 4};
  import_small_shop(db, 200, 100, 3000);
  auto c = db.connect();
  auto run = store::start_run(c, job_kind::user_similarity, 0);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::user_similarity, *run);
  auto conn = store::connect(db.url());
  ASSERT_TRUE(conn) << describe(conn.error());
  store::input_snapshot snapshot{std::move(*conn)};

  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor parent{sys};
  caf::scoped_actor stranger{sys};
  // The other shard of the run: keeps the pieces it is sent.
  auto kept = std::make_shared<std::pair<std::mutex, std::vector<pair_batch>>>();
  auto peer = sys.spawn([kept]() -> pairs_sink::behavior_type {
    return {[kept](pairs_atom, pair_batch& b) -> bool {
      std::lock_guard<std::mutex> lock{kept->first};
      kept->second.push_back(std::move(b));
      return true;
    }};
  });
  similarity_plan plan;
  plan.run_id = *run;
  plan.kind = job_kind::user_similarity;
  plan.snapshot = snapshot.id();
  plan.behaviors = 1; // view
  plan.reads = {0, 1};
  plan.partition_count = 4;
  plan.peers = {caf::actor_cast<pairs_sink>(parent), peer};
  plan.peer_addresses = {"", ""}; // one process: no dialing
  plan.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
  plan.top_k = 10;
  ASSERT_FALSE(limits::check_similarity_plan(plan));
  auto worker = spawn_similarity_worker(sys, db.url(), parent->address(), caf::node_id{}, nullptr,
                                        plan, {0, 1, 2, 3}, 4, peer_dialer{});
  const auto timeout = std::chrono::seconds{60};
  std::uint64_t read_pairs = 0;
  parent->request(worker, timeout, work_atom_v)
    .receive([&](std::uint64_t, std::uint64_t n) { read_pairs = n; },
             [&](caf::error& err) { FAIL() << describe(err); });
  snapshot.release();
  const auto own = view_pairs(db, "(0, 1)");
  ASSERT_EQ(read_pairs, own.size());

  auto send = [&](caf::scoped_actor& from, const pair_batch& b) {
    caf::error result;
    from->request(worker, timeout, pairs_atom_v, b)
      .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  const auto theirs = view_pairs(db, "(2, 3)");
  pair_batch piece;
  piece.run_id = *run;
  piece.last = true;
  for (const auto& [u, i] : theirs) {
    piece.rows.push_back(static_cast<std::int32_t>(u));
    piece.cols.push_back(static_cast<std::int32_t>(i));
  }
  auto other_run = piece;
  other_run.run_id = *run + 1;
  EXPECT_TRUE(send(parent, other_run)) << "a piece of another run was taken";
  auto out_of_order = piece;
  out_of_order.index = 1;
  EXPECT_TRUE(send(parent, out_of_order)) << "piece 1 was taken before piece 0";
  auto oversize = piece;
  oversize.rows.assign(limits::max_pair_batch + 1, 1);
  oversize.cols.assign(limits::max_pair_batch + 1, 1);
  EXPECT_TRUE(send(parent, oversize)) << "an oversize piece was taken";
  // Its one peer's pieces: the first sender is taken, a second one is not.
  EXPECT_FALSE(send(parent, piece));
  EXPECT_TRUE(send(stranger, piece)) << "a second sender for a run of one peer was taken";
  EXPECT_TRUE(send(parent, piece)) << "a piece after the last one was taken";

  std::uint64_t rows = 0, written = 0;
  parent->request(worker, timeout, gather_atom_v, part_progress_sink{})
    .receive(
      [&](std::uint64_t r, std::uint64_t w) {
        rows = r;
        written = w;
      },
             [&](caf::error& err) { FAIL() << describe(err); });
  // It computed every user of the union (it owns all four partitions) ...
  std::set<std::int64_t> users;
  for (const auto& [u, i] : own)
    users.insert(u);
  for (const auto& [u, i] : theirs)
    users.insert(u);
  EXPECT_EQ(rows, users.size());
  EXPECT_GT(written, 0u);
  // ... and sent its peer exactly what it read, in order.
  pairs sent;
  {
    std::lock_guard<std::mutex> lock{kept->first};
    ASSERT_FALSE(kept->second.empty());
    for (std::size_t k = 0; k < kept->second.size(); ++k) {
      const auto& b = kept->second[k];
      EXPECT_EQ(b.index, k);
      EXPECT_EQ(b.last, k + 1 == kept->second.size());
      for (std::size_t j = 0; j < b.rows.size(); ++j)
        sent.emplace(b.rows[j], b.cols[j]);
    }
  }
  EXPECT_EQ(sent, own);
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace recd::test
