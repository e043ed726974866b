#include "engine/bipartite.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace recd::engine {

bipartite bipartite_from_pairs(std::vector<std::pair<std::int32_t, std::int32_t>> pairs) {
  // Sorting by (row, column) groups each row and orders its columns; external
  // column order equals dense column order, so rows stay ascending after mapping.
  // Input that is sorted already (the similarity workers merge sorted runs)
  // costs one pass instead of a sort.
  if (!std::is_sorted(pairs.begin(), pairs.end()))
    std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());

  bipartite g;
  if (pairs.empty()) {
    g.offsets.push_back(0);
    return g;
  }
  // Dense column indices. When the column ids span a range not much wider
  // than the pairs (catalogue and user ids are), a table over the range
  // replaces a sort of every pair's column and a binary search per pair.
  std::int32_t lo = pairs.front().second, hi = lo;
  for (const auto& p : pairs) {
    lo = std::min(lo, p.second);
    hi = std::max(hi, p.second);
  }
  const std::uint64_t span = std::uint64_t(std::int64_t{hi} - lo) + 1;
  g.cols.reserve(pairs.size());
  if (span <= std::max<std::uint64_t>(4 * pairs.size(), 1u << 16)) {
    constexpr std::uint32_t absent = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> dense(span, absent);
    for (const auto& p : pairs)
      dense[static_cast<std::size_t>(std::int64_t{p.second} - lo)] = 0;
    for (std::size_t k = 0; k < span; ++k)
      if (dense[k] != absent) {
        dense[k] = static_cast<std::uint32_t>(g.col_ids.size());
        g.col_ids.push_back(static_cast<std::int32_t>(lo + static_cast<std::int64_t>(k)));
      }
    if (g.col_ids.size() > std::numeric_limits<std::uint32_t>::max())
      throw std::length_error("bipartite_from_pairs: too many columns for uint32 indices");
    for (const auto& p : pairs)
      g.cols.push_back(dense[static_cast<std::size_t>(std::int64_t{p.second} - lo)]);
  } else {
    for (const auto& p : pairs)
      g.col_ids.push_back(p.second);
    std::sort(g.col_ids.begin(), g.col_ids.end());
    g.col_ids.erase(std::unique(g.col_ids.begin(), g.col_ids.end()), g.col_ids.end());
    if (g.col_ids.size() > std::numeric_limits<std::uint32_t>::max())
      throw std::length_error("bipartite_from_pairs: too many columns for uint32 indices");
    for (const auto& p : pairs) {
      const auto it = std::lower_bound(g.col_ids.begin(), g.col_ids.end(), p.second);
      g.cols.push_back(static_cast<std::uint32_t>(it - g.col_ids.begin()));
    }
  }
  g.col_ids.shrink_to_fit();

  g.offsets.push_back(0);
  for (std::size_t i = 1; i < pairs.size(); ++i)
    if (pairs[i].first != pairs[i - 1].first) {
      g.row_ids.push_back(pairs[i - 1].first);
      g.offsets.push_back(i);
    }
  g.row_ids.push_back(pairs.back().first);
  g.offsets.push_back(pairs.size());
  return g;
}

bipartite transpose(const bipartite& g) {
  if (g.rows() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("transpose: too many rows for uint32 indices");

  bipartite t;
  t.row_ids = g.col_ids;
  t.col_ids = g.row_ids;
  // offsets[c+1] counts column c, then an exclusive prefix sum gives starts.
  t.offsets.assign(g.columns() + 1, 0);
  for (const auto c : g.cols)
    ++t.offsets[c + 1];
  for (std::size_t c = 0; c < g.columns(); ++c)
    t.offsets[c + 1] += t.offsets[c];

  t.cols.resize(g.nnz());
  std::vector<std::uint64_t> next(t.offsets.begin(), t.offsets.end() - 1);
  for (std::size_t r = 0; r < g.rows(); ++r)
    for (const auto c : g.row(r))
      t.cols[next[c]++] = static_cast<std::uint32_t>(r);
  return t;
}

std::int64_t find_row(const bipartite& g, std::int32_t id) {
  const auto it = std::lower_bound(g.row_ids.begin(), g.row_ids.end(), id);
  if (it == g.row_ids.end() || *it != id)
    return -1;
  return it - g.row_ids.begin();
}

} // namespace recd::engine
