// score_table against a std::map reference: sums, best contribution and its
// source, which items are listed (direct range and hashed ids), blocking,
// and reuse after clear() across growth and a wrap of the table's stamp.
#include <limits>
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

std::map<item_id, score_table::entry> listed(const score_table& table) {
  std::map<item_id, score_table::entry> out;
  table.for_each([&](item_id item, const score_table::entry& e) {
    EXPECT_TRUE(out.emplace(item, e).second) << "item " << item << " listed twice";
  });
  EXPECT_EQ(out.size(), table.size());
  return out;
}

TEST(ScoreTable, MatchesAMapOverManyRoundsOfReuse) {
  score_table table;
  std::mt19937 rng{7};
  for (int round = 0; round < 20; ++round) {
    std::map<item_id, reference_entry> ref;
    std::vector<item_id> order;
    // Rounds alternate small and large so the table grows and is reused.
    int adds = (round % 2 == 0) ? 50 : 20000;
    // Ids straddle the directly indexed range (0 .. direct_limit) on both
    // sides in some rounds, so the hashed path is mixed in.
    item_id lo = round % 3 == 0 ? -1000 : 0, hi = 5000 + round * 997;
    if (round % 4 == 1) {
      lo = score_table::direct_limit - 3000;
      hi = score_table::direct_limit + 3000;
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
    auto got = listed(table);
    ASSERT_EQ(got.size(), ref.size());
    for (const auto& [item, r] : ref) {
      ASSERT_EQ(got.count(item), 1u) << item;
      const auto& e = got.at(item);
      // Same additions in the same order: the same float sum.
      EXPECT_EQ(e.score, r.score);
      EXPECT_EQ(e.best, r.best);
      EXPECT_EQ(e.because, r.because);
    }
    // The direct range is listed in first-touch order, then the hashed ids.
    std::vector<item_id> seen, expected_direct, expected_far;
    table.for_each([&](item_id item, const score_table::entry&) { seen.push_back(item); });
    for (auto item : order)
      (item >= 0 && item < score_table::direct_limit ? expected_direct : expected_far).push_back(item);
    expected_direct.insert(expected_direct.end(), expected_far.begin(), expected_far.end());
    EXPECT_EQ(seen, expected_direct);
    table.clear();
    EXPECT_EQ(table.size(), 0u);
    EXPECT_TRUE(listed(table).empty());
  }
}

// Everything a table lists, in its order, with every field.
std::vector<std::pair<item_id, score_table::entry>> in_order(const score_table& table) {
  std::vector<std::pair<item_id, score_table::entry>> out;
  table.for_each([&](item_id item, const score_table::entry& e) { out.emplace_back(item, e); });
  return out;
}

void expect_same(const score_table& a, const score_table& b) {
  auto x = in_order(a), y = in_order(b);
  ASSERT_EQ(x.size(), y.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    EXPECT_EQ(x[k].first, y[k].first) << k;
    EXPECT_EQ(x[k].second.score, y[k].second.score) << x[k].first;
    EXPECT_EQ(x[k].second.best, y[k].second.best) << x[k].first;
    EXPECT_EQ(x[k].second.because, y[k].second.because) << x[k].first;
  }
}

TEST(ScoreTable, AddAllDoesWhatOneAddPerElementDoes) {
  // Lists of (item, contribution) with repeats, negative and zero
  // contributions, ids below, in and beyond the direct range (some growing
  // it mid-list), and blocked items; with and without positive_only.
  score_table one_by_one, all_at_once;
  std::mt19937 rng{11};
  std::uniform_real_distribution<float> value(-0.5f, 1.0f);
  for (int round = 0; round < 30; ++round) {
    const bool positive_only = round % 2 == 1;
    const item_id hi = round < 10 ? 3000 : (round < 20 ? 300000 : score_table::direct_limit + 500);
    std::uniform_int_distribution<item_id> pick(round % 3 == 0 ? -50 : 0, hi);
    for (int b = 0; b < 20; ++b) {
      auto item = pick(rng);
      one_by_one.block(item);
      all_at_once.block(item);
    }
    for (std::int32_t list = 0; list < 40; ++list) {
      std::vector<std::pair<item_id, float>> xs(static_cast<std::size_t>(1 + list * 13));
      for (auto& x : xs)
        x = {pick(rng), list % 5 == 0 ? 0.0f : value(rng)};
      for (const auto& [item, c] : xs)
        if (!positive_only || c > 0)
          one_by_one.add(item, c, list);
      auto of = [](const std::pair<item_id, float>& x) { return x; };
      if (positive_only)
        all_at_once.add_all<true>(xs, list, of);
      else
        all_at_once.add_all(xs, list, of);
    }
    expect_same(one_by_one, all_at_once);
    EXPECT_EQ(one_by_one.size(), all_at_once.size());
    one_by_one.clear();
    all_at_once.clear();
  }
}

TEST(ScoreTable, AddAllRepeatsAnItemAfterEveryDirectIdIsListed) {
  // Every id of the direct range touched, then a repeat: the repeat writes
  // one past the listed ids, which the table has room for.
  score_table table;
  table.add(0, 1.0f, 0); // the direct range: 1,024 ids
  std::vector<item_id> every(1024);
  for (item_id i = 0; i < 1024; ++i)
    every[static_cast<std::size_t>(i)] = i;
  every.push_back(5);
  table.add_all(every, 1, [](item_id i) { return std::pair{i, 0.5f}; });
  EXPECT_EQ(table.size(), 1024u);
  auto got = listed(table);
  EXPECT_FLOAT_EQ(got.at(0).score, 1.5f);
  EXPECT_FLOAT_EQ(got.at(5).score, 1.0f);
  EXPECT_EQ(got.at(0).because, 0);
  EXPECT_EQ(got.at(7).because, 1);
}

TEST(ScoreTable, KeepsTheFirstSourceOnEqualContributions) {
  score_table table;
  for (item_id item : {3, -3, score_table::direct_limit + 3}) {
    table.add(item, 0.5f, 10);
    table.add(item, 0.5f, 11);
    table.add(item, 0.25f, 12);
  }
  auto got = listed(table);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& [item, e] : got) {
    EXPECT_FLOAT_EQ(e.score, 1.25f) << item;
    EXPECT_EQ(e.because, 10) << item;
  }
}

