// Implicit ALS: convergence, learned structure, and the sharding contracts
// (slices solve like the whole, partial grams sum to the whole gram, per-row
// initialisation is independent of slicing).

#include "engine/als.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using namespace recd::engine;

using entry = std::pair<std::uint32_t, float>;

// Builds CSR rows; entries of each row are sorted by column.
weighted_rows make_rows(std::vector<std::vector<entry>> rows) {
  weighted_rows m;
  m.offsets.push_back(0);
  for (auto& row : rows) {
    std::sort(row.begin(), row.end());
    for (const auto& [c, w] : row) {
      m.cols.push_back(c);
      m.weights.push_back(w);
    }
    m.offsets.push_back(m.cols.size());
  }
  return m;
}

// Each user gets `per_user` distinct random items with weights in [1, 5].
weighted_rows random_sparse(std::size_t n_users, std::size_t n_items, std::size_t per_user,
                            std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint32_t> all(n_items);
  for (std::size_t i = 0; i < n_items; ++i) all[i] = static_cast<std::uint32_t>(i);
  std::vector<std::vector<entry>> rows(n_users);
  for (auto& row : rows) {
    for (std::size_t k = 0; k < per_user; ++k) {
      std::swap(all[k], all[k + rng() % (n_items - k)]);
      row.emplace_back(all[k], static_cast<float>(1 + rng() % 5));
    }
  }
  return make_rows(std::move(rows));
}

// Rows [begin, end) of m as a standalone matrix (what a shard would own).
weighted_rows slice(const weighted_rows& m, std::size_t begin, std::size_t end) {
  weighted_rows s;
  const auto first = m.offsets[begin];
  for (std::size_t r = begin; r <= end; ++r) s.offsets.push_back(m.offsets[r] - first);
  s.cols.assign(m.cols.begin() + static_cast<std::ptrdiff_t>(first),
                m.cols.begin() + static_cast<std::ptrdiff_t>(m.offsets[end]));
  s.weights.assign(m.weights.begin() + static_cast<std::ptrdiff_t>(first),
                   m.weights.begin() + static_cast<std::ptrdiff_t>(m.offsets[end]));
  return s;
}

double cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t t = 0; t < a.size(); ++t) {
    ab += double(a[t]) * b[t];
    aa += double(a[t]) * a[t];
    bb += double(b[t]) * b[t];
  }
  return ab / std::sqrt(aa * bb + 1e-30);
}

// The same loop train_als runs, into m, with the loss measured before the
// first and after every half-step.
std::vector<double> train_measuring_loss(const weighted_rows& ui, const weighted_rows& iu,
                                         std::size_t n_users, std::size_t n_items,
                                         const als_options& opt, als_model& m) {
  m.items = initial_factors(n_items, opt.dim, opt.seed);
  m.users.dim = opt.dim;
  m.users.values.assign(n_users * std::size_t(opt.dim), 0.0f);
  std::vector<double> losses{implicit_loss(ui, m, opt)};
  for (int it = 0; it < opt.iterations; ++it) {
    solve_rows(ui, m.items, gram(m.items), opt, m.users);
    losses.push_back(implicit_loss(ui, m, opt));
    solve_rows(iu, m.users, gram(m.users), opt, m.items);
    losses.push_back(implicit_loss(ui, m, opt));
  }
  return losses;
}

TEST(Als, LossNeverIncreasesOverHalfStepsOnRandomSparseData) {
  const std::size_t n_users = 200, n_items = 100;
  const auto ui = random_sparse(n_users, n_items, 8, 7);
  const auto iu = transpose(ui, n_items);
  als_options opt;
  opt.dim = 16;

  als_model m;
  const auto losses = train_measuring_loss(ui, iu, n_users, n_items, opt, m);
  for (std::size_t k = 1; k < losses.size(); ++k) {
    EXPECT_LE(losses[k], losses[k - 1] * (1 + 1e-6)) << "half-step " << k;
  }
  // It actually learns something: far below the all-zero prediction's loss.
  const double zero_prediction = [&] {
    double sum = 0;
    for (const float w : ui.weights) sum += 1 + opt.alpha * w;
    return sum;
  }();
  EXPECT_LT(losses.back(), 0.5 * zero_prediction);

  // train_als is exactly this loop.
  const auto trained = train_als(ui, iu, n_users, n_items, opt);
  EXPECT_EQ(trained.users.values, m.users.values);
  EXPECT_EQ(trained.items.values, m.items.values);
}

