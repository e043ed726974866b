// The partition map's rules, without a cluster: the balanced, sticky
// assignment (rebalance), and what the coordinator's state derives from the
// map: readiness, each member's partitions, the routing API actors get, and
// the rejoin grace after a restart (actors/coordinator_state.hpp).

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include <caf/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/coordinator_state.hpp"
#include "protocol/type_ids.hpp"

namespace recd {
namespace {

using assignment = std::vector<std::int32_t>;

std::map<std::int32_t, std::size_t> sizes(const assignment& a) {
  std::map<std::int32_t, std::size_t> out;
  for (auto m : a)
    ++out[m];
  return out;
}

// Every partition owned by one of `alive`, sizes differing by at most one.
void expect_balanced(const assignment& a, const std::vector<std::int32_t>& alive) {
  auto s = sizes(a);
  ASSERT_EQ(s.count(-1), 0u) << "a partition is unassigned";
  for (const auto& [m, n] : s)
    EXPECT_NE(std::find(alive.begin(), alive.end(), m), alive.end()) << "owner " << m;
  EXPECT_EQ(s.size(), std::min(alive.size(), a.size()));
  std::size_t lo = a.size(), hi = 0;
  for (const auto& [m, n] : s) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_LE(hi - lo, 1u);
}

std::size_t moved(const assignment& before, const assignment& after) {
  std::size_t n = 0;
  for (std::size_t p = 0; p < before.size(); ++p)
    n += before[p] != after[p];
  return n;
}

TEST(Rebalance, AnEmptyMapIsSpreadEvenly) {
  auto a = rebalance(assignment(64, -1), {0, 1, 2});
  expect_balanced(a, {0, 1, 2});
  EXPECT_EQ(rebalance(assignment(64, -1), {0, 1, 2}), a) << "not deterministic";
}

TEST(Rebalance, AJoiningMemberTakesOnlyItsShareAndNothingElseMoves) {
  auto three = rebalance(assignment(64, -1), {0, 1, 2});
  auto four = rebalance(three, {0, 1, 2, 3});
  expect_balanced(four, {0, 1, 2, 3});
  // 64 / 4 = 16 partitions change hands, all to the new member.
  EXPECT_EQ(moved(three, four), 16u);
  for (std::size_t p = 0; p < 64; ++p) {
    if (three[p] != four[p]) {
      EXPECT_EQ(four[p], 3) << "partition " << p << " moved between old members";
    }
  }
}

TEST(Rebalance, ADeadMembersPartitionsAloneMove) {
  auto four = rebalance(assignment(64, -1), {0, 1, 2, 3});
  auto three = rebalance(four, {0, 1, 3});
  expect_balanced(three, {0, 1, 3});
  for (std::size_t p = 0; p < 64; ++p) {
    if (four[p] != 2) {
      EXPECT_EQ(three[p], four[p]) << "partition " << p << " of a live member moved";
    }
  }
  EXPECT_EQ(moved(four, three), sizes(four)[2]);
}

TEST(Rebalance, TheRemainderStaysWithTheMembersThatHoldMost) {
  // 10 partitions: 6 on member 0, 4 on member 1; member 2 joins. Targets 4/3/3
  // with the extra one for member 0, which holds most: member 0 gives 2 and
  // member 1 gives 1, 3 moves, the fewest possible.
  assignment a{0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
  auto b = rebalance(a, {0, 1, 2});
  expect_balanced(b, {0, 1, 2});
  EXPECT_EQ(sizes(b)[0], 4u);
  EXPECT_EQ(moved(a, b), 3u);
}

TEST(Rebalance, NoLiveMemberLeavesEveryPartitionUnassigned) {
  EXPECT_EQ(rebalance(assignment(8, 1), {}), assignment(8, -1));
}

TEST(Rebalance, MorePartitionsThanMembersOrFewerBothBalance) {
  std::mt19937 rng{7};
  for (std::size_t partitions : {1u, 3u, 16u, 64u, 256u})
    for (std::int32_t members = 1; members <= 20; ++members) {
      std::vector<std::int32_t> alive(static_cast<std::size_t>(members));
      for (std::int32_t m = 0; m < members; ++m)
        alive[static_cast<std::size_t>(m)] = m;
      // Start from a random map that also names members that are gone.
      assignment start(partitions);
      for (auto& o : start)
        o = static_cast<std::int32_t>(rng() % static_cast<unsigned>(members + 3)) - 1;
      auto a = rebalance(start, alive);
      expect_balanced(a, alive);
      // Balanced already: nothing moves.
      EXPECT_EQ(rebalance(a, alive), a);
    }
}

// The state's views of the map need live shard handles: actors of a test
// system stand in for shard nodes (no message is ever sent to them).
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
    for (int m = 0; m < n; ++m)
      st.members.push_back({"shard-" + std::to_string(m), live_shard(), "", false, {}});
    st.owner.assign(partitions, -1);
    return st;
  }
};

TEST_F(coordinator_state_test, ReadyOnlyWhenEveryPartitionHasALiveOwner) {
  auto st = with_members(2, 8);
  EXPECT_FALSE(st.ready()) << "unassigned partitions";
  st.owner = rebalance(st.owner, st.alive());
  EXPECT_TRUE(st.ready());
  st.members[1].shard = shard_actor{}; // died
  EXPECT_FALSE(st.ready());
  EXPECT_EQ(st.alive(), (std::vector<std::int32_t>{0}));
  coordination::coordinator_state none;
  EXPECT_FALSE(none.ready()) << "a map of no partitions is not ready";
}

TEST_F(coordinator_state_test, LeavingMembersAreAliveButNoTarget) {
  auto st = with_members(3, 9);
  st.members[1].leaving = true;
  EXPECT_EQ(st.alive(), (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(st.targets(), (std::vector<std::int32_t>{0, 2}));
  st.owner = rebalance(st.owner, st.targets());
  EXPECT_TRUE(st.partitions_of_member(1).empty());
  EXPECT_EQ(st.partitions_of_member(0).size() + st.partitions_of_member(2).size(), 9u);
}

TEST_F(coordinator_state_test, RoutingIndexesLiveShardsOnly) {
  auto st = with_members(3, 6);
  st.owner = {0, 1, 2, 0, 1, 2};
  st.members[1].shard = shard_actor{}; // died, not yet reassigned
  st.epoch = 7;
  auto map = st.current_map();
  EXPECT_EQ(map.epoch, 7u);
  ASSERT_EQ(map.shards.size(), 2u);
  EXPECT_EQ(map.shards[0], st.members[0].shard);
  EXPECT_EQ(map.shards[1], st.members[2].shard);
  EXPECT_EQ(map.owner, (std::vector<std::uint32_t>{0, no_shard, 1, 0, no_shard, 1}));
}

TEST_F(coordinator_state_test, TheRejoinGraceLastsUntilTheDeadlineOrEveryExpectedShard) {
  auto st = with_members(1, 4);
  st.rejoin_expected = {"shard-0", "shard-1"};
  st.rejoin_deadline = std::chrono::steady_clock::now() + std::chrono::minutes{1};
  EXPECT_TRUE(st.in_rejoin_grace()) << "shard-1 has not rejoined";
  st.members.push_back({"shard-1", live_shard(), "", false, {}});
  EXPECT_FALSE(st.in_rejoin_grace()) << "every expected shard is back";
  st.members[1].shard = shard_actor{};
  EXPECT_TRUE(st.in_rejoin_grace());
  st.rejoin_deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds{1};
  EXPECT_FALSE(st.in_rejoin_grace()) << "the deadline passed";
}

} // namespace
} // namespace recd
