// Ranking metrics against cases computed by hand (the arithmetic is written
// next to each expectation).

#include "engine/metrics.hpp"

#include <gtest/gtest.h>

namespace {

using recd::engine::catalogue_coverage;
using recd::engine::ranking_mean;
using recd::engine::score_ranking;

constexpr double eps = 1e-12;

TEST(RankingMetrics, TwoHitsAmongFiveMatchTheHandComputation) {
  // ranked 5 3 9 1 7, relevant {1, 3, 4}: hits at ranks 2 and 4.
  auto s = score_ranking({5, 3, 9, 1, 7}, {1, 3, 4}, 5);
  // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4).
  EXPECT_NEAR(s.ndcg, 0.49818925746641285, eps);
  EXPECT_NEAR(s.precision, 2.0 / 5.0, eps);
  EXPECT_NEAR(s.recall, 2.0 / 3.0, eps);
  EXPECT_EQ(s.hit_rate, 1.0);
  // AP = (P@2 + P@4) / min(3, 5) = (1/2 + 2/4) / 3.
  EXPECT_NEAR(s.ap, 1.0 / 3.0, eps);
}

TEST(RankingMetrics, OnlyTheFirstKItemsCount) {
  // k = 2: only 5 3 count, one hit at rank 2; the ideal has min(3, 2) = 2 hits.
  auto s = score_ranking({5, 3, 9, 1, 7}, {1, 3, 4}, 2);
  // DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
  EXPECT_NEAR(s.ndcg, 0.38685280723454163, eps);
  EXPECT_NEAR(s.precision, 0.5, eps);
  EXPECT_NEAR(s.recall, 1.0 / 3.0, eps);
  // AP = P@2 / min(3, 2) = (1/2) / 2.
  EXPECT_NEAR(s.ap, 0.25, eps);
}

TEST(RankingMetrics, AShortListIsPenalisedByPrecisionOnly) {
  auto s = score_ranking({4}, {4}, 10);
  EXPECT_NEAR(s.precision, 0.1, eps);
  EXPECT_NEAR(s.ndcg, 1.0, eps);
  EXPECT_NEAR(s.recall, 1.0, eps);
  EXPECT_NEAR(s.ap, 1.0, eps);
}

TEST(RankingMetrics, APerfectRankingScoresOne) {
  auto s = score_ranking({2, 1, 8}, {1, 2}, 2);
  EXPECT_NEAR(s.ndcg, 1.0, eps);
  EXPECT_NEAR(s.precision, 1.0, eps);
  EXPECT_NEAR(s.recall, 1.0, eps);
  EXPECT_NEAR(s.ap, 1.0, eps);
}

TEST(RankingMetrics, NoHitOrNoRelevantItemScoresZero) {
  for (const auto& s : {score_ranking({1, 2}, {3}, 10), score_ranking({1, 2}, {}, 10)}) {
    EXPECT_EQ(s.ndcg, 0.0);
    EXPECT_EQ(s.precision, 0.0);
    EXPECT_EQ(s.recall, 0.0);
    EXPECT_EQ(s.hit_rate, 0.0);
    EXPECT_EQ(s.ap, 0.0);
  }
}

TEST(RankingMetrics, TheMeanIsTakenOverUsers) {
  ranking_mean m;
  m.add(score_ranking({5, 3, 9, 1, 7}, {1, 3, 4}, 5)); // precision 0.4, recall 2/3
  m.add(score_ranking({1, 2}, {3}, 5));                // all zero
  EXPECT_EQ(m.users(), 2u);
  EXPECT_NEAR(m.mean().precision, 0.2, eps);
  EXPECT_NEAR(m.mean().recall, 1.0 / 3.0, eps);
  EXPECT_NEAR(m.mean().hit_rate, 0.5, eps);
  EXPECT_EQ(ranking_mean{}.mean().ndcg, 0.0);
}

TEST(CatalogueCoverage, CountsDistinctItemsInTheFirstK) {
  // k = 2: {1, 2} and {3, 4} -> 4 of 10 items; item 3 of the first list is beyond k.
  EXPECT_NEAR(catalogue_coverage({{1, 2, 3}, {3, 4}}, 2, 10), 0.4, eps);
  EXPECT_NEAR(catalogue_coverage({{1, 2, 3}, {3, 4}}, 3, 10), 0.4, eps);
  EXPECT_EQ(catalogue_coverage({{1}}, 1, 0), 0.0);
}

} // namespace
