// The conjugate-gradient solve of engine/als.cpp, included there twice: once
// for the baseline x86-64 instruction set and once under
// `#pragma GCC target("avx2")`, chosen at run time (solve_rows). Only the
// width of the vector instructions differs: AVX2 without FMA, so every
// product and sum is the same IEEE operation in the same order, and the two
// builds give bit-identical factors (engine_als_test: ...ForEveryDimensionRowLengthAndIsa).
// No include guard: it is meant to be included more than once, each time
// inside a namespace of its own.
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

// Entries of one row whose fixed factors are copied into a
// contiguous block before its CG steps: 2,048 x 32 floats = 256 KiB, in L2.
// Longer rows (popular items) read the fixed factors in place.
constexpr std::size_t gather_entries = 2048;

// `steps` conjugate-gradient steps per row on the row's system
//   A x = b, A = Y^T Y + lambda I + sum_j (c_j - 1) y_j y_j^T, b = sum_j c_j y_j
// from its previous factors, without forming A: A v costs one d x d product
// with Y^T Y and two passes over the row's entries. Plain loops in a fixed
// order, so a row's result depends only on its own inputs.
//
// Each row's fixed factors y_j are read once, into a contiguous block of
// floats (the passes widen each to double as they use it, exactly as when
// reading y in place; floats rather than doubles halve the block), so
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
  std::vector<float> block;   // the row's gathered y_j, entry-major
  std::vector<double> extra;  // the row's alpha * w_j

  // v <- (Y^T Y + lambda I) u + sum_j (c_j - 1) (y_j . u) y_j over the row,
  // with y_j = at(j) (a float* into the block or into y).
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
        float* to = block.data() + e * d;
        for (std::size_t t = 0; t < d; ++t) to[t] = yj[t];
      }
      const float* base = block.data();
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
