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
};

struct neighbour {
  std::int32_t id;     // external row id of the neighbour
  double score;        // similarity in (0, 1]
  std::int32_t common; // size of the intersection
};

// Computes neighbour lists of rows of g by counting co-occurrences through
// gt = transpose(g). Holds per-thread scratch (a counter array of size
// g.rows()): use one instance per thread. g and gt are shared read-only and
// must outlive the kernel. Cost of one row r: sum over c in row(r) of |gt.row(c)|.
class similarity_kernel {
public:
  // Throws std::invalid_argument if gt's shape is not the transpose of g's.
  similarity_kernel(const bipartite& g, const bipartite& gt, similarity_options opt);

  // Neighbours of dense row r: all rows b != r passing the filters, sorted by
  // score desc then id asc, truncated to top_k if > 0. Clears and fills out
  // (reusing its capacity). Throws std::out_of_range if r >= g.rows().
  void neighbours(std::size_t r, std::vector<neighbour>& out);

private:
  const bipartite* g_;
  const bipartite* gt_;
  similarity_options opt_;
  std::vector<std::uint32_t> counter_; // co-occurrence count per row; all zero between calls
  std::vector<std::uint32_t> touched_; // rows with counter_ > 0, in first-touch order
};

} // namespace recd::engine