TEST(Als, ItemsOfTheSameTasteClusterEndUpCloserThanItemsOfDifferentClusters) {
  constexpr std::size_t clusters = 3, users_per = 100, items_per = 20, per_user = 8;
  const std::size_t n_users = clusters * users_per, n_items = clusters * items_per;
  std::mt19937_64 rng(11);
  std::vector<std::vector<entry>> rows(n_users);
  for (std::size_t u = 0; u < n_users; ++u) {
    const std::size_t k = u / users_per;
    std::vector<bool> taken(n_items, false);
    while (rows[u].size() < per_user) {
      // 85% of a user's interactions are in their own cluster.
      const bool own = rng() % 100 < 85;
      const std::size_t i = own ? k * items_per + rng() % items_per : rng() % n_items;
      if (taken[i]) continue;
      taken[i] = true;
      rows[u].emplace_back(static_cast<std::uint32_t>(i), static_cast<float>(1 + rng() % 3));
    }
  }
  const auto ui = make_rows(std::move(rows));
  als_options opt;
  opt.dim = 8;
  const auto m = train_als(ui, transpose(ui, n_items), n_users, n_items, opt);

  double same = 0, cross = 0;
  std::size_t n_same = 0, n_cross = 0, nn_same = 0;
  for (std::size_t i = 0; i < n_items; ++i) {
    double best = -2;
    std::size_t best_j = i;
    for (std::size_t j = 0; j < n_items; ++j) {
      if (j == i) continue;
      const double c = cosine(m.items.row(i), m.items.row(j));
      if (i / items_per == j / items_per) {
        same += c;
        ++n_same;
      } else {
        cross += c;
        ++n_cross;
      }
      if (c > best) best = c, best_j = j;
    }
    nn_same += best_j / items_per == i / items_per;
  }
  same /= double(n_same);
  cross /= double(n_cross);
  // Observed over ten data/init seeds: same ~0.42, cross ~0.03, and 57-60 of
  // the 60 nearest neighbours in the same cluster.
  EXPECT_GT(same, cross + 0.25) << "same " << same << " cross " << cross;
  EXPECT_GE(nn_same, n_items * 9 / 10);
}

TEST(Als, SolvingRowsInTwoSlicesGivesExactlyTheWholeSolve) {
  const std::size_t n_users = 200, n_items = 100, half = 83;
  const auto ui = random_sparse(n_users, n_items, 10, 3);
  als_options opt;
  opt.dim = 12;
  const auto y = initial_factors(n_items, opt.dim, 5);
  const auto yty = gram(y);

  factor_matrix whole, first, second;
  solve_rows(ui, y, yty, opt, whole);
  solve_rows(slice(ui, 0, half), y, yty, opt, first);
  solve_rows(slice(ui, half, n_users), y, yty, opt, second);
  ASSERT_EQ(whole.rows(), n_users);
  ASSERT_EQ(first.rows() + second.rows(), n_users);
  auto joined = first.values;
  joined.insert(joined.end(), second.values.begin(), second.values.end());
  EXPECT_EQ(joined, whole.values);
}

TEST(Als, ConjugateGradientStepsNeverRaiseTheLossAndEndNearTheExactSolvesLoss) {
  const std::size_t n_users = 200, n_items = 100;
  const auto ui = random_sparse(n_users, n_items, 8, 7);
  const auto iu = transpose(ui, n_items);
  als_options exact;
  exact.dim = 16;
  auto cg = exact;
  cg.cg_steps = 3;

  als_model m;
  const auto losses = train_measuring_loss(ui, iu, n_users, n_items, cg, m);
  for (std::size_t k = 1; k < losses.size(); ++k)
    EXPECT_LE(losses[k], losses[k - 1] * (1 + 1e-6)) << "half-step " << k;
  // train_als with cg_steps is exactly this loop (each side warm-starts from
  // its current factors).
  const auto trained = train_als(ui, iu, n_users, n_items, cg);
  EXPECT_EQ(trained.users.values, m.users.values);
  EXPECT_EQ(trained.items.values, m.items.values);

  const double exact_loss = implicit_loss(ui, train_als(ui, iu, n_users, n_items, exact), exact);
  std::printf("[   info   ] loss after 10 sweeps: exact %.4f, 3 CG steps %.4f\n", exact_loss,
              losses.back());
  EXPECT_LE(losses.back(), exact_loss * 1.02);
}

