// Bipartite incidence structure and exact set-similarity kernels, checked
// against a brute-force std::set reference on random skewed data.

#include "engine/bipartite.hpp"
#include "engine/similarity.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using recd::engine::bipartite;
using recd::engine::bipartite_from_pairs;
using recd::engine::find_row;
using recd::engine::neighbour;
using recd::engine::set_measure;
using recd::engine::similarity_kernel;
using recd::engine::similarity_options;
using recd::engine::transpose;

using pair_list = std::vector<std::pair<std::int32_t, std::int32_t>>;

// Row external id -> set of column external ids.
std::map<std::int32_t, std::set<std::int32_t>> sets_of(const pair_list& pairs) {
  std::map<std::int32_t, std::set<std::int32_t>> m;
  for (const auto& [r, c] : pairs)
    m[r].insert(c);
  return m;
}

// Brute force over all ordered pairs (a,b), a != b, using set algorithms;
// rows in the same order as sets (ascending external id).
std::vector<std::vector<neighbour>>
reference(const std::map<std::int32_t, std::set<std::int32_t>>& sets, similarity_options opt) {
  std::vector<std::vector<neighbour>> result;
  for (const auto& [a, sa] : sets) {
    std::vector<neighbour> list;
    for (const auto& [b, sb] : sets) {
      if (a == b)
        continue;
      std::vector<std::int32_t> inter, uni;
      std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(inter));
      std::set_union(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(uni));
      const auto common = static_cast<std::int32_t>(inter.size());
      if (common == 0 || common < opt.min_common)
        continue;
      const double score = opt.measure == set_measure::jaccard
                               ? double(common) / double(uni.size())
                               : double(common) / std::sqrt(double(sa.size()) * double(sb.size()));
      if (opt.min_score > 0 && !(score > opt.min_score))
        continue;
      list.push_back({b, score, common});
    }
    std::sort(list.begin(), list.end(), [](const neighbour& x, const neighbour& y) {
      return x.score != y.score ? x.score > y.score : x.id < y.id;
    });
    if (opt.top_k > 0 && list.size() > static_cast<std::size_t>(opt.top_k))
      list.resize(static_cast<std::size_t>(opt.top_k));
    result.push_back(std::move(list));
  }
  return result;
}

std::vector<std::vector<neighbour>> kernel_all(const bipartite& g, similarity_options opt) {
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, opt);
  std::vector<std::vector<neighbour>> result(g.rows());
  for (std::size_t r = 0; r < g.rows(); ++r)
    kernel.neighbours(r, result[r]);
  return result;
}

// Skewed random incidences: row degrees and column popularity are both
// heavy-tailed, so some pairs share many columns and most share few.
pair_list random_pairs(std::uint64_t seed, int rows, int columns) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  pair_list pairs;
  for (int r = 0; r < rows; ++r) {
    const int degree = 1 + static_cast<int>(60.0 * std::pow(u(rng), 3.0));
    for (int i = 0; i < degree; ++i) {
      const int c = static_cast<int>(columns * std::pow(u(rng), 2.5));
      pairs.emplace_back(3 * r + 7, 2 * std::min(c, columns - 1) + 1); // sparse external ids
    }
  }
  return pairs;
}

void expect_same(const std::vector<std::vector<neighbour>>& got,
                 const std::vector<std::vector<neighbour>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t r = 0; r < got.size(); ++r) {
    ASSERT_EQ(got[r].size(), want[r].size()) << "row " << r;
    for (std::size_t i = 0; i < got[r].size(); ++i) {
      EXPECT_EQ(got[r][i].id, want[r][i].id) << "row " << r << " #" << i;
      EXPECT_EQ(got[r][i].common, want[r][i].common) << "row " << r << " #" << i;
      EXPECT_NEAR(got[r][i].score, want[r][i].score, 1e-12) << "row " << r << " #" << i;
    }
  }
}

std::size_t total(const std::vector<std::vector<neighbour>>& lists) {
  std::size_t n = 0;
  for (const auto& l : lists)
    n += l.size();
  return n;
}

std::vector<std::int32_t> ids_of(const std::vector<neighbour>& list) {
  std::vector<std::int32_t> ids;
  for (const auto& n : list)
    ids.push_back(n.id);
  return ids;
}

