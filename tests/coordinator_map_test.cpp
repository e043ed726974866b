// What the coordinator's state adds to its partition table
// (actors/coordinator_state.hpp): the shards' handles, kept in step with the
// table's members, and the map API actors get with those handles. The map's
// rules themselves are tested in partition_table_test.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/coordinator_state.hpp"
#include "protocol/type_ids.hpp"

namespace recd {
namespace {

// Actors of a test system stand in for shard nodes (no message is ever sent
// to them): the state's views need live handles.
struct coordinator_state_test : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<caf::actor> actors;
  void SetUp() override {
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
  void TearDown() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  shard_actor live_shard() {
    actors.push_back(sys->spawn([]() -> caf::behavior { return {[](int) {}}; }));
    return caf::actor_cast<shard_actor>(actors.back());
  }
  coordination::coordinator_state with_members(int n, std::uint32_t partitions) {
    coordination::coordinator_state st;
    st.table = partition_table{partitions};
    for (int m = 0; m < n; ++m)
      st.join_shard("shard-" + std::to_string(m), "", live_shard());
    return st;
  }
};

TEST_F(coordinator_state_test, AMemberIsAliveExactlyWhileItsLinkHoldsAShard) {
  auto st = with_members(2, 8);
  ASSERT_EQ(st.links.size(), 2u);
  EXPECT_TRUE(st.shard_of(0));
  EXPECT_TRUE(st.table.member(1).alive);
  st.lose_shard(1);
  EXPECT_FALSE(st.shard_of(1));
  EXPECT_FALSE(st.table.member(1).alive);
  auto again = live_shard();
  EXPECT_EQ(st.join_shard("shard-1", "10.0.0.2:4000", again), 1) << "its old place";
  EXPECT_EQ(st.shard_of(1), again);
  EXPECT_TRUE(st.table.member(1).alive);
  EXPECT_EQ(st.live_shards(), (std::vector<shard_actor>{st.shard_of(0), again}));
}

TEST_F(coordinator_state_test, TheMapApiActorsGetNamesTheLiveShardsHandles) {
  auto st = with_members(3, 6);
  st.table.claim(0, {0, 3});
  st.table.claim(1, {1, 4});
  st.table.claim(2, {2, 5});
  st.table.advance_epoch();
  st.lose_shard(1); // died, not yet reassigned
  auto map = st.current_map();
  EXPECT_EQ(map.epoch, 1u);
  ASSERT_EQ(map.shards.size(), 2u);
  EXPECT_EQ(map.shards[0], st.shard_of(0));
  EXPECT_EQ(map.shards[1], st.shard_of(2));
  EXPECT_EQ(map.owner, (std::vector<std::uint32_t>{0, no_shard, 1, 0, no_shard, 1}));
  // The map a move announces: its epoch and its owners, the same handles.
  auto next = st.routing(2, {2, 2, 2, 0, 0, 0}, {});
  EXPECT_EQ(next.epoch, 2u);
  EXPECT_EQ(next.shards, map.shards);
  EXPECT_EQ(next.owner, (std::vector<std::uint32_t>{1, 1, 1, 0, 0, 0}));
  EXPECT_TRUE(map.replica.empty()) << "one holder per partition: no replicas in the map";
}

} // namespace
} // namespace recd