TEST(Als, ConjugateGradientWithDimStepsFromZeroReachesTheExactSolution) {
  const std::size_t n_users = 60, n_items = 40;
  const auto ui = random_sparse(n_users, n_items, 9, 17);
  als_options exact;
  exact.dim = 8;
  const auto y = initial_factors(n_items, exact.dim, 5);
  const auto yty = gram(y);
  factor_matrix want, got;
  solve_rows(ui, y, yty, exact, want);
  auto cg = exact;
  cg.cg_steps = 4 * exact.dim; // rounding aside, CG ends in dim steps
  solve_rows(ui, y, yty, cg, got); // `got` is empty: every row starts at zero
  ASSERT_EQ(got.values.size(), want.values.size());
  for (std::size_t k = 0; k < want.values.size(); ++k)
    EXPECT_NEAR(got.values[k], want.values[k], 1e-4 * (1 + std::abs(want.values[k]))) << k;
}

TEST(Als, ConjugateGradientSlicesFromTheirOwnPreviousRowsGiveExactlyTheWholeSolve) {
  const std::size_t n_users = 200, n_items = 100, half = 83;
  const auto ui = random_sparse(n_users, n_items, 10, 3);
  als_options opt;
  opt.dim = 12;
  opt.cg_steps = 3;
  const auto y = initial_factors(n_items, opt.dim, 5);
  const auto yty = gram(y);
  const auto previous = initial_factors(n_users, opt.dim, 9);

  factor_matrix whole = previous, first, second;
  first.dim = second.dim = opt.dim;
  first.values.assign(previous.values.begin(),
                      previous.values.begin() + static_cast<std::ptrdiff_t>(half * opt.dim));
  second.values.assign(previous.values.begin() + static_cast<std::ptrdiff_t>(half * opt.dim),
                       previous.values.end());
  solve_rows(ui, y, yty, opt, whole);
  solve_rows(slice(ui, 0, half), y, yty, opt, first);
  solve_rows(slice(ui, half, n_users), y, yty, opt, second);
  auto joined = first.values;
  joined.insert(joined.end(), second.values.begin(), second.values.end());
  EXPECT_EQ(joined, whole.values);
  // The previous rows are read: other starting points give other rows.
  factor_matrix from_zero;
  solve_rows(ui, y, yty, opt, from_zero);
  EXPECT_NE(from_zero.values, whole.values);
}

// The conjugate-gradient half-step as first written: every pass reads y_j in
// place, dot products in four interleaved partial sums. solve_rows gathers
// each row's y_j first (rows up to 2,048 entries) and unrolls dimension 32;
// neither may change a bit.
std::vector<float> cg_in_place(const weighted_rows& rows, const factor_matrix& y,
                               const std::vector<double>& yty, const als_options& opt,
                               std::vector<float> out) {
  const auto d = static_cast<std::size_t>(opt.dim);
  auto dot4 = [&](auto* a, const double* b) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    std::size_t t = 0;
    for (; t + 4 <= d; t += 4) {
      s0 += static_cast<double>(a[t]) * b[t];
      s1 += static_cast<double>(a[t + 1]) * b[t + 1];
      s2 += static_cast<double>(a[t + 2]) * b[t + 2];
      s3 += static_cast<double>(a[t + 3]) * b[t + 3];
    }
    for (; t < d; ++t)
      s0 += static_cast<double>(a[t]) * b[t];
    return (s0 + s1) + (s2 + s3);
  };
  std::vector<double> x(d), r(d), p(d), ap(d);
  for (std::size_t row = 0; row < rows.rows(); ++row) {
    const std::size_t begin = rows.offsets[row], end = rows.offsets[row + 1];
    float* dst = out.data() + row * d;
    if (begin == end) {
      std::fill(dst, dst + d, 0.0f);
      continue;
    }
    auto apply = [&](const std::vector<double>& u, std::vector<double>& v) {
      for (std::size_t s = 0; s < d; ++s)
        v[s] = opt.regularization * u[s] + dot4(yty.data() + s * d, u.data());
      for (std::size_t e = begin; e < end; ++e) {
        const float* yj = y.values.data() + std::size_t{rows.cols[e]} * d;
        const double coef = opt.alpha * static_cast<double>(rows.weights[e]) * dot4(yj, u.data());
        for (std::size_t t = 0; t < d; ++t)
          v[t] += coef * static_cast<double>(yj[t]);
      }
    };
    for (std::size_t t = 0; t < d; ++t)
      x[t] = dst[t];
    apply(x, ap);
    for (std::size_t t = 0; t < d; ++t)
      r[t] = -ap[t];
    for (std::size_t e = begin; e < end; ++e) {
      const float* yj = y.values.data() + std::size_t{rows.cols[e]} * d;
      const double c = 1.0 + opt.alpha * static_cast<double>(rows.weights[e]);
      for (std::size_t t = 0; t < d; ++t)
        r[t] += c * static_cast<double>(yj[t]);
    }
    p = r;
    double rs = dot4(r.data(), r.data());
    for (std::int32_t step = 0; step < opt.cg_steps && rs > 1e-10; ++step) {
      apply(p, ap);
      const double pap = dot4(p.data(), ap.data());
      if (!(pap > 0.0))
        break;
      const double a = rs / pap;
      for (std::size_t t = 0; t < d; ++t) {
        x[t] += a * p[t];
        r[t] -= a * ap[t];
      }
      const double next = dot4(r.data(), r.data());
      for (std::size_t t = 0; t < d; ++t)
        p[t] = r[t] + next / rs * p[t];
      rs = next;
    }
    for (std::size_t t = 0; t < d; ++t)
      dst[t] = static_cast<float>(x[t]);
  }
  return out;
}

