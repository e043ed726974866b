#pragma once
// Exact pairwise set similarity between the rows of a bipartite incidence
// matrix, computed by co-occurrence counting (used by the offline jobs):
//   item similarity: rows = items, columns = users, Jaccard
//                    J(a,b) = |Ua ∩ Ub| / |Ua ∪ Ub|
//   user similarity: rows = users, columns = items, cosine on sets
//                    C(a,b) = |Ia ∩ Ib| / sqrt(|Ia| * |Ib|)
// Every row gets its own full neighbour list, so both directions of a pair
// appear naturally.

#include "engine/bipartite.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace recd::engine {

enum class set_measure : std::uint8_t { jaccard, cosine };

// A pair (a,b) is kept iff common >= min_common and, when min_score > 0,
// score > min_score (strictly). Only rows sharing at least one column are ever
// candidates, so min_common <= 1 means "any overlap". top_k > 0 keeps the
// top_k best neighbours of each row; 0 keeps all.
// Typical settings: item Jaccard {jaccard, 5, 0.0}, user cosine {cosine, 3, 0.1}.
struct similarity_options {
  set_measure measure = set_measure::jaccard;
  std::int32_t min_common = 5;
  double min_score = 0.0; // pairs need score > min_score, except min_score <= 0 keeps all
  std::int32_t top_k = 0;
  // > 0: an approximation for large data. A column held by more rows keeps
  // only a deterministic sample of max_column_rows of them (sample_columns),
  // and the measure is computed over the sampled sets (degrees included).
  // The cost of counting falls from the sum over columns of degree^2 to
  // at most max_column_rows^2 per column. 0 = exact (every seed table).
  std::int32_t max_column_rows = 0;
};

// The sample behind similarity_options::max_column_rows, on gt (rows =
// g's columns): a row of gt with more than max_rows entries keeps the
// max_rows whose key mix(column id, row id) is smallest, in their original
// order; other rows are copied. The sample of one column depends only on its
// own external id and its rows' external ids, so every shard (each holding
// the whole graph) draws the same one, and a column's sample is the same in
// any graph where it has the same rows. max_rows == 0 copies gt.
bipartite sample_columns(const bipartite& gt, std::uint32_t max_rows);

struct neighbour {
  std::int32_t id;     // external row id of the neighbour
  double score;        // similarity in (0, 1]
  std::int32_t common; // size of the intersection
};

// Computes neighbour lists of rows of g by counting co-occurrences. Holds
// per-thread scratch (a counter per row, a mark per column): use one instance
// per thread. g and gt = transpose(g) are shared read-only and must outlive
// the kernel. The output is exactly the brute-force definition above; what
// follows only decides which pairs are looked at.
//
// Prefix filtering: with m = max(min_common, 1) and s = min(m - 1, 7),
// columns are put in one global order, rarest first (degree, then index),
// and each row's s LAST columns in that order (its most popular ones) form
// its suffix, the rest its prefix. If two rows share at least m > s columns,
// the first shared column in the order has at least s shared columns after
// it, so it lies in both prefixes. The kernel therefore counts row r's
// columns only against the rows holding that column in their PREFIX (an
// index built once), which skips most of the popular columns' long lists, and
// adds each candidate's suffix overlap with r from a mark per column: every
// count it scores is the exact intersection, and no row sharing m columns
// with r is missed. Rows with fewer than m columns pass with no one and are
// left out. Internally rows are renumbered by degree, largest first, so the
// rows met most often (long rows sit in many lists) share cache lines.
// Cost of one row r: sum over c in row(r) of |prefix index of c|, plus s
// mark reads per candidate.
class similarity_kernel {
public:
  // Throws std::invalid_argument if gt's shape is not the transpose of g's.
  // With opt.max_column_rows > 0 and a column past it, the kernel keeps its
  // own sampled copy of g and gt (sample_columns) and works on it.
  similarity_kernel(const bipartite& g, const bipartite& gt, similarity_options opt);

  // Neighbours of dense row r: all rows b != r passing the filters, sorted by
  // score desc then id asc, truncated to top_k if > 0. Clears and fills out
  // (reusing its capacity). Throws std::out_of_range if r >= g.rows().
  void neighbours(std::size_t r, std::vector<neighbour>& out);

private:
  bool passes(std::uint32_t common, std::uint32_t deg_r, std::uint32_t deg_b) const;
  double score(std::uint32_t common, std::uint32_t deg_r, std::uint32_t deg_b) const;
  // Fills max_degree_[c] for c in [m, deg_r]: the largest partner degree a
  // pair with c common columns can have and still pass the score filter.
  void fill_max_degree(std::uint32_t deg_r);

  const bipartite* g_;                       // the caller's graph, or sampled_
  bipartite sampled_, sampled_t_;            // with max_column_rows: the sampled graph and transpose
  similarity_options opt_;
  std::uint32_t min_common_;                 // m
  std::uint32_t tail_;                       // s: suffix columns per row
  std::uint32_t largest_degree_ = 0;         // over all rows
  static constexpr std::uint32_t no_slot = 0xffffffffu;
  std::vector<std::uint32_t> slot_;          // dense row -> internal row (no_slot: < m columns)
  std::uint32_t slots_ = 0;                  // internal rows
  // Internal row -> its record {degree, external row id, s suffix columns}:
  // the id sits beside what a candidate's test reads, so a passing candidate
  // costs no second random read (at 30M events that read was a quarter of
  // the job's samples).
  std::vector<std::uint32_t> slot_info_;
  std::vector<std::uint64_t> index_offsets_; // per column: internal rows holding it in their prefix
  std::vector<std::uint32_t> index_rows_;
  std::vector<std::uint32_t> counter_;       // prefix co-occurrences per internal row; zero between calls
  std::vector<std::uint32_t> touched_;       // internal rows with counter_ > 0, in first-touch order
  std::vector<std::uint8_t> mark_;           // 1 for the columns of the current row, else 0
  std::vector<std::uint32_t> max_degree_;    // see fill_max_degree
  std::vector<std::uint32_t> first_slot_at_most_; // [d]: first internal row of degree <= d
};

} // namespace recd::engine
