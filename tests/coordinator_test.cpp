// The coordinator and shard actors in this process (nodes/local_cluster), on a
// small synthetic shop in a fresh database: what the coordinator repairs by
// itself, and the checks every shard makes on the messages it gets.
//
//   A shard that lost partitions gets them back from the coordinator's
//   reconciliation, and a drop never takes a partition the newest map gives
//   to the shard.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "engine/synthetic.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/local_cluster.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/importer.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;
using partitions = std::vector<std::uint32_t>;

template <class T>
T or_else(caf::expected<T>&& x, T fallback) {
  return x ? std::move(*x) : std::move(fallback);
}

struct in_process_cluster {
  caf::actor_system_config acfg;
  std::unique_ptr<caf::actor_system> sys;
  local_cluster local;

  in_process_cluster(const test_database& db, std::uint32_t partition_count) {
    settings cfg;
    cfg.postgres.url = db.url();
    cfg.cluster.shards = 2;
    cfg.jobs.poll_seconds = 1;
    configure(acfg, cfg);
    sys = std::make_unique<caf::actor_system>(acfg);
    local = spawn_local_cluster(*sys, cfg, partition_count, true);
  }
  ~in_process_cluster() { local.stop(); }

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& whom, Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<T> out = make_error(ec::timeout, "no answer");
    self->request(whom, 5s, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  bool wait(const std::function<bool()>& ok, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (ok())
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return ok();
  }
};


TEST(Coordinator, ReloadsPartitionsAShardLostAndRefusesToDropWhatTheMapGivesIt) {
  test_database db{"coordinator_reconcile", 8};
  import_small_shop(db, 300, 80, 6000, 11);
  in_process_cluster c{db, 8};
  ASSERT_TRUE(c.wait([&] { return or_else(c.ask<bool>(c.local.coordinator, ready_atom_v), false); },
                     30s));
  auto shard = c.local.shards.at(0);
  auto held = c.ask<partitions>(shard, held_atom_v);
  ASSERT_TRUE(held) << describe(held.error());
  ASSERT_EQ(held->size(), 4u); // 8 partitions on 2 shards
  auto user_in = [&](std::uint32_t p) { return static_cast<user_id>(p == 0 ? 8 : p); };
  auto context = c.ask<user_context>(shard, context_atom_v, user_in(held->front()),
                                     std::int32_t{10}, std::int32_t{10});
  ASSERT_TRUE(context) << describe(context.error());

  // A drop of partitions the newest flip gives to this shard is ignored.
  ASSERT_TRUE(c.ask<bool>(shard, drop_atom_v, *held, std::uint64_t{1} << 40));
  EXPECT_EQ(or_else(c.ask<partitions>(shard, held_atom_v), partitions{}), *held);

  // Lose them anyway (a flip that gives this shard nothing, then the drop),
  // as a shard could for whatever reason: the coordinator notices within a
  // poll and moves them again.
  auto epoch_now = std::uint64_t{0};
  {
    caf::scoped_actor self{*c.sys};
    self->request(c.local.coordinator, 5s, cluster_atom_v)
      .receive([&](const std::string& map) {
                 epoch_now = nlohmann::json::parse(map).at("epoch").get<std::uint64_t>();
               },
               [&](caf::error& err) { FAIL() << describe(err); });
  }
  caf::scoped_actor self{*c.sys};
  self->request(shard, 5s, flip_atom_v, epoch_now, partitions{})
    .receive([] {}, [&](caf::error& err) { FAIL() << describe(err); });
  ASSERT_TRUE(c.ask<bool>(shard, drop_atom_v, *held, epoch_now));
  auto gone = c.ask<partitions>(shard, held_atom_v);
  ASSERT_TRUE(gone);
  ASSERT_TRUE(gone->empty());

  // Every partition is held by some shard again, each exactly once.
  ASSERT_TRUE(c.wait(
    [&] {
      std::vector<int> holders(8, 0);
      for (const auto& s : c.local.shards)
        for (auto p : or_else(c.ask<partitions>(s, held_atom_v), partitions{}))
          ++holders.at(p);
      return std::all_of(holders.begin(), holders.end(), [](int n) { return n == 1; }) &&
             or_else(c.ask<bool>(c.local.coordinator, ready_atom_v), false);
    },
    20s))
    << "the lost partitions were not loaded again";
}

} // namespace
} // namespace recd::test