TEST(Als, ConjugateGradientGivesTheBitsOfTheInPlaceLoopForEveryDimensionRowLengthAndIsa) {
  const std::size_t n_fixed = 5000;
  // Short rows, an empty one, and rows past the 2,048 entries gathered at once.
  std::mt19937_64 rng(77);
  std::vector<std::vector<entry>> rows;
  for (const std::size_t length : {1u, 7u, 40u, 0u, 300u, 2048u, 2049u, 4500u, 13u}) {
    std::vector<std::uint32_t> cols(n_fixed);
    for (std::uint32_t c = 0; c < n_fixed; ++c)
      cols[c] = c;
    std::shuffle(cols.begin(), cols.end(), rng);
    std::vector<entry> row;
    for (std::size_t k = 0; k < length; ++k)
      row.emplace_back(cols[k], 1.0f + static_cast<float>(rng() % 5));
    rows.push_back(std::move(row));
  }
  const auto m = make_rows(rows);
  for (const std::int32_t dim : {32, 12, 5}) { // 32: the unrolled loops
    als_options opt;
    opt.dim = dim;
    opt.cg_steps = 3;
    opt.regularization = 20;
    opt.alpha = 3;
    const auto y = initial_factors(n_fixed, dim, 3);
    const auto yty = gram(y);
    factor_matrix out = initial_factors(m.rows(), dim, 4);
    const auto want = cg_in_place(m, y, yty, opt, out.values);
    // Both instruction sets solve_rows may pick (AVX2 where the processor
    // has it, engine/als_cg.ipp): the same bits.
    for (const bool baseline : {true, false}) {
      if (baseline)
        ::setenv("RECD_ALS_BASELINE_ISA", "1", 1);
      else
        ::unsetenv("RECD_ALS_BASELINE_ISA");
      factor_matrix solved = out;
      solve_rows(m, y, yty, opt, solved);
      EXPECT_EQ(solved.values, want) << "dim " << dim << (baseline ? ", baseline" : ", best");
    }
  }
}

TEST(Als, PartialGramsOfTwoSlicesSumToTheWholeGram) {
  const std::size_t n = 700, cut = 301; // crosses the internal chunk size
  const std::int32_t d = 9;
  const auto y = initial_factors(n, d, 21);
  const auto whole = gram(y);
  ASSERT_EQ(whole.size(), std::size_t(d * d));

  factor_matrix a, b;
  a.dim = b.dim = d;
  a.values.assign(y.values.begin(), y.values.begin() + cut * d);
  b.values.assign(y.values.begin() + cut * d, y.values.end());

  // Accumulated in place, and as two separate partials summed by a coordinator.
  std::vector<double> acc;
  add_gram(a, acc);
  add_gram(b, acc);
  auto summed = gram(a);
  const auto pb = gram(b);
  for (std::size_t k = 0; k < summed.size(); ++k) summed[k] += pb[k];
  for (std::size_t k = 0; k < whole.size(); ++k) {
    EXPECT_NEAR(acc[k], whole[k], 1e-9) << k;
    EXPECT_NEAR(summed[k], whole[k], 1e-9) << k;
  }
  // Exactly symmetric, and equal to a naive Y^T Y.
  for (std::int32_t r = 0; r < d; ++r) {
    for (std::int32_t c = 0; c < d; ++c) {
      EXPECT_EQ(whole[r * d + c], whole[c * d + r]);
      double naive = 0;
      for (std::size_t i = 0; i < n; ++i) naive += double(y.row(i)[r]) * y.row(i)[c];
      EXPECT_NEAR(whole[r * d + c], naive, 1e-9);
    }
  }
  std::vector<double> wrong(3, 0.0);
  EXPECT_THROW(add_gram(y, wrong), std::invalid_argument);
}

