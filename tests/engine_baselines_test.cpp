// The reference recommenders of `recd eval` on tiny logs whose answers are
// clear by construction.

#include "engine/baselines.hpp"

#include <gtest/gtest.h>

namespace {

using recd::behavior_event;
using recd::behavior_kind;
using recd::engine::baseline_model;
using recd::engine::baseline_recommender;

// Users 1..6 all have item 100 (most popular); users 1..3 also 10 and 11
// (a pair), users 4..6 also 20 and 21. User 7 has only 10, user 8 has 10 and 11.
std::vector<behavior_event> shop() {
  std::vector<behavior_event> out;
  auto add = [&](int u, int i) { out.push_back({u, i, behavior_kind::buy, 1}); };
  for (int u = 1; u <= 6; ++u)
    add(u, 100);
  for (int u = 1; u <= 3; ++u) {
    add(u, 10);
    add(u, 11);
  }
  for (int u = 4; u <= 6; ++u) {
    add(u, 20);
    add(u, 21);
  }
  add(7, 10);
  add(8, 10);
  add(8, 11);
  return out;
}

TEST(Baselines, PopularRanksByUsersAndSkipsSeenItems) {
  baseline_recommender popular{shop(), baseline_model::popular};
  // Counts: 100 -> 6, 10 -> 5, 11 -> 4, 20 and 21 -> 3 (ties by id).
  EXPECT_EQ(popular.recommend(7, 3), (std::vector<recd::item_id>{100, 11, 20}));
  EXPECT_EQ(popular.recommend(99, 2), (std::vector<recd::item_id>{100, 10})) << "unknown user";
}

TEST(Baselines, NeighbourhoodModelsRecommendTheCompanionItem) {
  for (auto m : {baseline_model::item_knn_jaccard, baseline_model::item_knn_cosine,
                 baseline_model::user_knn_cosine}) {
    baseline_recommender model{shop(), m};
    auto top = model.recommend(7, 1);
    ASSERT_EQ(top.size(), 1u) << to_string(m);
    EXPECT_EQ(top[0], 11) << to_string(m) << ": 10's companion, not the popular 100";
  }
}

} // namespace

namespace {

TEST(Baselines, RandomIsReproduciblePerUserAndSkipsSeenItems) {
  baseline_recommender a{shop(), baseline_model::random}, b{shop(), baseline_model::random};
  auto x = a.recommend(1, 10);
  EXPECT_EQ(x, b.recommend(1, 10));
  EXPECT_EQ(x.size(), 2u) << "items 20 and 21 are the only unseen ones";
  EXPECT_NE(a.recommend(7, 4), a.recommend(8, 4)) << "different users, different orders";
}

} // namespace
