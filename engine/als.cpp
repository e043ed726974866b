#include "engine/als.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Cholesky>
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace recd::engine {

namespace {

using mat_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using vec_d = Eigen::VectorXd;

// Rows gathered per rank update in gram/solve_rows: bounds scratch memory for
// very popular rows while keeping the products large enough to be blocked.
constexpr std::size_t chunk_rows = 256;

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("als: ") + what);
}

void check_options(const als_options& opt) {
  require(opt.dim > 0, "dim must be positive");
  require(opt.iterations >= 0, "iterations must be non-negative");
  require(opt.regularization >= 0, "regularization must be non-negative");
  require(opt.alpha >= 0, "alpha must be non-negative");
  require(opt.cg_steps >= 0, "cg_steps must be non-negative");
}

void check_factors(const factor_matrix& f) {
  require(f.dim > 0, "factor dim must be positive");
  require(f.values.size() % static_cast<std::size_t>(f.dim) == 0,
          "factor values must be a multiple of dim");
}

// Checks the CSR invariants (not column ranges, which depend on the caller).
void check_rows(const weighted_rows& m) {
  if (m.offsets.empty()) {
    require(m.cols.empty() && m.weights.empty(), "entries without offsets");
    return;
  }
  require(m.offsets.front() == 0, "offsets must start at 0");
  require(std::is_sorted(m.offsets.begin(), m.offsets.end()), "offsets must be non-decreasing");
  require(m.offsets.back() == m.cols.size(), "offsets.back() must equal cols.size()");
  require(m.weights.size() == m.cols.size(), "weights and cols must have the same size");
}

} // namespace

std::size_t factor_matrix::rows() const {
  return dim > 0 ? values.size() / static_cast<std::size_t>(dim) : 0;
}

std::span<float> factor_matrix::row(std::size_t r) {
  const auto d = static_cast<std::size_t>(dim);
  return std::span<float>(values).subspan(r * d, d);
}

std::span<const float> factor_matrix::row(std::size_t r) const {
  const auto d = static_cast<std::size_t>(dim);
  return std::span<const float>(values).subspan(r * d, d);
}

std::size_t weighted_rows::rows() const {
  return offsets.empty() ? 0 : offsets.size() - 1;
}

factor_matrix initial_factors(std::size_t rows, std::int32_t dim, std::uint64_t seed,
                              std::uint64_t first_row) {
  require(dim > 0, "dim must be positive");
  factor_matrix f;
  f.dim = dim;
  f.values.resize(rows * static_cast<std::size_t>(dim));
  const std::uint64_t seed_key = mix64(seed ^ 0x5851F42D4C957F2DULL);
  for (std::size_t r = 0; r < rows; ++r) {
    // Per-row stream: a SplitMix64 sequence whose start depends only on
    // (seed, global row), never on how rows are grouped into calls.
    std::uint64_t state = mix64(seed_key ^ mix64(first_row + r));
    auto out = f.row(r);
    for (auto& v : out) {
      state += 0x9E3779B97F4A7C15ULL;
      // Top 24 bits give an exactly representable float in [0, 1).
      const float unit = static_cast<float>(mix64(state) >> 40) * (1.0f / 16777216.0f);
      v = unit * 0.2f - 0.1f;
    }
  }
  return f;
}

std::vector<double> gram(const factor_matrix& y) {
  std::vector<double> acc;
  if (y.dim > 0) {
    add_gram(y, acc);
  } else {
    require(y.values.empty(), "factor dim must be positive");
  }
  return acc;
}

void add_gram(const factor_matrix& y, std::vector<double>& acc) {
  check_factors(y);
  const auto d = static_cast<Eigen::Index>(y.dim);
  const auto dd = static_cast<std::size_t>(d * d);
  if (acc.empty()) acc.assign(dd, 0.0);
  require(acc.size() == dd, "gram accumulator must be dim x dim");

  Eigen::Map<mat_d> a(acc.data(), d, d);
  const std::size_t n = y.rows();
  mat_d block;
  for (std::size_t begin = 0; begin < n; begin += chunk_rows) {
    const auto k = static_cast<Eigen::Index>(std::min(chunk_rows, n - begin));
    block = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                y.row(begin).data(), k, d)
                .cast<double>();
    // Only the lower triangle is accumulated; it is mirrored below so the
    // result is exactly symmetric.
    a.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
  }
  for (Eigen::Index i = 0; i < d; ++i) {
    for (Eigen::Index j = i + 1; j < d; ++j) a(i, j) = a(j, i);
  }
}