// --- bipartite -------------------------------------------------------------

TEST(Bipartite, FromPairsRemovesDuplicatesAndSortsRowsAndColumns) {
  const bipartite g = bipartite_from_pairs({{5, 30}, {2, 10}, {5, 10}, {2, 10}, {9, 20}, {5, 30}});
  EXPECT_EQ(g.row_ids, (std::vector<std::int32_t>{2, 5, 9}));
  EXPECT_EQ(g.col_ids, (std::vector<std::int32_t>{10, 20, 30}));
  EXPECT_EQ(g.offsets, (std::vector<std::uint64_t>{0, 1, 3, 4}));
  EXPECT_EQ(g.cols, (std::vector<std::uint32_t>{0, 0, 2, 1}));
  EXPECT_EQ(g.rows(), 3u);
  EXPECT_EQ(g.columns(), 3u);
  EXPECT_EQ(g.nnz(), 4u);
  EXPECT_EQ(std::vector<std::uint32_t>(g.row(1).begin(), g.row(1).end()),
            (std::vector<std::uint32_t>{0, 2}));
}

TEST(Bipartite, FromPairsGivesOneGraphWhateverTheColumnIdsSpanAndTheInputOrder) {
  for (std::uint64_t seed : {4u, 5u}) {
    const pair_list pairs = random_pairs(seed, 400, 300); // narrow column ids: the table path
    pair_list spread = pairs; // ids far apart, extremes included: the sorting path
    for (auto& [row, col] : spread)
      col = col == 1 ? std::numeric_limits<std::int32_t>::min()
                     : col == 3 ? std::numeric_limits<std::int32_t>::max() : col * 1000003 % 2000000011;
    pair_list sorted = pairs;
    std::sort(sorted.begin(), sorted.end());
    const bipartite g = bipartite_from_pairs(pairs);
    EXPECT_EQ(bipartite_from_pairs(sorted), g);
    const bipartite h = bipartite_from_pairs(spread);
    EXPECT_EQ(h.row_ids, g.row_ids);
    EXPECT_EQ(h.offsets, g.offsets);
    ASSERT_EQ(h.col_ids.size(), g.col_ids.size());
    EXPECT_TRUE(std::is_sorted(h.col_ids.begin(), h.col_ids.end()));
    // The same incidences, read back through each graph's own column ids.
    EXPECT_EQ(sets_of(spread), [&] {
      pair_list back;
      for (std::size_t r = 0; r < h.rows(); ++r)
        for (const auto c : h.row(r))
          back.emplace_back(h.row_ids[r], h.col_ids[c]);
      return sets_of(back);
    }());
  }
}

TEST(Bipartite, TransposeSwapsRolesAndRoundTrips) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const bipartite g = bipartite_from_pairs(random_pairs(seed, 300, 200));
    const bipartite t = transpose(g);
    EXPECT_EQ(t.row_ids, g.col_ids);
    EXPECT_EQ(t.col_ids, g.row_ids);
    EXPECT_EQ(t.nnz(), g.nnz());
    // Same incidence set, seen from the other side.
    pair_list swapped;
    for (std::size_t r = 0; r < g.rows(); ++r)
      for (const auto c : g.row(r))
        swapped.emplace_back(g.col_ids[c], g.row_ids[r]);
    EXPECT_EQ(t, bipartite_from_pairs(swapped));
    EXPECT_EQ(transpose(t), g);
  }
}

TEST(Bipartite, FindRowReturnsDenseIndexOrMinusOne) {
  const bipartite g = bipartite_from_pairs({{4, 1}, {8, 1}, {15, 2}});
  EXPECT_EQ(find_row(g, 4), 0);
  EXPECT_EQ(find_row(g, 8), 1);
  EXPECT_EQ(find_row(g, 15), 2);
  EXPECT_EQ(find_row(g, 3), -1);
  EXPECT_EQ(find_row(g, 9), -1);
  EXPECT_EQ(find_row(g, 16), -1);
  EXPECT_EQ(find_row(bipartite_from_pairs({}), 4), -1);
}

