#include "engine/bipartite.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace recd::engine {

bipartite bipartite_from_pairs(std::vector<std::pair<std::int32_t, std::int32_t>> pairs) {
  // Sorting by (row, column) groups each row and orders its columns; external
  // column order equals dense column order, so rows stay ascending after mapping.
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());

  bipartite g;
  g.col_ids.reserve(pairs.size());
  for (const auto& p : pairs)
    g.col_ids.push_back(p.second);
  std::sort(g.col_ids.begin(), g.col_ids.end());
  g.col_ids.erase(std::unique(g.col_ids.begin(), g.col_ids.end()), g.col_ids.end());
  g.col_ids.shrink_to_fit();
  if (g.col_ids.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("bipartite_from_pairs: too many columns for uint32 indices");

  g.cols.reserve(pairs.size());
  g.offsets.push_back(0);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0 && pairs[i].first != pairs[i - 1].first) {
      g.row_ids.push_back(pairs[i - 1].first);
      g.offsets.push_back(g.cols.size());
    }
    const auto it = std::lower_bound(g.col_ids.begin(), g.col_ids.end(), pairs[i].second);
    g.cols.push_back(static_cast<std::uint32_t>(it - g.col_ids.begin()));
  }
  if (!pairs.empty()) {
    g.row_ids.push_back(pairs.back().first);
    g.offsets.push_back(g.cols.size());
  }
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
