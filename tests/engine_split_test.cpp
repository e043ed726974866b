// Train/test splits: per-user ratios, whole (user, item) pairs on one side,
// reproducibility, and the temporal leave-last-n rule.

#include "engine/split.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace {

using recd::behavior_event;
using recd::behavior_kind;
using recd::engine::split_leave_last;
using recd::engine::split_random;

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

} // namespace