TEST(Bipartite, EmptyPairsGiveAnEmptyGraphThatTransposesToItself) {
  const bipartite g = bipartite_from_pairs({});
  EXPECT_EQ(g.rows(), 0u);
  EXPECT_EQ(g.columns(), 0u);
  EXPECT_EQ(g.nnz(), 0u);
  EXPECT_EQ(g.offsets, (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(transpose(g), g);
}

// --- similarity against the brute-force reference --------------------------

TEST(Similarity, JaccardMatchesBruteForceOnRandomData) {
  for (std::uint64_t seed : {11u, 12u, 13u, 14u}) {
    const pair_list pairs = random_pairs(seed, 300, 200);
    const auto sets = sets_of(pairs);
    const bipartite g = bipartite_from_pairs(pairs);
    std::size_t any_overlap = 0; // pairs kept with min_common 1
    for (int min_common : {1, 3, 5}) {
      similarity_options opt;
      opt.measure = set_measure::jaccard;
      opt.min_common = min_common;
      const auto want = reference(sets, opt);
      SCOPED_TRACE(testing::Message() << "seed " << seed << " min_common " << min_common);
      // The data must exercise both sides of the filter.
      ASSERT_GT(total(want), 0u);
      if (min_common == 1)
        any_overlap = total(want);
      else
        ASSERT_LT(total(want), any_overlap);
      expect_same(kernel_all(g, opt), want);
    }
  }
}

TEST(Similarity, CosineMatchesBruteForceOnRandomData) {
  for (std::uint64_t seed : {21u, 22u, 23u, 24u}) {
    const pair_list pairs = random_pairs(seed, 300, 200);
    const auto sets = sets_of(pairs);
    const bipartite g = bipartite_from_pairs(pairs);
    similarity_options opt;
    opt.measure = set_measure::cosine;
    opt.min_common = 3;
    opt.min_score = 0.1;
    const auto want = reference(sets, opt);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    similarity_options no_score = opt;
    no_score.min_score = 0.0;
    ASSERT_GT(total(want), 0u);
    ASSERT_LT(total(want), total(reference(sets, no_score))); // the score filter bites
    expect_same(kernel_all(g, opt), want);
  }
}

TEST(Similarity, TopKIsTheSortedReferenceTruncated) {
  for (std::uint64_t seed : {31u, 32u}) {
    const pair_list pairs = random_pairs(seed, 300, 200);
    const auto sets = sets_of(pairs);
    const bipartite g = bipartite_from_pairs(pairs);
    for (const auto measure : {set_measure::jaccard, set_measure::cosine}) {
      for (int k : {1, 3, 10}) {
        similarity_options opt;
        opt.measure = measure;
        opt.min_common = 1;
        opt.min_score = measure == set_measure::cosine ? 0.1 : 0.0;
        opt.top_k = k;
        SCOPED_TRACE(testing::Message() << "seed " << seed << " k " << k);
        const auto got = kernel_all(g, opt);
        expect_same(got, reference(sets, opt));
        for (const auto& list : got)
          EXPECT_LE(list.size(), static_cast<std::size_t>(k));
      }
    }
  }
}

TEST(Similarity, TopKBreaksScoreTiesByAscendingNeighbourId) {
  // Rows 9, 3, 7, 5 are identical to row 1: all score 1.0 against it.
  const bipartite g = bipartite_from_pairs(
      {{1, 10}, {1, 11}, {9, 10}, {9, 11}, {3, 10}, {3, 11}, {7, 11}, {7, 10}, {5, 10}, {5, 11}});
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, {set_measure::jaccard, 1, 0.0, 2});
  std::vector<neighbour> out;
  kernel.neighbours(static_cast<std::size_t>(find_row(g, 1)), out);
  EXPECT_EQ(ids_of(out), (std::vector<std::int32_t>{3, 5}));
  kernel.neighbours(static_cast<std::size_t>(find_row(g, 5)), out);
  EXPECT_EQ(ids_of(out), (std::vector<std::int32_t>{1, 3}));
}

TEST(Similarity, OutputIsOrderedByScoreThenIdAndHoldsBothDirections) {
  // Row 1 = {a,b,c,d}; row 2 = {a,b}: J=0.5; row 3 = {a,b,c}: J=0.75; row 4 = {c,d}: J=0.5.
  const bipartite g = bipartite_from_pairs(
      {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {3, 2}, {3, 3}, {4, 3}, {4, 4}});
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, {set_measure::jaccard, 1, 0.0, 0});
  std::vector<neighbour> out;
  kernel.neighbours(0, out);
  EXPECT_EQ(ids_of(out), (std::vector<std::int32_t>{3, 2, 4}));
  EXPECT_DOUBLE_EQ(out[0].score, 0.75);
  EXPECT_EQ(out[0].common, 3);
  kernel.neighbours(2, out); // row 3 sees row 1 back with the same score
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].id, 1);
  EXPECT_DOUBLE_EQ(out[0].score, 0.75);
}

