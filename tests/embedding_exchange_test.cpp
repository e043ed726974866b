// An ALS worker's half-steps in one process against a real PostgreSQL
// (actors/embedding_worker.hpp), the test acting as the run's other worker:
// the worker sends its own rows of each step's fixed side, takes the peer's
// share only from the peer, of its run, for the current or next step, once
// per step, each row in range and not one it has already; its solved rows
// are those of one process solving the whole matrices, bit for bit, and it
// stages exactly its own rows.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/bulk_sender.hpp"
#include "actors/embedding_worker.hpp"
#include "engine/als.hpp"
#include "engine/types.hpp"
#include "protocol/bulk.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"
#include "store/job_runs.hpp"
#include "store/job_tables.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

constexpr std::int32_t dim = 4;
constexpr std::uint32_t partitions = 2; // the worker owns partition 0, the peer 1
const auto timeout = std::chrono::seconds{60};

// Rows `keys` of CSR rows over `count` rows, cells in their order in the triplets.
engine::weighted_rows rows_of(const std::vector<std::uint32_t>& key,
                              const std::vector<std::uint32_t>& other,
                              const std::vector<float>& w, std::size_t count) {
  engine::weighted_rows out;
  out.offsets.assign(count + 1, 0);
  for (auto k : key)
    ++out.offsets[k + 1];
  for (std::size_t r = 1; r <= count; ++r)
    out.offsets[r] += out.offsets[r - 1];
  out.cols.resize(key.size());
  out.weights.resize(key.size());
  auto fill = out.offsets;
  for (std::size_t k = 0; k < key.size(); ++k) {
    auto pos = fill[key[k]]++;
    out.cols[pos] = other[k];
    out.weights[pos] = w[k];
  }
  return out;
}

// The rows of `m` whose id (ids[r]) is in partition `p`.
factor_block rows_in(const engine::factor_matrix& m, const std::vector<std::int32_t>& ids,
                     std::uint32_t p) {
  factor_block b;
  for (std::size_t r = 0; r < ids.size(); ++r)
    if (partition_of(ids[r], partitions) == p) {
      b.rows.push_back(static_cast<std::uint32_t>(r));
      auto row = m.row(r);
      b.values.insert(b.values.end(), row.begin(), row.end());
    }
  return b;
}

