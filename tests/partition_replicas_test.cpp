// The partition map with two holders per partition (cluster.replicas = 2;
// actors/partition_table.hpp): where replicas are placed, what a lost owner's
// partitions become (promotion, no load), which moves change roles instead of
// loading, and what a member holds, drops, claims and repairs.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/partition_table.hpp"

namespace recd {
namespace {

using assignment = std::vector<member_index>;
using parts = std::vector<std::uint32_t>;
using clock = std::chrono::steady_clock;

// Members shard-0..n-1 joined and the map settled with two replicas.
partition_table replicated_table(int n, std::uint32_t partitions) {
  partition_table t{partitions, 2};
  for (int m = 0; m < n; ++m)
    t.join("shard-" + std::to_string(m), "10.0.0." + std::to_string(m) + ":4000");
  t.complete_move(t.plan_move(clock::now()));
  return t;
}

// Every partition has an alive owner and an alive replica on another member;
// owners differ in number by at most one, and no member holds (in either
// role) more than ceil(2P / n).
void expect_replicated(const partition_table& t) {
  ASSERT_TRUE(t.ready());
  ASSERT_TRUE(t.replicated());
  const auto alive = t.alive();
  std::map<member_index, std::size_t> owned, replicated;
  for (std::uint32_t p = 0; p < t.partitions(); ++p) {
    const auto o = t.owners()[p];
    const auto r = t.replica_holders()[p];
    EXPECT_NE(o, r) << "partition " << p << " has its owner as its replica";
    EXPECT_TRUE(t.member(o).alive && t.member(r).alive) << "partition " << p;
    ++owned[o];
    ++replicated[r];
  }
  std::size_t lo = t.partitions(), hi = 0;
  for (auto m : alive) {
    lo = std::min(lo, owned[m]);
    hi = std::max(hi, owned[m]);
    EXPECT_LE(owned[m] + replicated[m], (2 * t.partitions() + alive.size() - 1) / alive.size())
      << "member " << m;
  }
  EXPECT_LE(hi - lo, 1u) << "owners unbalanced";
}

std::set<std::uint32_t> held_by(const partition_table& t, member_index m) {
  std::set<std::uint32_t> out;
  for (auto p : t.partitions_of(m))
    out.insert(p);
  for (auto p : t.replicas_of(m))
    out.insert(p);
  return out;
}

TEST(PartitionReplicas, EveryPartitionGetsAReplicaOnAnotherMemberAndNothingMovesOnceSettled) {
  for (int n : {2, 3, 5}) {
    auto t = replicated_table(n, 64);
    expect_replicated(t);
    auto again = t.plan_move(clock::now());
    EXPECT_FALSE(again.changed) << n << " members";
    EXPECT_TRUE(again.gains.empty());
  }
}

TEST(PartitionReplicas, OneMemberHoldsEverythingWithoutReplicas) {
  auto t = replicated_table(1, 8);
  EXPECT_TRUE(t.ready());
  EXPECT_FALSE(t.replicated()) << "nobody else to hold a replica";
  EXPECT_EQ(t.replica_holders(), assignment(8, no_member));
  // A second member joins: it loads a replica of everything and owns half.
  t.join("shard-1", "");
  auto move = t.plan_move(clock::now());
  t.complete_move(move);
  expect_replicated(t);
  EXPECT_EQ(move.gains.size(), 1u) << "only the newcomer loads";
  EXPECT_EQ(move.gains.at(1).size(), 8u) << "it holds every partition, in one role or the other";
}

TEST(PartitionReplicas, ALostOwnersPartitionsGoToTheirReplicasWithoutALoad) {
  auto t = replicated_table(3, 12);
  const auto replicas = t.replica_holders();
  const auto lost = t.partitions_of(1);
  ASSERT_FALSE(lost.empty());
  t.lose(1);
  EXPECT_FALSE(t.ready());
  EXPECT_EQ(t.promote(), lost.size());
  EXPECT_TRUE(t.ready()) << "every partition has an alive owner again";
  EXPECT_FALSE(t.replicated());
  for (auto p : lost) {
    EXPECT_EQ(t.owners()[p], replicas[p]) << "partition " << p << ": its replica owns it";
    EXPECT_EQ(t.replica_holders()[p], no_member);
  }
  // The move that follows only places replicas: no owner changes to a member
  // that does not hold the partition already.
  auto move = t.plan_move(clock::now());
  ASSERT_TRUE(move.changed);
  for (const auto& [m, gained] : move.gains)
    for (auto p : gained)
      EXPECT_EQ(move.next_replica[p], m) << "partition " << p << " loaded to be owned";
  t.complete_move(move);
  expect_replicated(t);
  EXPECT_TRUE(t.partitions_of(1).empty() && t.replicas_of(1).empty()) << "the lost member holds nothing";
  // Owners change only by swapping roles with their replica (no load): the
  // gains above are replicas only.
  for (std::uint32_t p = 0; p < 12; ++p) {
    if (t.owners()[p] != move.before[p]) {
      EXPECT_EQ(t.owners()[p], move.replica_before[p]) << "partition " << p;
    }
  }
}

TEST(PartitionReplicas, AMemberBelowItsShareTakesTheOwnershipItHoldsAsAReplicaFirst) {
  // 4 partitions: member 0 owns all, member 1 replicates 2 and 3.
  const assignment current{0, 0, 0, 0};
  const assignment prefer{no_member, no_member, 1, 1};
  EXPECT_EQ(rebalance(current, {0, 1}, prefer), (assignment{0, 0, 1, 1}));
  const assignment other{1, 1, no_member, no_member};
  EXPECT_EQ(rebalance(current, {0, 1}, other), (assignment{1, 1, 0, 0}))
    << "member 1 takes 0 and 1, which it holds; member 0 keeps the rest";
  EXPECT_EQ(rebalance(current, {0, 1}), (assignment{0, 0, 1, 1})) << "no preference: in order";
}

TEST(PartitionReplicas, AJoiningMemberLoadsItsShareAndOwnersChangeRolesWhereTheyCan) {
  auto t = replicated_table(2, 12);
  t.join("shard-2", "");
  auto move = t.plan_move(clock::now());
  ASSERT_TRUE(move.changed);
  for (const auto& [m, gained] : move.gains)
    EXPECT_EQ(m, 2) << "only the newcomer loads: the others change roles at most";
  t.complete_move(move);
  expect_replicated(t);
  EXPECT_LE(held_by(t, 2).size(), 8u + 1u);
}

TEST(PartitionReplicas, ALeavingMemberHoldsNothingAfterItsMoveAndIsThenDone) {
  auto t = replicated_table(3, 9);
  ASSERT_TRUE(t.start_leaving(2));
  EXPECT_TRUE(t.done_leaving().empty());
  t.complete_move(t.plan_move(clock::now()));
  EXPECT_TRUE(held_by(t, 2).empty());
  EXPECT_EQ(t.done_leaving(), (std::vector<member_index>{2}));
  for (std::uint32_t p = 0; p < 9; ++p) {
    EXPECT_NE(t.owners()[p], 2);
    EXPECT_NE(t.replica_holders()[p], 2);
    EXPECT_NE(t.replica_holders()[p], no_member) << "the two others still replicate everything";
  }
}

TEST(PartitionReplicas, AMemberDropsOnlyWhatItHoldsInNeitherRole) {
  auto t = replicated_table(3, 9);
  for (member_index m = 0; m < 3; ++m) {
    auto elsewhere = t.partitions_elsewhere(m);
    auto held = held_by(t, m);
    EXPECT_EQ(elsewhere.size() + held.size(), 9u);
    for (auto p : elsewhere)
      EXPECT_EQ(held.count(p), 0u);
  }
}

TEST(PartitionReplicas, HoldingsAreCheckedInBothRoles) {
  auto t = replicated_table(3, 9);
  auto held = held_by(t, 0);
  std::vector<std::uint32_t> all(held.begin(), held.end());
  auto fine = t.check_holdings(0, all);
  EXPECT_TRUE(fine.lost.empty());
  EXPECT_TRUE(fine.extra.empty());
  // It lost a replica: that partition has none until a move places one.
  const auto r = t.replicas_of(0).front();
  std::erase(all, r);
  auto repair = t.check_holdings(0, all);
  EXPECT_EQ(repair.lost, (parts{r}));
  t.unassign(0, repair.lost);
  EXPECT_EQ(t.replica_holders()[r], no_member);
  EXPECT_TRUE(t.ready()) << "an owner still serves it";
  auto move = t.plan_move(clock::now());
  ASSERT_TRUE(move.changed);
  t.complete_move(move);
  expect_replicated(t);
}

TEST(PartitionReplicas, AnOwnerThatLostAPartitionHandsItToItsReplica) {
  auto t = replicated_table(3, 9);
  const auto p = t.partitions_of(1).front();
  const auto r = t.replica_holders()[p];
  t.unassign(1, {p});
  EXPECT_FALSE(t.ready());
  EXPECT_EQ(t.promote(), 1u);
  EXPECT_EQ(t.owners()[p], r);
}

TEST(PartitionReplicas, RejoiningMembersClaimOwnersFirstThenReplicas) {
  // A restarted coordinator: shards come back holding both roles' partitions.
  partition_table t{4, 2};
  auto a = t.join("a", "");
  EXPECT_EQ(t.claim(a, {0, 1, 2}), 3u);
  auto b = t.join("b", "");
  EXPECT_EQ(t.claim(b, {1, 2, 3}), 3u) << "3 as owner, 1 and 2 as replica";
  EXPECT_EQ(t.owners(), (assignment{a, a, a, b}));
  EXPECT_EQ(t.replica_holders(), (assignment{no_member, b, b, no_member}));
  EXPECT_TRUE(t.ready());
}

TEST(PartitionReplicas, ARestartedTableRebuiltFromClaimsInAnyOrderLoadsNothing) {
  // Only owners are persisted: after a coordinator restart each shard claims
  // what it holds, first come first served, and the move that balances the
  // owners must change roles only (a chain of swaps where one swap will not
  // do), whatever order the shards come back in.
  for (std::uint32_t partitions : {16U, 64U}) {
    auto before = replicated_table(3, partitions);
    std::vector<std::vector<std::uint32_t>> held(3);
    for (member_index m = 0; m < 3; ++m)
      for (auto p : held_by(before, m))
        held[static_cast<std::size_t>(m)].push_back(p);
    std::vector<int> order{0, 1, 2};
    do {
      partition_table t{partitions, 2};
      std::map<int, member_index> number;
      for (int k : order) {
        number[k] = t.join("shard-" + std::to_string(k), "");
        t.claim(number[k], held[static_cast<std::size_t>(k)]);
      }
      auto move = t.plan_move(clock::now());
      EXPECT_TRUE(move.gains.empty()) << partitions << " partitions, order " << order[0]
                                      << order[1] << order[2] << ": a rebuilt map loads";
      t.complete_move(move);
      expect_replicated(t);
      for (int k = 0; k < 3; ++k) {
        auto now = held_by(t, number[k]);
        EXPECT_EQ(std::vector<std::uint32_t>(now.begin(), now.end()),
                  held[static_cast<std::size_t>(k)])
          << "shard-" << k << " holds other partitions";
      }
    } while (std::next_permutation(order.begin(), order.end()));
  }
}

TEST(PartitionReplicas, AMoveCompletedAfterAnOwnerDiedLeavesItsReplicaInCharge) {
  auto t = replicated_table(2, 8);
  t.join("shard-2", "");
  auto move = t.plan_move(clock::now());
  // While shard-2 loads, shard-0 dies.
  t.lose(0);
  t.complete_move(move);
  for (std::uint32_t p = 0; p < 8; ++p) {
    if (t.owners()[p] == 0) {
      EXPECT_EQ(t.replica_holders()[p], no_member)
        << "partition " << p << " kept a dead owner though it has a live replica";
    }
  }
}

TEST(PartitionReplicas, RoutingNamesEachReplicaByItsShardIndexNeverTheOwner) {
  auto t = replicated_table(3, 6);
  auto route = t.routing();
  ASSERT_EQ(route.replica.size(), 6u);
  for (std::uint32_t p = 0; p < 6; ++p) {
    EXPECT_NE(route.replica[p], route.owner[p]);
    EXPECT_EQ(route.shards[route.replica[p]], t.replica_holders()[p]);
  }
  t.lose(2);
  route = t.routing();
  for (std::uint32_t p = 0; p < 6; ++p) {
    if (t.replica_holders()[p] == 2) {
      EXPECT_EQ(route.replica[p], no_shard) << "a lost replica routes nowhere";
    }
  }
  partition_table single{6};
  single.join("x", "");
  single.complete_move(single.plan_move(clock::now()));
  EXPECT_TRUE(single.routing().replica.empty()) << "one holder: no replica vector";
}

TEST(PartitionReplicas, RandomJoinsLossesAndLeavesKeepEveryMemberHoldingWhatTheMapGivesIt) {
  // What each member has really loaded: a move's gains, less its drops; a
  // lost member forgets everything. After each settled change, every owner
  // and replica must hold its partition (else answers would come from an
  // empty partition), and the roles must be well formed.
  std::mt19937 rng{11};
  partition_table t{32, 2};
  std::map<member_index, std::set<std::uint32_t>> loaded;
  int names = 0;
  auto settle = [&] {
    auto move = t.plan_move(clock::now());
    for (const auto& [m, gained] : move.gains)
      loaded[m].insert(gained.begin(), gained.end());
    t.complete_move(move);
    for (auto m : t.alive())
      for (auto p : t.partitions_elsewhere(m))
        loaded[m].erase(p);
  };
  for (int step = 0; step < 400; ++step) {
    const auto targets = t.targets();
    const auto action = rng() % 4;
    if (targets.size() < 2 || action == 0) {
      // A new member, or a lost one back with nothing loaded.
      std::vector<member_index> dead;
      for (std::size_t m = 0; m < t.members().size(); ++m)
        if (!t.members()[m].alive)
          dead.push_back(static_cast<member_index>(m));
      if (!dead.empty() && rng() % 2 == 0)
        t.join(t.member(dead[rng() % dead.size()]).name, "");
      else
        t.join("m" + std::to_string(names++), "");
    } else if (action == 1 || action == 2) {
      const auto m = targets[rng() % targets.size()];
      t.lose(m);
      loaded[m].clear();
      t.promote();
    } else {
      const auto m = targets[rng() % targets.size()];
      ASSERT_TRUE(t.start_leaving(m));
      settle();
      const auto done = t.done_leaving();
      ASSERT_NE(std::find(done.begin(), done.end(), m), done.end()) << "step " << step;
      t.lose(m);
      loaded[m].clear();
    }
    settle();
    ASSERT_TRUE(t.ready()) << "step " << step;
    const bool two = t.targets().size() >= 2;
    EXPECT_EQ(t.replicated(), two) << "step " << step;
    for (std::uint32_t p = 0; p < t.partitions(); ++p) {
      const auto o = t.owners()[p];
      const auto r = t.replica_holders()[p];
      ASSERT_TRUE(t.member(o).alive) << "step " << step << " partition " << p;
      EXPECT_EQ(loaded[o].count(p), 1u) << "step " << step << ": owner " << o
                                        << " does not hold partition " << p;
      if (two) {
        ASSERT_NE(r, no_member) << "step " << step << " partition " << p;
        EXPECT_NE(r, o);
        EXPECT_EQ(loaded[r].count(p), 1u) << "step " << step << ": replica " << r
                                          << " does not hold partition " << p;
      }
    }
    if (::testing::Test::HasFailure())
      return;
  }
}

} // namespace
} // namespace recd