namespace {

// The exact solve of every row (opt.cg_steps == 0): forms each row's system
// and factors it.
void solve_rows_exact(const weighted_rows& rows, const factor_matrix& y,
                      const std::vector<double>& yty, const als_options& opt, factor_matrix& out) {
  const auto d = static_cast<Eigen::Index>(opt.dim);
  const std::size_t n = rows.rows();
  out.values.assign(n * static_cast<std::size_t>(d), 0.0f);

  // Scratch, reused across rows. Eigen allocates it with the same alignment
  // every time, so each row follows the same arithmetic path whatever rows
  // were solved before it: slices give bit-identical results.
  const mat_d base = Eigen::Map<const mat_d>(yty.data(), d, d);
  mat_d a(d, d);
  mat_d scaled(static_cast<Eigen::Index>(chunk_rows), d);
  vec_d b(d);
  Eigen::LLT<mat_d> llt(d);
  Eigen::LDLT<mat_d> ldlt(d);
  vec_d x(d);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t begin = rows.offsets[r];
    const std::size_t end = rows.offsets[r + 1];
    if (begin == end) continue; // b == 0, so x == 0

    // A = Y^T Y + lambda I + sum_j (c_j - 1) y_j y_j^T (lower triangle only),
    // b = sum_j c_j y_j, since p_j = 1 on stored entries and 0 elsewhere.
    a = base;
    a.diagonal().array() += opt.regularization;
    b.setZero();
    for (std::size_t chunk = begin; chunk < end; chunk += chunk_rows) {
      const std::size_t k = std::min(chunk_rows, end - chunk);
      for (std::size_t e = 0; e < k; ++e) {
        const double extra = opt.alpha * static_cast<double>(rows.weights[chunk + e]);
        const double root = std::sqrt(extra);
        const auto yj = y.row(rows.cols[chunk + e]);
        const auto row_e = static_cast<Eigen::Index>(e);
        for (Eigen::Index t = 0; t < d; ++t) {
          const double v = yj[static_cast<std::size_t>(t)];
          scaled(row_e, t) = root * v;
          b[t] += (1.0 + extra) * v;
        }
      }
      a.selfadjointView<Eigen::Lower>().rankUpdate(
          scaled.topRows(static_cast<Eigen::Index>(k)).transpose());
    }

    llt.compute(a);
    if (llt.info() == Eigen::Success) {
      x = llt.solve(b);
    } else {
      // Only reachable with lambda == 0 and a rank-deficient system.
      ldlt.compute(a); // reads the lower triangle, like LLT
      x = ldlt.solve(b);
    }
    auto dst = out.row(r);
    for (Eigen::Index t = 0; t < d; ++t) dst[static_cast<std::size_t>(t)] = static_cast<float>(x[t]);
  }
}

} // namespace

// The CG solve for the baseline instruction set, and for AVX2 (als_cg.ipp).
namespace cg_baseline {
#include "engine/als_cg.ipp"
} // namespace cg_baseline
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
namespace cg_avx2 {
#include "engine/als_cg.ipp"
} // namespace cg_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {

// AVX2 where the processor has it, unless RECD_ALS_BASELINE_ISA is set (for
// the bit-identity test and side-by-side benches; read on every call, which
// is once per half-step slice).
bool use_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has && std::getenv("RECD_ALS_BASELINE_ISA") == nullptr;
}

template <std::size_t D>
void solve_rows_cg(const weighted_rows& rows, const factor_matrix& y, const std::vector<double>& yty,
                   const als_options& opt, factor_matrix& out) {
  if (use_avx2())
    cg_avx2::solve_rows_cg<D>(rows, y, yty, opt, out);
  else
    cg_baseline::solve_rows_cg<D>(rows, y, yty, opt, out);
}

} // namespace

void solve_rows(const weighted_rows& rows, const factor_matrix& y, const std::vector<double>& yty,
                const als_options& opt, factor_matrix& out) {
  check_options(opt);
  check_factors(y);
  check_rows(rows);
  require(y.dim == opt.dim, "fixed factors must have dim == opt.dim");
  const auto d = static_cast<Eigen::Index>(opt.dim);
  require(yty.size() == static_cast<std::size_t>(d * d), "yty must be dim x dim");

  const std::size_t n_fixed = y.rows();
  for (const auto c : rows.cols) {
    if (c >= n_fixed) throw std::out_of_range("als: column index beyond the fixed factors");
  }
  for (const auto w : rows.weights) require(w >= 0 && std::isfinite(w), "weights must be >= 0");

  if (opt.cg_steps > 0) {
    if (opt.dim == 32) // the default: loops of known length
      solve_rows_cg<32>(rows, y, yty, opt, out);
    else
      solve_rows_cg<0>(rows, y, yty, opt, out);
    return;
  }
  out.dim = opt.dim;
  solve_rows_exact(rows, y, yty, opt, out);
}

