// Train/test splits: per-user ratios, whole (user, item) pairs on one side,
// reproducibility, the temporal ratio split and the leave-last-n rule.

#include "engine/split.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace {

using recd::behavior_event;
using recd::behavior_kind;
using recd::engine::split_leave_last;
using recd::engine::split_random;
using recd::engine::split_temporal;

std::vector<behavior_event> log_of(int users, int items_per_user) {
  std::vector<behavior_event> out;
  for (int u = 1; u <= users; ++u)
    for (int i = 1; i <= items_per_user; ++i) {
      out.push_back({u, i * 7 + u, behavior_kind::view, 1000 + i});
      out.push_back({u, i * 7 + u, behavior_kind::buy, 2000 + i}); // same pair again
    }
  return out;
}

TEST(SplitRandom, KeepsTheRatioPerUserAndWholePairsOnOneSide) {
  auto events = log_of(20, 8);
  auto s = split_random(events, 0.75, 42);
  ASSERT_EQ(s.test.size(), 20u);
  for (const auto& [user, items] : s.test) {
    EXPECT_EQ(items.size(), 2u) << "8 items: round(6) train, 2 test";
    for (const auto& e : s.train)
      if (e.user == user) {
        EXPECT_FALSE(std::binary_search(items.begin(), items.end(), e.item));
      }
  }
  EXPECT_EQ(s.train.size(), 20u * 6 * 2) << "both events of every train pair";
}

TEST(SplitRandom, IsReproducibleAndDependsOnTheSeed) {
  auto events = log_of(30, 10);
  auto a = split_random(events, 0.75, 1), b = split_random(events, 0.75, 1),
       c = split_random(events, 0.75, 2);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);
}

TEST(SplitRandom, AUserWithOneItemKeepsItInTrain) {
  std::vector<behavior_event> events{{1, 5, behavior_kind::view, 1}};
  auto s = split_random(events, 0.5, 3);
  EXPECT_TRUE(s.test.empty());
  EXPECT_EQ(s.train.size(), 1u);
}

TEST(SplitLeaveLast, TestsTheNewestItemsOfEachUser) {
  std::vector<behavior_event> events{{1, 10, behavior_kind::view, 100},
                                     {1, 11, behavior_kind::view, 300},
                                     {1, 12, behavior_kind::view, 200},
                                     {1, 10, behavior_kind::buy, 400}, // item 10 is now newest
                                     {2, 20, behavior_kind::view, 100}};
  auto s = split_leave_last(events, 1);
  ASSERT_EQ(s.test.size(), 1u) << "user 2 has a single item and stays in train";
  EXPECT_EQ(s.test.at(1), std::vector<recd::item_id>{10});
  EXPECT_EQ(s.train.size(), 3u);
  auto two = split_leave_last(events, 2);
  EXPECT_EQ(two.test.at(1), (std::vector<recd::item_id>{10, 11}));
}

TEST(SplitTemporal, TestsTheNewestShareOfEachUsersItemsByTheirLatestEvent) {
  // User 1: 8 items; item 7 has the oldest first event but a buy at the end,
  // so it is the newest pair. User 2: one item stays in train.
  std::vector<behavior_event> events;
  for (int i = 0; i < 8; ++i)
    events.push_back({1, i, behavior_kind::view, 100 + i * 10});
  events.push_back({1, 7, behavior_kind::buy, 1000});
  events.push_back({1, 0, behavior_kind::buy, 175}); // item 0's latest event: 175
  events.push_back({2, 50, behavior_kind::view, 100});
  auto s = split_temporal(events, 0.75);
  ASSERT_EQ(s.test.size(), 1u) << "user 2 has a single item and stays in train";
  // Latest times: 0->175, 1->110, 2->120, ..., 6->160, 7->1000. Ordered:
  // 1,2,3,4,5,6,0,7: the oldest round(6) in train, items 0 and 7 in test.
  EXPECT_EQ(s.test.at(1), (std::vector<recd::item_id>{0, 7}));
  for (const auto& e : s.train)
    EXPECT_TRUE(e.user == 2 || (e.item != 0 && e.item != 7)) << "whole pairs on one side";
  EXPECT_EQ(s.train.size(), 7u) << "6 pairs of user 1 and user 2's pair";
  EXPECT_EQ(split_temporal(events, 0.75).test, s.test) << "deterministic";
}

} // namespace