TEST(EmbeddingExchange, SharesAreTakenOnlyFromThePeerOnceAndTheRowsEqualOneProcess) {
  test_database db{"embedding_exchange", partitions};
  auto c = db.connect();
  auto run = store::start_run(c, job_kind::embeddings, 0);
  ASSERT_TRUE(run.has_value());
  store::create_staging_table(c, job_kind::embeddings, *run);

  // 12 users and 9 items, ids 10.., each user with a few items.
  embedding_task task;
  task.run_id = *run;
  task.dim = dim;
  for (std::int32_t u = 0; u < 12; ++u)
    task.users.push_back(10 + u);
  for (std::int32_t i = 0; i < 9; ++i)
    task.items.push_back(10 + i);
  for (std::uint32_t u = 0; u < 12; ++u)
    for (std::uint32_t i = 0; i < 9; ++i)
      if ((u * 7 + i * 3) % 4 == 0) {
        task.u.push_back(u);
        task.i.push_back(i);
        task.w.push_back(1.0f + static_cast<float>((u + i) % 3));
      }
  ASSERT_FALSE(limits::check_embedding_task(task));
  // One process: two half-steps from the initial items.
  engine::als_options opt;
  opt.dim = dim;
  opt.regularization = task.regularization;
  opt.alpha = task.alpha;
  const auto items0 = engine::initial_factors(task.items.size(), dim, 42);
  engine::factor_matrix users1, items1;
  engine::solve_rows(rows_of(task.u, task.i, task.w, 12), items0, engine::gram(items0), opt,
                     users1);
  engine::solve_rows(rows_of(task.i, task.u, task.w, 9), users1, engine::gram(users1), opt, items1);

  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor control{sys};
  caf::scoped_actor peer{sys};
  caf::scoped_actor stranger{sys};
  auto encoded = encode_bulk(1, task);
  ASSERT_TRUE(encoded);
  std::vector<char> bytes;
  for (const auto& chunk : encoded->chunks)
    bytes.insert(bytes.end(), chunk.bytes.begin(), chunk.bytes.end());
  auto worker = spawn_embedding_worker(sys, db.url(), std::move(bytes), {0}, partitions,
                                       caf::node_id{}, nullptr, peer_dialer{});
  // A request's error (none if answered): ask for those answered with a
  // bool, ask_count for those answered with a count.
  auto ask = [&](caf::scoped_actor& from, auto... xs) {
    caf::error result;
    from->request(worker, timeout, xs...)
      .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  auto ask_count = [&](caf::scoped_actor& from, auto... xs) {
    caf::error result;
    from->request(worker, timeout, xs...)
      .receive([](std::uint64_t) {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  // The peer's share of `step`: its chunks, then the share naming them.
  auto share = [&](caf::scoped_actor& from, std::int64_t run_id, std::uint32_t step,
                   factor_block block) {
    auto payload = encode_bulk(new_bulk_id(), block);
    EXPECT_TRUE(payload);
    for (const auto& chunk : payload->chunks)
      if (auto err = ask(from, bulk_atom_v, chunk))
        return err;
    return ask(from, factors_atom_v, factor_share{run_id, step, payload->handle});
  };
  // What the worker sent the peer for one step: its chunks, then its share.
  auto take_share = [&] {
    bulk_inbox inbox;
    factor_block block;
    bool named = false;
    while (!named)
      peer->receive(
        [&](bulk_atom, bulk_chunk& chunk) {
          EXPECT_FALSE(inbox.add(std::move(chunk)));
          return true;
        },
        [&](factors_atom, const factor_share& s) {
          auto got = inbox.take(s.block);
          EXPECT_TRUE(got);
          if (got) {
            EXPECT_FALSE(decode_bulk(*got, block));
          }
          named = true;
          return true;
        },
        caf::after(timeout) >> [&] {
          ADD_FAILURE() << "no share from the worker";
          named = true;
        });
    return block;
  };

  als_mesh mesh;
  mesh.run_id = *run;
  mesh.steps = 2;
  mesh.workers = {caf::actor_cast<factor_sink>(worker), caf::actor_cast<factor_sink>(peer)};
  mesh.addresses = {"", ""}; // one process: no dialing
  EXPECT_TRUE(share(peer, *run, 0, rows_in(items0, task.items, 1))) << "a share before the mesh";
  EXPECT_FALSE(ask(control, mesh_atom_v, mesh));
  EXPECT_TRUE(ask(control, mesh_atom_v, mesh)) << "a second mesh was taken";
  EXPECT_TRUE(ask_count(control, stage_atom_v, *run)) << "staged before the last half-step";

  auto mine0 = rows_in(items0, task.items, 0);
  auto theirs0 = rows_in(items0, task.items, 1);
  EXPECT_TRUE(share(stranger, *run, 0, theirs0)) << "a share from no worker of the run";
  EXPECT_TRUE(share(peer, *run + 1, 0, theirs0)) << "a share of another run";
  EXPECT_TRUE(share(peer, *run, 1, theirs0)) << "a share two half-steps ahead";
  auto out_of_range = theirs0;
  out_of_range.rows.back() = 9;
  EXPECT_TRUE(share(peer, *run, 0, out_of_range)) << "a row out of range";
  auto short_values = theirs0;
  short_values.values.pop_back();
  EXPECT_TRUE(share(peer, *run, 0, short_values)) << "a block of the wrong size";
  // Half-step 0: the worker's items go to the peer, the peer's come back.
  auto step0 = control->request(worker, timeout, solve_atom_v, *run, std::uint32_t{0});
  auto sent0 = take_share();
  EXPECT_EQ(sent0.rows, mine0.rows);
  EXPECT_EQ(sent0.values, mine0.values) << "the own items are not their initial factors";
  auto doubled = theirs0;
  doubled.rows.push_back(mine0.rows.front());
  doubled.values.insert(doubled.values.end(), mine0.values.begin(), mine0.values.begin() + dim);
  EXPECT_TRUE(share(peer, *run, 0, doubled)) << "a row the worker holds was taken again";
  EXPECT_FALSE(share(peer, *run, 0, theirs0));
  EXPECT_TRUE(share(peer, *run, 0, theirs0)) << "a second share of one half-step";
  std::uint64_t solved = 0;
  step0.receive([&](std::uint64_t n) { solved = n; },
                [&](caf::error& err) { FAIL() << describe(err); });
  EXPECT_EQ(solved, rows_in(users1, task.users, 0).rows.size());

  // Half-step 1: the peer's users arrive early, before the step's command.
  EXPECT_FALSE(share(peer, *run, 1, rows_in(users1, task.users, 1)));
  auto step1 = control->request(worker, timeout, solve_atom_v, *run, std::uint32_t{1});
  auto sent1 = take_share();
  auto mine1 = rows_in(users1, task.users, 0);
  EXPECT_EQ(sent1.rows, mine1.rows);
  EXPECT_EQ(sent1.values, mine1.values) << "the solved users differ from one process's";
  step1.receive([&](std::uint64_t n) { solved = n; },
                [&](caf::error& err) { FAIL() << describe(err); });
  EXPECT_EQ(solved, rows_in(items1, task.items, 0).rows.size());
  EXPECT_TRUE(ask_count(control, solve_atom_v, *run, std::uint32_t{2}))
    << "a half-step past the last";

  // The own rows, staged bit for bit.
  std::uint64_t staged = 0;
  control->request(worker, timeout, stage_atom_v, *run)
    .receive([&](std::uint64_t n) { staged = n; },
             [&](caf::error& err) { FAIL() << describe(err); });
  EXPECT_EQ(staged, mine1.rows.size() + rows_in(items1, task.items, 0).rows.size());
  EXPECT_TRUE(ask_count(control, stage_atom_v, *run)) << "staged twice";
  std::map<std::pair<bool, std::int32_t>, std::vector<float>> rows;
  {
    pqxx::nontransaction tx{c};
    for (const auto& r : tx.exec("SELECT is_item, id, embedding FROM " +
                                 store::staging_table(job_kind::embeddings, *run))) {
      std::vector<float> v;
      auto text = r[2].as<std::string>();
      for (std::size_t at = 1; at < text.size();) {
        auto end = text.find_first_of(",}", at);
        v.push_back(std::stof(text.substr(at, end - at)));
        at = end + 1;
      }
      rows[{r[0].as<bool>(), r[1].as<std::int32_t>()}] = v;
    }
  }
  EXPECT_EQ(rows.size(), staged);
  for (int side = 0; side < 2; ++side) {
    const bool items = side == 1;
    const auto& m = items ? items1 : users1;
    const auto& ids = items ? task.items : task.users;
    for (std::size_t r = 0; r < ids.size(); ++r) {
      auto it = rows.find({items, ids[r]});
      if (partition_of(ids[r], partitions) != 0) {
        EXPECT_EQ(it, rows.end()) << "a row of the peer's was staged";
        continue;
      }
      ASSERT_NE(it, rows.end()) << (items ? "item " : "user ") << ids[r] << " was not staged";
      auto want = m.row(r);
      EXPECT_EQ(it->second, std::vector<float>(want.begin(), want.end()));
    }
  }
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace recd::test
