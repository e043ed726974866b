#pragma once
// Sparse bipartite incidence structure (e.g. items x users) in CSR form with
// dense indices on both sides. Pure C++, no I/O.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace recd::engine {

// Incidence matrix in CSR form. Row r holds the dense column indices
// cols[offsets[r] .. offsets[r+1]); external ids are row_ids[r] and
// col_ids[cols[i]]. Because both id vectors are strictly ascending, dense
// index order equals external id order on each side.
struct bipartite {
  std::vector<std::int32_t> row_ids;  // external id of each row, strictly ascending
  std::vector<std::int32_t> col_ids;  // external id of each column, strictly ascending
  std::vector<std::uint64_t> offsets; // size rows+1 (a default-constructed value has none)
  std::vector<std::uint32_t> cols;    // dense column indices; ascending and distinct within a row

  std::size_t rows() const { return row_ids.size(); }
  std::size_t columns() const { return col_ids.size(); }
  std::size_t nnz() const { return cols.size(); }
  std::span<const std::uint32_t> row(std::size_t r) const {
    return {cols.data() + offsets[r], cols.data() + offsets[r + 1]};
  }
  std::size_t degree(std::size_t r) const {
    return static_cast<std::size_t>(offsets[r + 1] - offsets[r]);
  }

  bool operator==(const bipartite&) const = default;
};

// Builds from (row external id, column external id) pairs in any order;
// duplicates are removed. Only ids that occur in some pair get a row/column,
// so every row and column of the result is non-empty. O(n log n).
bipartite bipartite_from_pairs(std::vector<std::pair<std::int32_t, std::int32_t>> pairs);

// Columns become rows; row_ids/col_ids swap. Counting sort, O(rows+columns+nnz);
// rows of the result come out ascending because g is scanned in row order.
// transpose(transpose(g)) == g for every valid g (including empty rows).
bipartite transpose(const bipartite& g);

// Dense index of an external row id (binary search), or -1 if absent.
std::int64_t find_row(const bipartite& g, std::int32_t id);

} // namespace recd::engine