// The kernel skips work by prefix filtering (each row's most popular columns
// left out of its index), degree bounds from the score floor and a
// renumbering of rows; none of it may change a row. Data built to stress
// exactly that: a few columns in almost every row (the suffixes), rows copied
// from a handful of templates (many exactly equal scores, so ties decide the
// top_k cut), rows below min_common, and floors set to scores that occur.
pair_list tied_pairs(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<std::int32_t>> templates;
  for (int t = 0; t < 6; ++t) {
    std::vector<std::int32_t> cols;
    const int size = static_cast<int>(u(rng) * 15);
    for (int i = 0; i < size; ++i)
      cols.push_back(10 + static_cast<int>(120 * std::pow(u(rng), 2.0)));
    templates.push_back(cols);
  }
  pair_list pairs;
  for (int r = 0; r < 200; ++r) {
    const std::int32_t id = 5 * r + 2;
    for (const auto c : templates[static_cast<std::size_t>(r) % templates.size()])
      pairs.emplace_back(id, c);
    for (int popular = 0; popular < 3; ++popular)
      if (u(rng) < 0.85)
        pairs.emplace_back(id, popular); // columns 0..2: in most rows
    const int extra = u(rng) < 0.3 ? static_cast<int>(u(rng) * 40) : 0; // some long rows
    for (int i = 0; i < extra; ++i)
      pairs.emplace_back(id, 10 + static_cast<int>(200 * u(rng)));
  }
  return pairs;
}

void expect_identical(const std::vector<std::vector<neighbour>>& got,
                      const std::vector<std::vector<neighbour>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t r = 0; r < got.size(); ++r) {
    ASSERT_EQ(got[r].size(), want[r].size()) << "row " << r;
    for (std::size_t i = 0; i < got[r].size(); ++i) {
      EXPECT_EQ(got[r][i].id, want[r][i].id) << "row " << r << " #" << i;
      EXPECT_EQ(got[r][i].common, want[r][i].common) << "row " << r << " #" << i;
      EXPECT_EQ(got[r][i].score, want[r][i].score) << "row " << r << " #" << i; // same bits
    }
  }
}

// Brute force from every pair's intersection, counted once per data set with
// std::set_intersection; each option then only filters, scores (the formula
// of reference() above), sorts and truncates.
struct overlaps {
  std::vector<std::int32_t> ids;
  std::vector<std::size_t> sizes;
  std::vector<std::vector<std::int32_t>> common;

  explicit overlaps(const std::map<std::int32_t, std::set<std::int32_t>>& sets) {
    std::vector<const std::set<std::int32_t>*> all;
    for (const auto& [id, cols] : sets) {
      ids.push_back(id);
      sizes.push_back(cols.size());
      all.push_back(&cols);
    }
    common.assign(ids.size(), std::vector<std::int32_t>(ids.size(), 0));
    for (std::size_t a = 0; a < ids.size(); ++a)
      for (std::size_t b = 0; b < ids.size(); ++b) {
        std::vector<std::int32_t> inter;
        std::set_intersection(all[a]->begin(), all[a]->end(), all[b]->begin(), all[b]->end(),
                              std::back_inserter(inter));
        common[a][b] = static_cast<std::int32_t>(inter.size());
      }
  }