TEST(Als, InitialFactorsWithRowOffsetsConcatenateToTheGlobalInitialisation) {
  const std::size_t n1 = 37, n2 = 55;
  const std::int32_t d = 6;
  const auto whole = initial_factors(n1 + n2, d, 99);
  auto joined = initial_factors(n1, d, 99, 0).values;
  const auto tail = initial_factors(n2, d, 99, n1).values;
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_EQ(joined, whole.values);

  // Small, non-degenerate, and seed-dependent.
  EXPECT_TRUE(std::all_of(whole.values.begin(), whole.values.end(),
                          [](float v) { return v >= -0.1f && v < 0.1f; }));
  EXPECT_NE(whole.values, initial_factors(n1 + n2, d, 100).values);
  EXPECT_NE(std::vector<float>(whole.row(0).begin(), whole.row(0).end()),
            std::vector<float>(whole.row(1).begin(), whole.row(1).end()));
}

TEST(Als, TwoTrainingRunsGiveBitIdenticalFactors) {
  const std::size_t n_users = 150, n_items = 80;
  const auto ui = random_sparse(n_users, n_items, 6, 17);
  const auto iu = transpose(ui, n_items);
  als_options opt;
  opt.dim = 10;
  opt.iterations = 5;
  const auto a = train_als(ui, iu, n_users, n_items, opt);
  const auto b = train_als(ui, iu, n_users, n_items, opt);
  EXPECT_EQ(a.users.values, b.users.values);
  EXPECT_EQ(a.items.values, b.items.values);
  opt.seed = 43;
  EXPECT_NE(train_als(ui, iu, n_users, n_items, opt).items.values, a.items.values);
}

TEST(Als, TransposeTwiceGivesBackTheOriginalMatrix) {
  // Hand-checked small case, including an empty row and an empty column.
  const auto m = make_rows({{{0, 1.f}, {2, 2.f}}, {}, {{2, 3.f}}});
  const auto t = transpose(m, 4);
  EXPECT_EQ(t.offsets, (std::vector<std::uint64_t>{0, 1, 1, 3, 3}));
  EXPECT_EQ(t.cols, (std::vector<std::uint32_t>{0, 0, 2}));
  EXPECT_EQ(t.weights, (std::vector<float>{1.f, 2.f, 3.f}));

  const std::size_t n_users = 120, n_items = 70;
  const auto r = random_sparse(n_users, n_items, 9, 23);
  const auto back = transpose(transpose(r, n_items), n_users);
  EXPECT_EQ(back.offsets, r.offsets);
  EXPECT_EQ(back.cols, r.cols);
  EXPECT_EQ(back.weights, r.weights);

  EXPECT_THROW(transpose(m, 2), std::out_of_range);
}

TEST(Als, RowsWithoutInteractionsGetZeroFactorsAndBadColumnsAreRejected) {
  als_options opt;
  opt.dim = 4;
  const auto y = initial_factors(3, opt.dim, 1);
  const auto m = make_rows({{}, {{1, 2.f}}});
  factor_matrix out;
  solve_rows(m, y, gram(y), opt, out);
  ASSERT_EQ(out.rows(), 2u);
  for (const float v : out.row(0)) EXPECT_EQ(v, 0.0f);
  EXPECT_TRUE(std::any_of(out.row(1).begin(), out.row(1).end(), [](float v) { return v != 0; }));

  const auto bad = make_rows({{{3, 1.f}}});
  EXPECT_THROW(solve_rows(bad, y, gram(y), opt, out), std::out_of_range);
}

} // namespace