als_model train_als(const weighted_rows& user_items, const weighted_rows& item_users,
                    std::size_t n_users, std::size_t n_items, const als_options& opt) {
  check_options(opt);
  require(user_items.rows() == n_users, "user_items must have n_users rows");
  require(item_users.rows() == n_items, "item_users must have n_items rows");
  require(user_items.cols.size() == item_users.cols.size(),
          "item_users must be the transpose of user_items");

  als_model m;
  m.items = initial_factors(n_items, opt.dim, opt.seed);
  m.users.dim = opt.dim;
  m.users.values.assign(n_users * static_cast<std::size_t>(opt.dim), 0.0f);
  for (std::int32_t it = 0; it < opt.iterations; ++it) {
    solve_rows(user_items, m.items, gram(m.items), opt, m.users);
    solve_rows(item_users, m.users, gram(m.users), opt, m.items);
  }
  return m;
}

weighted_rows transpose(const weighted_rows& m, std::size_t n_cols) {
  check_rows(m);
  for (const auto c : m.cols) {
    if (c >= n_cols) throw std::out_of_range("als: column index >= n_cols in transpose");
  }
  // Counting sort by column; scanning source rows in order keeps each output
  // row sorted by source row.
  weighted_rows t;
  t.offsets.assign(n_cols + 1, 0);
  for (const auto c : m.cols) ++t.offsets[c + 1];
  for (std::size_t c = 0; c < n_cols; ++c) t.offsets[c + 1] += t.offsets[c];
  t.cols.resize(m.cols.size());
  t.weights.resize(m.weights.size());
  std::vector<std::uint64_t> next(t.offsets.begin(), t.offsets.end() - 1);
  for (std::size_t r = 0; r < m.rows(); ++r) {
    for (std::size_t e = m.offsets[r]; e < m.offsets[r + 1]; ++e) {
      const std::uint64_t dst = next[m.cols[e]]++;
      t.cols[dst] = static_cast<std::uint32_t>(r);
      t.weights[dst] = m.weights[e];
    }
  }
  return t;
}

double implicit_loss(const weighted_rows& user_items, const als_model& m, const als_options& opt) {
  check_options(opt);
  check_rows(user_items);
  check_factors(m.users);
  check_factors(m.items);
  require(m.users.dim == opt.dim && m.items.dim == opt.dim, "model dim must equal opt.dim");
  require(user_items.rows() == m.users.rows(), "user_items must have one row per user");
  const auto d = static_cast<Eigen::Index>(opt.dim);
  const std::size_t n_items = m.items.rows();

  // Unobserved pairs contribute (x_u . y_i)^2, so the sum over ALL pairs of
  // (0 - s)^2 is sum_u x_u^T (Y^T Y) x_u; each stored entry then replaces its
  // s^2 term by c (1 - s)^2.
  const std::vector<double> yty = gram(m.items);
  const Eigen::Map<const mat_d> g(yty.data(), d, d);
  double loss = 0.0;
  vec_d x(d);
  for (std::size_t u = 0; u < user_items.rows(); ++u) {
    const auto xu = m.users.row(u);
    for (Eigen::Index t = 0; t < d; ++t) x[t] = xu[static_cast<std::size_t>(t)];
    loss += x.dot(g * x);
    for (std::size_t e = user_items.offsets[u]; e < user_items.offsets[u + 1]; ++e) {
      const std::uint32_t i = user_items.cols[e];
      if (i >= n_items) throw std::out_of_range("als: column index beyond the item factors");
      const auto yi = m.items.row(i);
      double s = 0.0;
      for (Eigen::Index t = 0; t < d; ++t) s += x[t] * yi[static_cast<std::size_t>(t)];
      const double c = 1.0 + opt.alpha * static_cast<double>(user_items.weights[e]);
      loss += c * (1.0 - s) * (1.0 - s) - s * s;
    }
  }
  double norms = 0.0;
  for (const float v : m.users.values) norms += static_cast<double>(v) * v;
  for (const float v : m.items.values) norms += static_cast<double>(v) * v;
  return loss + opt.regularization * norms;
}

} // namespace recd::engine
