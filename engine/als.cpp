#include "engine/als.hpp"

#include <algorithm>
#include <cmath>
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

// sum_t a[t] * b[t] in four interleaved partial sums (a fixed order, so the
// result depends only on the inputs; the partial sums let the loop pipeline).
// D > 0: n == D, known at compile time.
template <std::size_t D = 0, class A>
double dot_product(const A* a, const double* b, std::size_t length) {
  const std::size_t n = D > 0 ? D : length;
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    s0 += static_cast<double>(a[t]) * b[t];
    s1 += static_cast<double>(a[t + 1]) * b[t + 1];
    s2 += static_cast<double>(a[t + 2]) * b[t + 2];
    s3 += static_cast<double>(a[t + 3]) * b[t + 3];
  }
  if constexpr (D == 0 || D % 4 != 0)
    for (; t < n; ++t)
      s0 += static_cast<double>(a[t]) * b[t];
  return (s0 + s1) + (s2 + s3);
}

// Entries of one row whose fixed factors are copied (as doubles) into a
// contiguous block before its CG steps: 2,048 x 32 doubles = 512 KiB, in L2.
// Longer rows (popular items) read the fixed factors in place.
constexpr std::size_t gather_entries = 2048;

// `steps` conjugate-gradient steps per row on the row's system
//   A x = b, A = Y^T Y + lambda I + sum_j (c_j - 1) y_j y_j^T, b = sum_j c_j y_j
// from its previous factors, without forming A: A v costs one d x d product
// with Y^T Y and two passes over the row's entries. Plain loops in a fixed
// order, so a row's result depends only on its own inputs.
//
// Each row's fixed factors y_j are read once, into a contiguous block of
// doubles (the very values static_cast<double>(y_j[t]) the passes use), so
// the steps' 2 * (steps + 1) + 1 passes read a block in cache instead of
// rows scattered over the fixed matrix (128 MB of user factors at 1M users);
// the c_j - 1 = alpha w_j are computed once per row too, with the same
// expression. D > 0 is the dimension known at compile time (the loops unroll
// and vectorise element-wise); D == 0 reads it from opt. Neither changes an
// operation or its order, so the results are bit-identical to reading y in
// place (Als tests; docs/benchmarks.md compares the stored vectors).
template <std::size_t D>
void solve_rows_cg(const weighted_rows& rows, const factor_matrix& y, const std::vector<double>& yty,
                   const als_options& opt, factor_matrix& out) {
  const std::size_t d = D > 0 ? D : static_cast<std::size_t>(opt.dim);
  const std::size_t n = rows.rows();
  if (out.dim != opt.dim || out.values.size() != n * d)
    out.values.assign(n * d, 0.0f);
  out.dim = opt.dim;
  const double lambda = opt.regularization;
  std::vector<double> x(d), r(d), p(d), ap(d);
  std::vector<double> block;  // the row's gathered y_j, entry-major
  std::vector<double> extra;  // the row's alpha * w_j

  // v <- (Y^T Y + lambda I) u + sum_j (c_j - 1) (y_j . u) y_j over the row,
  // with y_j = at(j) (a double* into the block, or a float* into y).
  auto apply = [&](std::size_t count, auto at, const std::vector<double>& u,
                   std::vector<double>& v) {
    for (std::size_t s = 0; s < d; ++s)
      v[s] = lambda * u[s] + dot_product<D>(yty.data() + s * d, u.data(), d);
    for (std::size_t e = 0; e < count; ++e) {
      const auto* yj = at(e);
      const double coef = extra[e] * dot_product<D>(yj, u.data(), d);
      for (std::size_t t = 0; t < d; ++t) v[t] += coef * static_cast<double>(yj[t]);
    }
  };
  auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return dot_product<D>(a.data(), b.data(), d);
  };
  // Below this squared residual a row counts as solved (as implicit's CG).
  constexpr double solved = 1e-10;

  auto solve_row = [&](std::size_t count, auto at, float* dst) {
    for (std::size_t t = 0; t < d; ++t) x[t] = dst[t];
    // r = b - A x
    apply(count, at, x, ap);
    for (std::size_t t = 0; t < d; ++t) r[t] = -ap[t];
    for (std::size_t e = 0; e < count; ++e) {
      const auto* yj = at(e);
      const double c = 1.0 + extra[e];
      for (std::size_t t = 0; t < d; ++t) r[t] += c * static_cast<double>(yj[t]);
    }
    p = r;
    double rs = dot(r, r);
    for (std::int32_t step = 0; step < opt.cg_steps && rs > solved; ++step) {
      apply(count, at, p, ap);
      const double pap = dot(p, ap);
      if (!(pap > 0.0))
        break; // only with lambda == 0 and a direction in A's null space
      const double a = rs / pap;
      for (std::size_t t = 0; t < d; ++t) {
        x[t] += a * p[t];
        r[t] -= a * ap[t];
      }
      const double next = dot(r, r);
      const double beta = next / rs;
      for (std::size_t t = 0; t < d; ++t) p[t] = r[t] + beta * p[t];
      rs = next;
    }
    for (std::size_t t = 0; t < d; ++t) dst[t] = static_cast<float>(x[t]);
  };

  for (std::size_t row = 0; row < n; ++row) {
    const std::size_t begin = rows.offsets[row];
    const std::size_t end = rows.offsets[row + 1];
    float* dst = out.values.data() + row * d;
    if (begin == end) { // b == 0, so x == 0
      std::fill(dst, dst + d, 0.0f);
      continue;
    }
    const std::size_t count = end - begin;
    extra.resize(count);
    for (std::size_t e = 0; e < count; ++e)
      extra[e] = opt.alpha * static_cast<double>(rows.weights[begin + e]);
    const std::uint32_t* cols = rows.cols.data() + begin;
    if (count <= gather_entries) {
      block.resize(count * d);
      for (std::size_t e = 0; e < count; ++e) {
        const float* yj = y.values.data() + static_cast<std::size_t>(cols[e]) * d;
        double* to = block.data() + e * d;
        for (std::size_t t = 0; t < d; ++t) to[t] = static_cast<double>(yj[t]);
      }
      const double* base = block.data();
      // [=]: d is a constant expression when D > 0, and clang refuses to
      // capture it by name then (-Wunused-lambda-capture).
      solve_row(count, [=](std::size_t e) { return base + e * d; }, dst);
    } else {
      const float* base = y.values.data();
      solve_row(count, [=](std::size_t e) {
        return base + static_cast<std::size_t>(cols[e]) * d;
      }, dst);
    }
  }
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