  std::vector<std::vector<neighbour>> lists(similarity_options opt) const {
    std::vector<std::vector<neighbour>> result(ids.size());
    for (std::size_t a = 0; a < ids.size(); ++a) {
      auto& list = result[a];
      for (std::size_t b = 0; b < ids.size(); ++b) {
        const std::int32_t c = common[a][b];
        if (a == b || c == 0 || c < opt.min_common)
          continue;
        const double score =
            opt.measure == set_measure::jaccard
                ? double(c) / double(sizes[a] + sizes[b] - static_cast<std::size_t>(c))
                : double(c) / std::sqrt(double(sizes[a]) * double(sizes[b]));
        if (opt.min_score > 0 && !(score > opt.min_score))
          continue;
        list.push_back({ids[b], score, c});
      }
      std::sort(list.begin(), list.end(), [](const neighbour& x, const neighbour& y) {
        return x.score != y.score ? x.score > y.score : x.id < y.id;
      });
      if (opt.top_k > 0 && list.size() > static_cast<std::size_t>(opt.top_k))
        list.resize(static_cast<std::size_t>(opt.top_k));
    }
    return result;
  }
};

TEST(Similarity, PrunedKernelEqualsBruteForceWithTiesFloorsAndLongMinCommon) {
  for (std::uint64_t seed : {51u, 52u, 53u}) {
    const pair_list pairs = tied_pairs(seed);
    const auto sets = sets_of(pairs);
    const overlaps brute(sets);
    const bipartite g = bipartite_from_pairs(pairs);
    // The table agrees with the set-algorithm reference used by the other tests.
    expect_same(brute.lists({set_measure::cosine, 3, 0.1, 0}),
                reference(sets, {set_measure::cosine, 3, 0.1, 0}));
    for (const auto measure : {set_measure::cosine, set_measure::jaccard}) {
      // Floors: none, the job's default, and scores that occur in the data
      // (a pair exactly at the floor must be dropped).
      std::vector<double> floors{0.0, 0.1};
      const auto all = brute.lists({measure, 1, 0.0, 0});
      for (std::size_t r = 0; r < all.size() && floors.size() < 5; r += 37)
        if (!all[r].empty())
          floors.push_back(all[r][all[r].size() / 2].score);
      for (const int min_common : {1, 2, 3, 6, 12}) { // 12: longer than the suffix cap
        for (const double floor : floors) {
          for (const int top_k : {0, 1, 7, 50}) {
            const similarity_options opt{measure, min_common, floor, top_k};
            SCOPED_TRACE(testing::Message() << "seed " << seed << " cosine "
                                            << (measure == set_measure::cosine) << " min_common "
                                            << min_common << " floor " << floor << " top_k "
                                            << top_k);
            expect_identical(kernel_all(g, opt), brute.lists(opt));
          }
        }
      }
    }
    // The data does what it is for: score ties inside lists and rows too
    // short for min_common 3.
    const auto lists = brute.lists({set_measure::cosine, 1, 0.0, 0});
    std::size_t ties = 0;
    for (const auto& l : lists)
      for (std::size_t i = 1; i < l.size(); ++i)
        ties += l[i].score == l[i - 1].score;
    EXPECT_GT(ties, 1000u);
    std::size_t short_rows = 0;
    for (const auto& [row, cols] : sets)
      short_rows += cols.size() < 3;
    EXPECT_GT(short_rows, 0u);
  }
}

// --- edge cases --------------------------------------------------------------

TEST(Similarity, EmptyGraphBuildsAKernel) {
  const bipartite g = bipartite_from_pairs({});
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, {});
  std::vector<neighbour> out{{1, 1.0, 1}};
  EXPECT_THROW(kernel.neighbours(0, out), std::out_of_range);
}

TEST(Similarity, RowWithoutColumnsHasNoNeighboursAndIsNobodysNeighbour) {
  // Rows 1, 2, 3; row 2 has no columns.
  bipartite g;
  g.row_ids = {1, 2, 3};
  g.col_ids = {10};
  g.offsets = {0, 1, 1, 2};
  g.cols = {0, 0};
  const bipartite gt = transpose(g);
  EXPECT_EQ(transpose(gt), g);
  similarity_kernel kernel(g, gt, {set_measure::jaccard, 1, 0.0, 0});
  std::vector<neighbour> out;
  kernel.neighbours(1, out);
  EXPECT_TRUE(out.empty());
  kernel.neighbours(0, out);
  EXPECT_EQ(ids_of(out), (std::vector<std::int32_t>{3}));
  EXPECT_DOUBLE_EQ(out[0].score, 1.0);
}

