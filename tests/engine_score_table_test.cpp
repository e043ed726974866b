// score_table against a std::map reference: sums, best contribution and its
// source, first-touch order, and reuse after clear() across growth.
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/score_table.hpp"

namespace recd {
namespace {

struct reference_entry {
  float score = 0;
  float best = -1e30f;
  std::int32_t because = -1;
};

TEST(ScoreTable, MatchesAMapOverManyRoundsOfReuse) {
  score_table table;
  std::mt19937 rng{7};
  for (int round = 0; round < 20; ++round) {
    std::map<item_id, reference_entry> ref;
    std::vector<item_id> order;
    // Rounds alternate small and large so the table grows and is reused.
    int adds = (round % 2 == 0) ? 50 : 20000;
    // Ids straddle the directly indexed range of item_slots (0 .. 2^22) on
    // both sides in some rounds, so the hashed path is mixed in.
    item_id lo = round % 3 == 0 ? -1000 : 0, hi = 5000 + round * 997;
    if (round % 4 == 1) {
      lo = (1 << 22) - 3000;
      hi = (1 << 22) + 3000;
    }
    std::uniform_int_distribution<item_id> pick(lo, hi);
    std::uniform_real_distribution<float> value(0.01f, 1.0f);
    for (int n = 0; n < adds; ++n) {
      auto item = pick(rng);
      auto c = value(rng);
      auto source = static_cast<std::int32_t>(n);
      table.add(item, c, source);
      auto [it, fresh] = ref.try_emplace(item);
      if (fresh)
        order.push_back(item);
      it->second.score += c;
      if (c > it->second.best) {
        it->second.best = c;
        it->second.because = source;
      }
    }
    ASSERT_EQ(table.size(), ref.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
      const auto& e = table.entries()[k];
      ASSERT_EQ(e.item, order[k]);
      const auto& r = ref.at(e.item);
      EXPECT_NEAR(e.score, r.score, 1e-3f * r.score);
      EXPECT_EQ(e.best, r.best);
      EXPECT_EQ(e.because, r.because);
    }
    table.clear();
    EXPECT_EQ(table.size(), 0u);
  }
}

TEST(ScoreTable, KeepsTheFirstSourceOnEqualContributions) {
  score_table table;
  table.add(3, 0.5f, 10);
  table.add(3, 0.5f, 11);
  table.add(3, 0.25f, 12);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_FLOAT_EQ(table.entries()[0].score, 1.25f);
  EXPECT_EQ(table.entries()[0].because, 10);
}

TEST(ScoreTable, BlockedItemsStayBelowZeroWhateverIsAdded) {
  score_table table;
  table.add(1, 0.5f, 7);
  table.block(1);
  table.block(2);
  table.add(2, 100.0f, 8);
  table.add(3, 0.1f, 9);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_LT(table.entries()[0].score, 0.0f);
  EXPECT_LT(table.entries()[1].score, 0.0f);
  EXPECT_FLOAT_EQ(table.entries()[2].score, 0.1f);
  table.clear();
  table.add(1, 0.5f, 7); // clear() unblocks
  EXPECT_FLOAT_EQ(table.entries()[0].score, 0.5f);
}

} // namespace
} // namespace recd
