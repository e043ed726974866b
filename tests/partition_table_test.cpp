// The partition map's rules without a cluster (actors/partition_table.hpp):
// the balanced, sticky assignment, membership (join, leave, loss), readiness,
// the rejoin grace after a restart, routing, and the reconciliation of what
// shards hold with the map.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "actors/partition_table.hpp"

namespace recd {
namespace {

using assignment = std::vector<member_index>;
using parts = std::vector<std::uint32_t>;
using clock = std::chrono::steady_clock;

std::map<member_index, std::size_t> sizes(const assignment& a) {
  std::map<member_index, std::size_t> out;
  for (auto m : a)
    ++out[m];
  return out;
}

// Every partition owned by one of `alive`, sizes differing by at most one.
void expect_balanced(const assignment& a, const std::vector<member_index>& alive) {
  auto s = sizes(a);
  ASSERT_EQ(s.count(no_member), 0u) << "a partition is unassigned";
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

// A table of `partitions` with members shard-0..n-1 joined and the map balanced.
partition_table balanced_table(int n, std::uint32_t partitions) {
  partition_table t{partitions};
  for (int m = 0; m < n; ++m)
    t.join("shard-" + std::to_string(m), "10.0.0." + std::to_string(m) + ":4000");
  t.complete_move(t.plan_move(clock::now()));
  return t;
}

// Plans and completes the move to the balanced map; returns what it changed.
std::size_t settle(partition_table& t) {
  auto before = t.owners();
  auto move = t.plan_move(clock::now());
  t.complete_move(move);
  EXPECT_EQ(t.owners(), move.next);
  return moved(before, t.owners());
}

// -- rebalance: the assignment alone -------------------------------------------

TEST(Rebalance, AnEmptyMapIsSpreadEvenly) {
  auto a = rebalance(assignment(64, no_member), {0, 1, 2});
  expect_balanced(a, {0, 1, 2});
  EXPECT_EQ(rebalance(assignment(64, no_member), {0, 1, 2}), a) << "not deterministic";
}

TEST(Rebalance, AJoiningMemberTakesOnlyItsShareAndNothingElseMoves) {
  auto three = rebalance(assignment(64, no_member), {0, 1, 2});
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
  auto four = rebalance(assignment(64, no_member), {0, 1, 2, 3});
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

TEST(Rebalance, OnlyOverloadedMembersGivePartitions) {
  // 12 partitions over 3 members: 7 / 3 / 2. Targets 4 each: only member 0
  // gives (3), members 1 and 2 keep everything they hold.
  assignment a{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2};
  auto b = rebalance(a, {0, 1, 2});
  expect_balanced(b, {0, 1, 2});
  EXPECT_EQ(moved(a, b), 3u);
  for (std::size_t p = 7; p < 12; ++p)
    EXPECT_EQ(b[p], a[p]) << "partition " << p << " of an underloaded member moved";
}

TEST(Rebalance, NoLiveMemberLeavesEveryPartitionUnassigned) {
  EXPECT_EQ(rebalance(assignment(8, 1), {}), assignment(8, no_member));
}

TEST(Rebalance, MorePartitionsThanMembersOrFewerBothBalance) {
  std::mt19937 rng{7};
  for (std::size_t partitions : {1u, 3u, 16u, 64u, 256u})
    for (member_index members = 1; members <= 20; ++members) {
      std::vector<member_index> alive(static_cast<std::size_t>(members));
      for (member_index m = 0; m < members; ++m)
        alive[static_cast<std::size_t>(m)] = m;
      // Start from a random map that also names members that are gone.
      assignment start(partitions);
      for (auto& o : start)
        o = static_cast<member_index>(rng() % static_cast<unsigned>(members + 3)) - 1;
      auto a = rebalance(start, alive);
      expect_balanced(a, alive);
      // Balanced already: nothing moves.
      EXPECT_EQ(rebalance(a, alive), a);
    }
}

// -- Membership and balance ----------------------------------------------------

TEST(PartitionTable, JoinsOneByOneKeepTheMapBalancedAndMoveOnlyTheNewcomersShare) {
  partition_table t{64};
  t.join("shard-0", "");
  EXPECT_EQ(settle(t), 64u);
  for (member_index n = 2; n <= 8; ++n) {
    t.join("shard-" + std::to_string(n - 1), "");
    auto before = t.owners();
    auto changed = settle(t);
    expect_balanced(t.owners(), t.alive());
    // The newcomer takes floor(64 / n) partitions; every move goes to it.
    EXPECT_EQ(changed, 64u / static_cast<unsigned>(n)) << n << " members";
    for (std::size_t p = 0; p < 64; ++p)
      if (before[p] != t.owners()[p]) {
        EXPECT_EQ(t.owners()[p], n - 1) << "partition " << p << " moved between old members";
      }
  }
}

TEST(PartitionTable, NothingMovesWhenTheMapIsBalanced) {
  auto t = balanced_table(3, 64);
  auto move = t.plan_move(clock::now());
  EXPECT_FALSE(move.changed);
  EXPECT_TRUE(move.gains.empty());
  EXPECT_EQ(move.next, t.owners());
}

TEST(PartitionTable, AMoveListsWhatEachNewOwnerLoads) {
  auto t = balanced_table(2, 8);
  auto before = t.owners();
  auto m = t.join("shard-2", "");
  auto move = t.plan_move(clock::now());
  ASSERT_TRUE(move.changed);
  ASSERT_EQ(move.gains.size(), 1u) << "only the newcomer gains";
  ASSERT_EQ(move.gains.count(m), 1u);
  EXPECT_EQ(move.gains.at(m).size(), 2u); // 8 / 3: 3, 3, 2
  for (auto p : move.gains.at(m))
    EXPECT_EQ(move.next[p], m);
  EXPECT_EQ(t.owners(), before) << "planning changes nothing";
  t.complete_move(move);
  EXPECT_EQ(t.partitions_of(m), move.gains.at(m));
}

TEST(PartitionTable, ALostMembersPartitionsGoToTheOthers) {
  auto t = balanced_table(4, 64);
  auto before = t.owners();
  auto lost = t.partitions_of(2);
  ASSERT_EQ(lost.size(), 16u);
  t.lose(2);
  EXPECT_FALSE(t.ready()) << "partitions of a dead member route nowhere";
  EXPECT_EQ(t.alive(), (std::vector<member_index>{0, 1, 3}));
  EXPECT_EQ(settle(t), 16u);
  EXPECT_TRUE(t.ready());
  expect_balanced(t.owners(), {0, 1, 3});
  for (std::size_t p = 0; p < 64; ++p)
    if (before[p] != 2) {
      EXPECT_EQ(t.owners()[p], before[p]) << "partition " << p << " of a live member moved";
    }
}

TEST(PartitionTable, ARestartedShardTakesItsOldNumberAndNewAddress) {
  auto t = balanced_table(2, 8);
  t.lose(1);
  auto m = t.join("shard-1", "10.0.0.9:4000");
  EXPECT_EQ(m, 1);
  EXPECT_EQ(t.members().size(), 2u);
  EXPECT_TRUE(t.member(1).alive);
  EXPECT_EQ(t.member(1).address, "10.0.0.9:4000");
  EXPECT_TRUE(t.ready()) << "it owned its partitions all along";
  EXPECT_EQ(t.find("shard-1"), 1);
  EXPECT_EQ(t.find("shard-7"), no_member);
}

TEST(PartitionTable, ALeavingMemberHandsEverythingOverAndIsThenDone) {
  auto t = balanced_table(3, 9);
  EXPECT_TRUE(t.start_leaving(1));
  EXPECT_TRUE(t.member(1).leaving);
  EXPECT_EQ(t.alive(), (std::vector<member_index>{0, 1, 2})) << "it serves until the move";
  EXPECT_EQ(t.targets(), (std::vector<member_index>{0, 2}));
  EXPECT_TRUE(t.done_leaving().empty()) << "it still owns partitions";
  EXPECT_TRUE(t.ready());
  settle(t);
  EXPECT_TRUE(t.partitions_of(1).empty());
  EXPECT_EQ(t.partitions_of(0).size() + t.partitions_of(2).size(), 9u);
  EXPECT_EQ(t.done_leaving(), (std::vector<member_index>{1}));
  // Back under its name (a restart, not a stop): a target again.
  t.join("shard-1", "");
  EXPECT_FALSE(t.member(1).leaving);
  EXPECT_EQ(t.targets(), (std::vector<member_index>{0, 1, 2}));
}

TEST(PartitionTable, TheLastTargetCannotLeave) {
  auto t = balanced_table(2, 4);
  EXPECT_TRUE(t.start_leaving(0));
  EXPECT_FALSE(t.start_leaving(1)) << "nobody would take its partitions";
  EXPECT_FALSE(t.member(1).leaving);
  EXPECT_TRUE(t.start_leaving(0)) << "asking again, while member 1 takes over";
  auto alone = balanced_table(1, 4);
  EXPECT_FALSE(alone.start_leaving(0));
}

// -- Readiness and routing -----------------------------------------------------

TEST(PartitionTable, ReadyOnlyWhenEveryPartitionHasALiveOwner) {
  partition_table t{8};
  EXPECT_FALSE(t.ready()) << "unassigned partitions";
  t.join("shard-0", "");
  t.join("shard-1", "");
  EXPECT_FALSE(t.ready()) << "joined, not yet assigned";
  settle(t);
  EXPECT_TRUE(t.ready());
  t.lose(1);
  EXPECT_FALSE(t.ready());
  EXPECT_FALSE(partition_table{}.ready()) << "a map of no partitions is not ready";
}

TEST(PartitionTable, RoutingIndexesLiveMembersOnly) {
  partition_table t{6};
  for (const auto* n : {"a", "b", "c"})
    t.join(n, "");
  t.claim(0, {0, 3});
  t.claim(1, {1, 4});
  t.claim(2, {2, 5});
  t.lose(1); // died, not yet reassigned
  auto r = t.routing();
  EXPECT_EQ(r.shards, (std::vector<member_index>{0, 2}));
  EXPECT_EQ(r.owner, (parts{0, no_shard, 1, 0, no_shard, 1}));
  // A move's next map routes the same way, by who is alive now.
  auto next = t.routing({2, 2, 0, 0, no_member, 1});
  EXPECT_EQ(next.shards, (std::vector<member_index>{0, 2}));
  EXPECT_EQ(next.owner, (parts{1, 1, 0, 0, no_shard, no_shard}));
}

TEST(PartitionTable, EachMembersPartitionsAndTheRestAreComplements) {
  auto t = balanced_table(3, 10);
  std::size_t total = 0;
  for (member_index m = 0; m < 3; ++m) {
    auto mine = t.partitions_of(m);
    auto rest = t.partitions_elsewhere(m);
    total += mine.size();
    EXPECT_EQ(mine.size() + rest.size(), 10u);
    for (auto p : rest)
      EXPECT_NE(t.owners()[p], m);
  }
  EXPECT_EQ(total, 10u);
}

TEST(PartitionTable, OwnerNamesAreWhatIsPersisted) {
  partition_table t{4};
  t.join("a", "");
  t.join("b", "");
  t.claim(1, {0, 2});
  t.claim(0, {3});
  EXPECT_EQ(t.owner_names(), (std::vector<std::string>{"b", "", "b", "a"}));
}

TEST(PartitionTable, EpochsOnlyGrow) {
  partition_table t{4};
  EXPECT_EQ(t.epoch(), 0u);
  EXPECT_EQ(t.advance_epoch(), 1u);
  t.resume(41, {}, clock::now());
  EXPECT_EQ(t.epoch(), 41u);
  t.resume(7, {}, clock::now());
  EXPECT_EQ(t.epoch(), 41u) << "an older persisted epoch does not go back";
  EXPECT_EQ(t.advance_epoch(), 42u);
}

// -- After a restart: claims and the rejoin grace --------------------------------

TEST(PartitionTable, TheRejoinGraceKeepsARestartedClustersMap) {
  // The persisted map: 8 partitions over a, b, c. The coordinator restarts
  // with an empty table; a and b rejoin and claim what they still hold.
  const auto now = clock::now();
  partition_table t{8};
  EXPECT_EQ(t.resume(12, {"a", "b", "c", "a", "b", "c", "a", ""}, now + std::chrono::minutes{1}),
            3u);
  auto a = t.join("a", "");
  EXPECT_EQ(t.claim(a, {0, 3, 6}), 3u);
  auto b = t.join("b", "");
  EXPECT_EQ(t.claim(b, {1, 4}), 2u);
  EXPECT_TRUE(t.in_rejoin_grace(now)) << "c has not rejoined";
  auto held = t.owners();
  auto move = t.plan_move(now);
  EXPECT_FALSE(move.changed) << "nothing moves while c may still come back";
  EXPECT_EQ(move.next, held);
  // c comes back in time with its partitions: the old map is whole again.
  auto c = t.join("c", "");
  EXPECT_EQ(t.claim(c, {2, 5}), 2u);
  EXPECT_FALSE(t.in_rejoin_grace(now)) << "every expected shard is back";
  EXPECT_FALSE(t.ready()) << "partition 7 had no owner";
  t.complete_move(t.plan_move(now));
  EXPECT_TRUE(t.ready());
  for (std::uint32_t p = 0; p < 7; ++p)
    EXPECT_EQ(t.owners()[p], static_cast<member_index>(p % 3)) << "partition " << p << " moved";
}

TEST(PartitionTable, TheRejoinGraceEndsAtTheDeadline) {
  const auto now = clock::now();
  partition_table t{4};
  t.resume(3, {"a", "b", "a", "b"}, now + std::chrono::seconds{10});
  auto a = t.join("a", "");
  t.claim(a, {0, 2});
  EXPECT_TRUE(t.in_rejoin_grace(now));
  EXPECT_TRUE(t.in_rejoin_grace(now + std::chrono::seconds{9}));
  const auto later = now + std::chrono::seconds{10};
  EXPECT_FALSE(t.in_rejoin_grace(later));
  // b did not come back: its partitions go to a.
  auto move = t.plan_move(later);
  EXPECT_TRUE(move.changed);
  t.complete_move(move);
  EXPECT_EQ(t.partitions_of(a), (parts{0, 1, 2, 3}));
}

TEST(PartitionTable, ARejoiningMemberDiesAgainDuringTheGrace) {
  const auto now = clock::now();
  partition_table t{2};
  t.resume(1, {"a", "b"}, now + std::chrono::minutes{1});
  t.join("a", "");
  t.join("b", "");
  EXPECT_FALSE(t.in_rejoin_grace(now));
  t.lose(1);
  EXPECT_TRUE(t.in_rejoin_grace(now)) << "b is expected and not alive";
}

TEST(PartitionTable, AClaimTakesOnlyPartitionsNobodyAliveOwns) {
  auto t = balanced_table(2, 6); // 0: {0, 1, 2}, 1: {3, 4, 5}
  ASSERT_EQ(t.partitions_of(0), (parts{0, 1, 2}));
  t.unassign(0, {2});
  t.lose(1);
  auto c = t.join("c", "");
  // 0 is alive (kept), 2 unassigned and 3, 4 of a dead member (taken), 99 out of range.
  EXPECT_EQ(t.claim(c, {0, 2, 3, 4, 99}), 3u);
  EXPECT_EQ(t.owners(), (assignment{0, 0, c, c, c, 1}));
}

TEST(PartitionTable, ACompletedMoveKeepsWhatAClaimSettledMeanwhile) {
  auto t = balanced_table(2, 4); // a: {0, 1}, b: {2, 3}
  t.join("c", "");
  auto move = t.plan_move(clock::now()); // 2 / 1 / 1: b gives 3 to c
  ASSERT_EQ(move.gains.size(), 1u);
  ASSERT_EQ(move.gains.at(2), (parts{3}));
  // While c loads, b dies and a shard of the persisted map rejoins holding 2.
  t.lose(1);
  auto d = t.join("d", "");
  EXPECT_EQ(t.claim(d, {2}), 1u);
  t.complete_move(move);
  EXPECT_EQ(t.owners(), (assignment{0, 0, d, 2})) << "the move hands out only what it gained";
}

TEST(PartitionTable, WithNobodyAliveAMoveUnassignsEverything) {
  auto t = balanced_table(1, 4);
  t.lose(0);
  auto move = t.plan_move(clock::now());
  EXPECT_TRUE(move.changed);
  EXPECT_TRUE(move.gains.empty()) << "nobody loads anything";
  t.complete_move(move);
  EXPECT_EQ(t.owners(), assignment(4, no_member));
  EXPECT_FALSE(t.ready());
}

// -- Reconciliation --------------------------------------------------------------

TEST(PartitionTable, HoldingsMatchingTheMapNeedNoRepair) {
  auto t = balanced_table(2, 6);
  auto repair = t.check_holdings(1, t.partitions_of(1));
  EXPECT_TRUE(repair.lost.empty());
  EXPECT_TRUE(repair.extra.empty());
}

TEST(PartitionTable, LostPartitionsMoveAgainAndForeignOnesAreDropped) {
  auto t = balanced_table(2, 6); // 0: {0, 1, 2}, 1: {3, 4, 5}
  ASSERT_EQ(t.partitions_of(1), (parts{3, 4, 5}));
  // Member 1 lost 4, still holds 0 (moved away earlier) and names 77 (no such partition).
  auto repair = t.check_holdings(1, {5, 0, 3, 77});
  EXPECT_EQ(repair.lost, (parts{4}));
  EXPECT_EQ(repair.extra, (parts{0}));
  t.unassign(1, repair.lost);
  EXPECT_FALSE(t.ready());
  auto move = t.plan_move(clock::now());
  ASSERT_TRUE(move.changed);
  ASSERT_EQ(move.gains.size(), 1u);
  EXPECT_EQ(move.gains.begin()->second, (parts{4})) << "only the lost partition loads";
  t.complete_move(move);
  EXPECT_TRUE(t.ready());
  expect_balanced(t.owners(), {0, 1});
}

TEST(PartitionTable, AShardHoldingNothingHasLostEverything) {
  auto t = balanced_table(3, 9);
  auto repair = t.check_holdings(2, {});
  EXPECT_EQ(repair.lost, t.partitions_of(2));
  EXPECT_TRUE(repair.extra.empty());
}

} // namespace
} // namespace recd