TEST(Similarity, SingleRowHasNoNeighbours) {
  const bipartite g = bipartite_from_pairs({{7, 1}, {7, 2}, {7, 3}});
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, {set_measure::cosine, 1, 0.0, 0});
  std::vector<neighbour> out{{1, 1.0, 1}};
  kernel.neighbours(0, out);
  EXPECT_TRUE(out.empty());
}

TEST(Similarity, MinCommonIsInclusive) {
  // Rows 1 and 2 share exactly 3 columns.
  const bipartite g =
      bipartite_from_pairs({{1, 1}, {1, 2}, {1, 3}, {2, 1}, {2, 2}, {2, 3}, {2, 4}});
  const bipartite gt = transpose(g);
  std::vector<neighbour> out;
  similarity_kernel at(g, gt, {set_measure::jaccard, 3, 0.0, 0});
  at.neighbours(0, out);
  EXPECT_EQ(ids_of(out), (std::vector<std::int32_t>{2}));
  similarity_kernel above(g, gt, {set_measure::jaccard, 4, 0.0, 0});
  above.neighbours(0, out);
  EXPECT_TRUE(out.empty());
}

TEST(Similarity, MinScoreExcludesAScoreExactlyEqualToIt) {
  // Cosine: |I1| = |I2| = 4, common 2 -> 2 / sqrt(16) = 0.5 exactly.
  // Jaccard: same rows -> 2 / 6; row 3 = {1,2} vs row 4 = {1,2,3,4} -> 2 / 4 = 0.5 exactly.
  const bipartite g = bipartite_from_pairs({{1, 1},
                                            {1, 2},
                                            {1, 3},
                                            {1, 4},
                                            {2, 1},
                                            {2, 2},
                                            {2, 5},
                                            {2, 6},
                                            {3, 11},
                                            {3, 12},
                                            {4, 11},
                                            {4, 12},
                                            {4, 13},
                                            {4, 14}});
  const bipartite gt = transpose(g);
  std::vector<neighbour> out;

  similarity_kernel cos_equal(g, gt, {set_measure::cosine, 1, 0.5, 0});
  cos_equal.neighbours(0, out);
  EXPECT_TRUE(out.empty());
  similarity_kernel cos_below(g, gt, {set_measure::cosine, 1, std::nextafter(0.5, 0.0), 0});
  cos_below.neighbours(0, out);
  ASSERT_EQ(ids_of(out), (std::vector<std::int32_t>{2}));
  EXPECT_EQ(out[0].score, 0.5);

  similarity_kernel jac_equal(g, gt, {set_measure::jaccard, 1, 0.5, 0});
  jac_equal.neighbours(2, out);
  EXPECT_TRUE(out.empty());
  similarity_kernel jac_below(g, gt, {set_measure::jaccard, 1, std::nextafter(0.5, 0.0), 0});
  jac_below.neighbours(2, out);
  ASSERT_EQ(ids_of(out), (std::vector<std::int32_t>{4}));
  EXPECT_EQ(out[0].score, 0.5);
}

TEST(Similarity, DefaultOptionsAreJaccardMinCommonFiveNoScoreFilterAllNeighbours) {
  const similarity_options opt;
  EXPECT_EQ(opt.measure, set_measure::jaccard);
  EXPECT_EQ(opt.min_common, 5);
  EXPECT_EQ(opt.min_score, 0.0);
  EXPECT_EQ(opt.top_k, 0);
}

TEST(Similarity, KernelRejectsAMismatchedTranspose) {
  const bipartite g = bipartite_from_pairs({{1, 1}, {1, 2}, {1, 3}, {2, 1}}); // 2 x 3
  EXPECT_THROW(similarity_kernel(g, g, {}), std::invalid_argument);
}

TEST(Similarity, ScratchIsCleanBetweenCallsSoRepeatedCallsAgree) {
  const bipartite g = bipartite_from_pairs(random_pairs(41, 300, 200));
  const bipartite gt = transpose(g);
  similarity_kernel kernel(g, gt, {set_measure::cosine, 2, 0.05, 0});
  std::vector<neighbour> first, again;
  for (std::size_t r = 0; r < g.rows(); ++r) {
    kernel.neighbours(r, first);
    kernel.neighbours(r, again);
    ASSERT_EQ(ids_of(first), ids_of(again)) << "row " << r;
  }
}

