// EASE weights: the closed form satisfies the constrained normal equations,
// and co-occurring items vote for each other.

#include "engine/ease.hpp"

#include <gtest/gtest.h>

#include <random>

namespace {

using recd::engine::bipartite_from_pairs;
using recd::engine::ease_model;
using recd::engine::neighbour;

TEST(Ease, WeightsMatchABruteForceInverse) {
  // Random items x users incidence; every returned weight must equal the
  // closed form -P[j][i] / P[i][i] with P = (G + lambda I)^-1 computed here by
  // Gauss-Jordan elimination, and exactly the positive weights are returned.
  std::mt19937_64 rng{7};
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  for (int u = 0; u < 40; ++u)
    for (int i = 0; i < 12; ++i)
      if (rng() % 3 == 0)
        pairs.emplace_back(i, u);
  auto g = bipartite_from_pairs(pairs);
  const double lambda = 2.5;
  ease_model model{g, lambda};
  auto n = g.rows();
  ASSERT_EQ(model.items(), n);
  // Dense Gram matrix, and B as returned (zero where no positive weight).
  std::vector<std::vector<double>> gram(n, std::vector<double>(n, 0)), b(n, std::vector<double>(n, 0));
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t c = 0; c < n; ++c)
      for (auto x : g.row(a))
        for (auto y : g.row(c))
          gram[a][c] += x == y ? 1 : 0;
  std::vector<neighbour> row;
  for (std::size_t j = 0; j < n; ++j) {
    model.neighbours(j, 0, row);
    for (const auto& nb : row)
      b[j][static_cast<std::size_t>(recd::engine::find_row(g, nb.id))] = nb.score;
  }
  // Brute force: solve (G + lambda I) P = I by Gauss-Jordan and compare B.
  std::vector<std::vector<double>> m(n, std::vector<double>(2 * n, 0));
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t c = 0; c < n; ++c)
      m[r][c] = gram[r][c] + (r == c ? lambda : 0);
    m[r][n + r] = 1;
  }
  for (std::size_t p = 0; p < n; ++p) {
    double pivot = m[p][p];
    for (auto& x : m[p])
      x /= pivot;
    for (std::size_t r = 0; r < n; ++r)
      if (r != p) {
        double f = m[r][p];
        for (std::size_t c = 0; c < 2 * n; ++c)
          m[r][c] -= f * m[p][c];
      }
  }
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      if (i == j)
        continue;
      double expected = -m[j][n + i] / m[i][n + i];
      EXPECT_NEAR(b[j][i], expected > 0 ? expected : 0.0, 1e-9) << j << "," << i;
    }
}

TEST(Ease, ItemsBoughtTogetherVoteForEachOtherBestFirst) {
  // Items 1 and 2 share users 0..9; item 3 shares only user 0 with them.
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  for (int u = 0; u < 10; ++u) {
    pairs.emplace_back(1, u);
    pairs.emplace_back(2, u);
  }
  pairs.emplace_back(3, 0);
  for (int u = 10; u < 20; ++u)
    pairs.emplace_back(3, u);
  auto g = bipartite_from_pairs(pairs);
  ease_model model{g, 1.0};
  std::vector<neighbour> row;
  model.neighbours(0, 1, row); // item 1, top 1
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0].id, 2);
  EXPECT_GT(row[0].score, 0.5);
  EXPECT_THROW(ease_model(g, 0.0), std::invalid_argument);
}

} // namespace
