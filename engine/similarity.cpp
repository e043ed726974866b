#include "engine/similarity.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace recd::engine {

namespace {

// Score desc, then neighbour id asc: a strict total order because ids within
// one list are distinct, so the output (and top_k truncation) is deterministic.
bool better(const neighbour& x, const neighbour& y) {
  if (x.score != y.score)
    return x.score > y.score;
  return x.id < y.id;
}

} // namespace

similarity_kernel::similarity_kernel(const bipartite& g, const bipartite& gt,
                                     similarity_options opt)
    : g_(&g), gt_(&gt), opt_(opt) {
  if (gt.rows() != g.columns() || gt.columns() != g.rows() || gt.nnz() != g.nnz() ||
      g.offsets.size() != g.rows() + 1 || gt.offsets.size() != gt.rows() + 1)
    throw std::invalid_argument("similarity_kernel: gt is not the transpose of g");
  counter_.assign(g.rows(), 0);
  // One spare slot: the counting loop stores unconditionally at touched_[n].
  touched_.assign(g.rows() + 1, 0);
}

void similarity_kernel::neighbours(std::size_t r, std::vector<neighbour>& out) {
  out.clear();
  const bipartite& g = *g_;
  const bipartite& gt = *gt_;
  if (r >= g.rows())
    throw std::out_of_range("similarity_kernel::neighbours: row out of range");

  // A pair's intersection never exceeds either degree, so a row that is too
  // small cannot pass min_common with anyone.
  const std::size_t deg_r = g.degree(r);
  const std::size_t min_common = static_cast<std::size_t>(std::max(opt_.min_common, 1));
  if (deg_r < min_common)
    return;

  // Count co-occurrences. The touched list is appended branch-free: always
  // store, advance only on the first touch of a row.
  std::uint32_t* const counter = counter_.data();
  std::uint32_t* const touched = touched_.data();
  std::size_t n = 0;
  for (const std::uint32_t c : g.row(r)) {
    for (const std::uint32_t b : gt.row(c)) {
      touched[n] = b;
      n += (counter[b]++ == 0);
    }
  }

  // Score and filter; reset counters as we go so the scratch is clean again.
  const bool cosine = opt_.measure == set_measure::cosine;
  const bool score_filter = opt_.min_score > 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t b = touched[i];
    const std::uint32_t common = counter[b];
    counter[b] = 0;
    if (b == r || common < min_common)
      continue;
    const std::size_t deg_b = g.degree(b);
    const double score = cosine ? double(common) / std::sqrt(double(deg_r) * double(deg_b))
                                : double(common) / double(deg_r + deg_b - common);
    if (score_filter && !(score > opt_.min_score))
      continue;
    out.push_back({g.row_ids[b], score, static_cast<std::int32_t>(common)});
  }

  const auto k = static_cast<std::size_t>(std::max(opt_.top_k, 0));
  if (k > 0 && out.size() > k) {
    std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k - 1), out.end(),
                     better);
    out.resize(k);
  }
  std::sort(out.begin(), out.end(), better);
}

} // namespace recd::engine