// --- the column cap (an approximation, off unless asked for) ----------------

// External row ids of each column of a transposed graph.
std::map<std::int32_t, std::vector<std::int32_t>> column_rows(const bipartite& gt) {
  std::map<std::int32_t, std::vector<std::int32_t>> m;
  for (std::size_t c = 0; c < gt.rows(); ++c)
    for (const auto r : gt.row(c))
      m[gt.row_ids[c]].push_back(gt.col_ids[r]);
  return m;
}

TEST(Similarity, SampleColumnsKeepsExactlyTheCapOfEachColumnDrawnFromItsOwnIds) {
  const pair_list pairs = random_pairs(61, 400, 60);
  const bipartite gt = transpose(bipartite_from_pairs(pairs));
  const auto full = column_rows(gt);
  std::size_t longest = 0;
  for (const auto& [c, rows] : full)
    longest = std::max(longest, rows.size());
  ASSERT_GT(longest, 100u); // the data has columns past the caps below
  EXPECT_EQ(recd::engine::sample_columns(gt, 0), gt);
  for (const std::uint32_t cap : {1u, 7u, 40u, 100u}) {
    const bipartite sampled = recd::engine::sample_columns(gt, cap);
    ASSERT_EQ(sampled.row_ids, gt.row_ids);
    ASSERT_EQ(sampled.col_ids, gt.col_ids);
    const auto kept = column_rows(sampled);
    for (const auto& [c, rows] : full) {
      const auto it = kept.find(c);
      const auto& got = it == kept.end() ? std::vector<std::int32_t>{} : it->second;
      ASSERT_EQ(got.size(), std::min<std::size_t>(rows.size(), cap)) << "column " << c;
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
      EXPECT_TRUE(std::includes(rows.begin(), rows.end(), got.begin(), got.end()));
      // The same column alone in a graph draws the same rows.
      pair_list alone;
      for (const auto r : rows)
        alone.emplace_back(r, c);
      const auto lone = column_rows(recd::engine::sample_columns(transpose(bipartite_from_pairs(alone)), cap));
      EXPECT_EQ(lone.at(c), got) << "column " << c;
    }
  }
}

TEST(Similarity, ColumnCapScoresTheSampledSetsExactly) {
  const pair_list pairs = random_pairs(62, 300, 40);
  const bipartite g = bipartite_from_pairs(pairs);
  const bipartite gt = transpose(g);
  for (const int cap : {3, 25, 80}) {
    // The reference: brute force over each row's set after the sample
    // (rows left with no column included, so the lists line up with g's rows).
    const bipartite sampled_t = recd::engine::sample_columns(gt, static_cast<std::uint32_t>(cap));
    std::map<std::int32_t, std::set<std::int32_t>> sets;
    for (const auto id : g.row_ids)
      sets[id];
    for (std::size_t c = 0; c < sampled_t.rows(); ++c)
      for (const auto r : sampled_t.row(c))
        sets[sampled_t.col_ids[r]].insert(sampled_t.row_ids[c]);
    const overlaps brute(sets);
    for (const auto measure : {set_measure::cosine, set_measure::jaccard})
      for (const int min_common : {1, 3})
        for (const double floor : {0.0, 0.1})
          for (const int top_k : {0, 5}) {
            similarity_options opt{measure, min_common, floor, top_k};
            opt.max_column_rows = cap;
            SCOPED_TRACE(testing::Message() << "cap " << cap << " cosine "
                                            << (measure == set_measure::cosine) << " min_common "
                                            << min_common << " floor " << floor << " top_k " << top_k);
            expect_identical(kernel_all(g, opt), brute.lists(opt));
          }
  }
  // A cap no column reaches leaves the kernel exact.
  similarity_options exact{set_measure::cosine, 3, 0.1, 0};
  similarity_options loose = exact;
  loose.max_column_rows = static_cast<std::int32_t>(g.rows());
  expect_identical(kernel_all(g, loose), kernel_all(g, exact));
  similarity_options negative = exact;
  negative.max_column_rows = -1;
  EXPECT_THROW(similarity_kernel(g, gt, negative), std::invalid_argument);
}

} // namespace