TEST(ScoreTable, BlockedItemsStayBelowZeroWhateverIsAdded) {
  // The same sequence on a directly indexed id, a negative one and one
  // beyond the direct range (hashed).
  for (item_id base : {item_id{10}, item_id{-100}, score_table::direct_limit + 10}) {
    score_table table;
    table.add(base + 1, 0.5f, 7);
    table.block(base + 1); // added, then blocked: listed, below zero
    table.block(base + 2); // blocked, then added: not listed
    table.add(base + 2, 100.0f, 8);
    table.add(base + 3, 0.1f, 9);
    EXPECT_TRUE(table.blocked(base + 1));
    EXPECT_TRUE(table.blocked(base + 2));
    EXPECT_FALSE(table.blocked(base + 3));
    EXPECT_FALSE(table.blocked(base + 4));
    auto got = listed(table);
    ASSERT_EQ(got.size(), 2u) << base;
    EXPECT_LT(got.at(base + 1).score, 0.0f);
    EXPECT_FLOAT_EQ(got.at(base + 3).score, 0.1f);
    table.clear();
    EXPECT_FALSE(table.blocked(base + 1)); // clear() unblocks
    EXPECT_FALSE(table.blocked(base + 2));
    table.add(base + 1, 0.5f, 7);
    got = listed(table);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_FLOAT_EQ(got.at(base + 1).score, 0.5f);
  }
}

TEST(ScoreTable, BlockingFirstGrowsTheDirectRange) {
  // An id blocked before any add beyond the current array is indexed
  // directly from then on, and an add after it stays blocked.
  score_table table;
  table.add(5, 1.0f, 1);
  table.block(500000);
  table.add(500000, 2.0f, 2);
  EXPECT_TRUE(table.blocked(500000));
  EXPECT_GE(table.capacity_bytes(), 500001 * sizeof(score_table::entry));
  auto got = listed(table);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.count(5), 1u);
}

TEST(ScoreTable, StaysCorrectAcrossManyClears) {
  // Every clear() moves to a new stamp; entries of earlier requests must
  // never count, however many requests have passed (the stamp is 32 bits
  // and wraps after 2^32 clears; this covers the per-request reset only).
  score_table table;
  for (int request = 0; request < 100000; ++request) {
    auto item = static_cast<item_id>(request % 7);
    table.add(item, 1.0f, request);
    table.add(item, 1.0f, request + 1);
    if (request % 1000 == 0) {
      auto got = listed(table);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_FLOAT_EQ(got.at(item).score, 2.0f);
      EXPECT_EQ(got.at(item).because, request);
    }
    table.clear();
  }
}

TEST(ScoreTable, EntriesOfEarlierRequestsDoNotCountAfterTheStampWraps) {
  // Entries written at every stamp up to the wrap; after it, none of them
  // may be taken for one of the current request.
  score_table table{std::numeric_limits<std::uint32_t>::max() - 2};
  for (int request = 0; request < 6; ++request) {
    table.add(request, 1.0f, request);
    table.block(100 + request);
    auto got = listed(table);
    ASSERT_EQ(got.size(), 1u) << "request " << request;
    EXPECT_EQ(got.count(request), 1u);
    for (int earlier = 0; earlier < request; ++earlier)
      EXPECT_FALSE(table.blocked(100 + earlier)) << request << " " << earlier;
    table.clear();
    table.add(request, 0.5f, 1); // a fresh entry, not added to the old one
    EXPECT_FLOAT_EQ(listed(table).at(request).score, 0.5f);
    table.clear();
  }
}

} // namespace
} // namespace recd
