#pragma once
// Implicit-feedback alternating least squares (Hu, Koren, Volinsky 2008).
//
// The work is written so it can be split over shard actors: each shard owns
// some users and some items and solves only its own rows, given the other
// side's fixed factors and their Gram matrix (recd's shard workers exchange
// the fixed rows among themselves and each computes the Gram of the whole
// side, actors/embedding_worker.hpp; partial grams can be summed instead). `train_als` is the
// single-process driver built from the same pieces.
//
// Model: every stored entry (u, i) of the interaction matrix is a positive
// preference p_ui = 1 with confidence c_ui = 1 + alpha * r_ui; every other
// pair has p_ui = 0 and c_ui = 1. The objective is
//   sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + lambda (|X|^2 + |Y|^2)
// (plain lambda, not scaled by row counts), and each half-step minimises it
// over one side, exactly or by a few conjugate-gradient steps from the current
// factors (als_options::cg_steps), so the loss never increases (up to float
// rounding of the stored factors).
//
// Everything is deterministic: same inputs and options give bit-identical
// factors, whether rows are solved together or in slices.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace recd::engine {

struct als_options {
  std::int32_t dim = 32;        // embedding dimension, > 0
  std::int32_t iterations = 10; // full sweeps (user half-step, then item half-step), >= 0
  double regularization = 0.05; // lambda, >= 0 (> 0 keeps every system positive definite)
  double alpha = 10.0;          // confidence c = 1 + alpha * weight, >= 0
  std::uint64_t seed = 42;      // deterministic initialisation of the item factors
  // 0: each row's system is solved exactly (Cholesky, O(nnz_r * d^2 + d^3)).
  // > 0: that many conjugate-gradient steps per row, started from the row's
  // previous factors (Takacs et al. 2011, "Applications of the conjugate
  // gradient method for implicit feedback collaborative filtering"):
  // O(steps * (nnz_r * d + d^2)) per row.
  std::int32_t cg_steps = 0;
};

// Dense row-major factors: rows() x dim floats.
struct factor_matrix {
  std::int32_t dim = 0;
  std::vector<float> values; // rows() * dim

  // Number of rows; 0 when dim is 0.
  std::size_t rows() const;
  std::span<float> row(std::size_t r);
  std::span<const float> row(std::size_t r) const;
};

// Sparse weighted rows of the interaction matrix in CSR form. Columns are
// dense indices into the OTHER side's factor matrix. Within a row, columns
// must be distinct (merge duplicates by summing their weights first).
struct weighted_rows {
  std::vector<std::uint64_t> offsets; // size rows()+1, offsets[0] == 0, non-decreasing
  std::vector<std::uint32_t> cols;    // size offsets.back()
  std::vector<float> weights;         // raw preference weight r_ui > 0, same size as cols

  // Number of rows; 0 when offsets is empty.
  std::size_t rows() const;
};

// Small deterministic pseudo-random factors, uniform in [-0.1, 0.1).
// Row i is generated from a stream derived only from (seed, first_row + i), so
// shards that each initialise their slice with the right first_row produce
// exactly the global matrix a single process would.
factor_matrix initial_factors(std::size_t rows, std::int32_t dim, std::uint64_t seed,
                              std::uint64_t first_row = 0);

// Gram matrix Y^T Y of the fixed side: dim x dim, row-major doubles, exactly
// symmetric.
std::vector<double> gram(const factor_matrix& y);

// Adds the Gram matrix of y's rows into acc, so shards can each compute a
// partial gram and the coordinator sums them. An empty acc is first resized to
// dim x dim zeros; otherwise acc must already be dim x dim and symmetric.
// Throws std::invalid_argument on a size mismatch.
void add_gram(const factor_matrix& y, std::vector<double>& acc);

// For every row r of `rows` minimises, in double precision, the row's part of
// the objective, whose minimum is
//   x_r = (Y^T Y + Y^T (C_r - I) Y + lambda I)^-1 Y^T C_r p_r
// and writes x_r into out (resized to rows.rows() x opt.dim). `yty` must be
// gram(y) (or the sum of partial grams).
// - opt.cg_steps == 0: the exact x_r, O(nnz_r * d^2 + d^3) per row; out's
//   previous contents are ignored.
// - opt.cg_steps > 0: that many conjugate-gradient steps from out's previous
//   row (zero if out did not have rows.rows() x opt.dim values), stopping
//   early once the residual is negligible. Each step lowers the row's
//   objective or keeps it (CG on a positive definite system), so a half-step
//   never raises the loss; O(steps * (nnz_r * d + d^2)) per row.
// Rows are independent, so solving a slice (with the same previous rows)
// gives bit-identical rows to solving the whole matrix. A row without entries
// gets the zero vector.
// Throws std::invalid_argument for inconsistent shapes, negative options or
// weights, and std::out_of_range for a column >= y.rows().
void solve_rows(const weighted_rows& rows, const factor_matrix& y, const std::vector<double>& yty,
                const als_options& opt, factor_matrix& out);

struct als_model {
  factor_matrix users;
  factor_matrix items;
};

// Single-process driver. user_items has n_users rows whose columns index
// items; item_users is its transpose (same weights), with n_items rows.
// Items start at initial_factors(n_items, opt.dim, opt.seed); users start at
// zero (an exact first half-step does not read them; conjugate-gradient steps
// start from them). Each iteration solves all users, then all items.
als_model train_als(const weighted_rows& user_items, const weighted_rows& item_users,
                    std::size_t n_users, std::size_t n_items, const als_options& opt);

// Transposes a matrix with n_cols columns in O(nnz + rows + n_cols). Within
// each output row, entries are ordered by ascending source row.
// Throws std::out_of_range for a column >= n_cols.
weighted_rows transpose(const weighted_rows& m, std::size_t n_cols);

// The implicit-ALS objective above for model m. Computed exactly without
// densifying: sum_u x_u^T (Y^T Y) x_u plus a correction per stored entry, so it
// costs O(nnz * d + (users + items) * d^2).
double implicit_loss(const weighted_rows& user_items, const als_model& m, const als_options& opt);

} // namespace recd::engine
