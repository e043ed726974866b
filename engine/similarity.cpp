#include "engine/similarity.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace recd::engine {

namespace {

// Score desc, then neighbour id asc: a strict total order because ids within
// one list are distinct, so the output (and top_k truncation) is deterministic.
// A function object, so that nth_element and sort inline it.
struct better {
  bool operator()(const neighbour& x, const neighbour& y) const {
    if (x.score != y.score)
      return x.score > y.score;
    return x.id < y.id;
  }
};

// SplitMix64's finaliser: the keys of sample_columns.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Suffix length cap: a shorter suffix only weakens the filter (more
// candidates), never its exactness, and bounds the per-row record.
constexpr std::uint32_t max_tail = 7;

} // namespace

double similarity_kernel::score(std::uint32_t common, std::uint32_t deg_r,
                                std::uint32_t deg_b) const {
  if (opt_.measure == set_measure::cosine)
    return double(common) / std::sqrt(double(deg_r) * double(deg_b));
  return double(common) / double(std::uint64_t{deg_r} + deg_b - common);
}

bool similarity_kernel::passes(std::uint32_t common, std::uint32_t deg_r,
                               std::uint32_t deg_b) const {
  return score(common, deg_r, deg_b) > opt_.min_score;
}

// Both scores fall as deg_b grows with common and deg_r fixed (sqrt and
// division are monotone in IEEE arithmetic), so "deg_b <= max_degree_[common]"
// is exactly "passes(common, deg_r, deg_b)". Each entry starts from the
// closed-form boundary and is corrected with the very expression the output
// uses, so rounding cannot move a pair across the floor.
void similarity_kernel::fill_max_degree(std::uint32_t deg_r) {
  const double t = opt_.min_score;
  const bool cosine = opt_.measure == set_measure::cosine;
  for (std::uint32_t c = min_common_; c <= deg_r; ++c) {
    const double estimate =
        cosine ? double(c) * double(c) / (t * t * double(deg_r)) : double(c) / t + c - deg_r;
    std::uint32_t d = estimate <= 0 ? 0
                      : estimate >= double(largest_degree_)
                          ? largest_degree_
                          : static_cast<std::uint32_t>(estimate);
    while (d > 0 && !passes(c, deg_r, d))
      --d;
    while (d < largest_degree_ && passes(c, deg_r, d + 1))
      ++d;
    max_degree_[c] = d;
  }
}

bipartite sample_columns(const bipartite& gt, std::uint32_t max_rows) {
  if (max_rows == 0)
    return gt;
  bipartite out;
  out.row_ids = gt.row_ids;
  out.col_ids = gt.col_ids;
  out.offsets.assign(gt.rows() + 1, 0);
  out.cols.reserve(gt.nnz());
  std::vector<std::uint64_t> keys;
  for (std::size_t c = 0; c < gt.rows(); ++c) {
    const auto rows = gt.row(c);
    if (rows.size() <= max_rows) {
      out.cols.insert(out.cols.end(), rows.begin(), rows.end());
    } else {
      // Keys are distinct in practice; a tie at the cut keeps the lower index.
      const std::uint64_t column_key = mix64(0x243F6A8885A308D3ULL ^ static_cast<std::uint32_t>(gt.row_ids[c]));
      auto key = [&](std::uint32_t r) {
        return mix64(column_key ^ static_cast<std::uint32_t>(gt.col_ids[r]));
      };
      keys.clear();
      for (const std::uint32_t r : rows)
        keys.push_back(key(r));
      std::nth_element(keys.begin(), keys.begin() + (max_rows - 1), keys.end());
      const std::uint64_t cut = keys[max_rows - 1];
      std::uint32_t at_cut = 0; // keys equal to cut still to keep
      for (std::uint32_t k = 0; k < max_rows; ++k)
        at_cut += keys[k] == cut;
      for (const std::uint32_t r : rows) {
        const std::uint64_t k = key(r);
        if (k < cut || (k == cut && at_cut > 0 && at_cut--))
          out.cols.push_back(r);
      }
    }
    out.offsets[c + 1] = out.cols.size();
  }
  return out;
}

similarity_kernel::similarity_kernel(const bipartite& g_in, const bipartite& gt_in,
                                     similarity_options opt)
    : g_(&g_in), opt_(opt) {
  if (gt_in.rows() != g_in.columns() || gt_in.columns() != g_in.rows() ||
      gt_in.nnz() != g_in.nnz() || g_in.offsets.size() != g_in.rows() + 1 ||
      gt_in.offsets.size() != gt_in.rows() + 1)
    throw std::invalid_argument("similarity_kernel: gt is not the transpose of g");
  if (opt.max_column_rows < 0)
    throw std::invalid_argument("similarity_kernel: max_column_rows must be >= 0");
  const auto cap = static_cast<std::uint32_t>(opt.max_column_rows);
  bool capped = false;
  for (std::size_t c = 0; cap > 0 && c < gt_in.rows() && !capped; ++c)
    capped = gt_in.degree(c) > cap;
  if (capped) {
    sampled_t_ = sample_columns(gt_in, cap);
    sampled_ = transpose(sampled_t_);
    g_ = &sampled_;
  }
  const bipartite& g = capped ? sampled_ : g_in;
  const bipartite& gt = capped ? sampled_t_ : gt_in;
  if (g.rows() >= no_slot || g.columns() >= no_slot)
    throw std::invalid_argument("similarity_kernel: more than 2^32 - 2 rows or columns");
  min_common_ = static_cast<std::uint32_t>(std::max(opt.min_common, 1));
  tail_ = std::min(min_common_ - 1, max_tail);
  const std::size_t rows = g.rows();
  const std::size_t columns = g.columns();
  const std::size_t stride = 2 + tail_;

  // The global column order: rarest first, ties by index. rank[c] = position.
  std::vector<std::uint32_t> order(columns);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const auto da = gt.degree(a), db = gt.degree(b);
    return da != db ? da < db : a < b;
  });
  std::vector<std::uint32_t> rank(columns);
  for (std::size_t i = 0; i < columns; ++i)
    rank[order[i]] = static_cast<std::uint32_t>(i);

  // Internal rows: the rows with at least m columns, by degree desc, then index.
  std::vector<std::uint32_t> by_degree;
  for (std::size_t r = 0; r < rows; ++r) {
    largest_degree_ = std::max(largest_degree_, static_cast<std::uint32_t>(g.degree(r)));
    if (g.degree(r) >= min_common_)
      by_degree.push_back(static_cast<std::uint32_t>(r));
  }
  std::stable_sort(by_degree.begin(), by_degree.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return g.degree(a) > g.degree(b); });
  slot_.assign(rows, no_slot);
  slots_ = static_cast<std::uint32_t>(by_degree.size());
  slot_info_.resize(by_degree.size() * stride);

  // Per internal row: degree, suffix (the tail columns of highest rank) and
  // the highest rank still in its prefix, found by a partial selection.
  std::vector<std::uint32_t> prefix_last(by_degree.size());
  std::vector<std::uint32_t> ranks;
  for (std::uint32_t i = 0; i < by_degree.size(); ++i) {
    const std::uint32_t r = by_degree[i];
    slot_[r] = i;
    const auto row = g.row(r);
    ranks.clear();
    for (const std::uint32_t c : row)
      ranks.push_back(rank[c]);
    // ranks[0 .. size - tail) is the prefix; its largest element sits at size - tail - 1.
    const auto cut = ranks.begin() + static_cast<std::ptrdiff_t>(ranks.size() - tail_ - 1);
    std::nth_element(ranks.begin(), cut, ranks.end());
    prefix_last[i] = *cut;
    std::uint32_t* info = slot_info_.data() + std::size_t{i} * stride;
    info[0] = static_cast<std::uint32_t>(row.size());
    info[1] = static_cast<std::uint32_t>(g.row_ids[r]);
    for (std::size_t k = 0; k < tail_; ++k)
      info[2 + k] = order[ranks[row.size() - tail_ + k]];
  }

  // The prefix index by counting sort over the internal rows (one pass to
  // size the lists, one to fill them), so each list is ascending in internal
  // rows.
  index_offsets_.assign(columns + 1, 0);
  for (std::uint32_t i = 0; i < by_degree.size(); ++i)
    for (const std::uint32_t c : g.row(by_degree[i]))
      index_offsets_[c + 1] += rank[c] <= prefix_last[i];
  for (std::size_t c = 0; c < columns; ++c)
    index_offsets_[c + 1] += index_offsets_[c];
  std::vector<std::uint64_t> fill(index_offsets_.begin(), index_offsets_.end() - 1);
  index_rows_.resize(index_offsets_.back());
  for (std::uint32_t i = 0; i < by_degree.size(); ++i)
    for (const std::uint32_t c : g.row(by_degree[i]))
      if (rank[c] <= prefix_last[i])
        index_rows_[fill[c]++] = i;

  counter_.assign(by_degree.size(), 0);
  // One spare slot: the counting loop stores unconditionally at touched_[n].
  touched_.assign(by_degree.size() + 1, 0);
  mark_.assign(columns, 0);
  max_degree_.assign(std::size_t{largest_degree_} + 1, largest_degree_);
  // first_slot_at_most_[d] = number of internal rows of degree > d.
  first_slot_at_most_.assign(std::size_t{largest_degree_} + 1, 0);
  for (std::uint32_t i = 0; i < by_degree.size(); ++i)
    first_slot_at_most_[g.degree(by_degree[i]) - 1] = i + 1;
  for (std::size_t d = largest_degree_; d-- > 0;)
    first_slot_at_most_[d] = std::max(first_slot_at_most_[d], first_slot_at_most_[d + 1]);
}

void similarity_kernel::neighbours(std::size_t r, std::vector<neighbour>& out) {
  out.clear();
  const bipartite& g = *g_;
  if (r >= g.rows())
    throw std::out_of_range("similarity_kernel::neighbours: row out of range");

  // A pair's intersection never exceeds either degree, so a row that is too
  // small cannot pass min_common with anyone (and has no internal row).
  const std::uint32_t self = slot_[r];
  if (self == no_slot)
    return;
  const auto deg_r = static_cast<std::uint32_t>(g.degree(r));
  const std::uint32_t min_common = min_common_;

  // The score floor bounds the partners' degrees whatever they share with r
  // (common <= min(deg_r, deg_b)), and internal rows are ordered by degree,
  // so each index list is cut to the slots [slot_lo, slot_hi):
  //  - above: deg_b > max_degree_[deg_r] fails even with common = deg_r;
  //  - below: common <= deg_b < deg_r gives a score of at most
  //    sqrt(deg_b / deg_r) (cosine) or deg_b / deg_r (Jaccard), which stays
  //    under the floor for deg_b <= floor(f * deg_r * (1 - 1e-9)) - 1 with
  //    f = t^2 or t; the margin is far wider than the rounding of a score.
  const bool score_filter = opt_.min_score > 0.0;
  const std::uint32_t slots = slots_;
  std::uint32_t slot_lo = 0, slot_hi = slots;
  if (score_filter) {
    fill_max_degree(deg_r);
    slot_lo = first_slot_at_most_[max_degree_[deg_r]];
    const double t = opt_.min_score;
    const double f = opt_.measure == set_measure::cosine ? t * t : t;
    const double below = std::floor(f * double(deg_r) * (1 - 1e-9)) - 1;
    if (below >= 1)
      slot_hi = first_slot_at_most_[static_cast<std::uint32_t>(below)];
  }
  const std::uint32_t* const max_degree = max_degree_.data();
  const std::uint32_t* const first_slot_at_most = first_slot_at_most_.data();
  auto list = [&, this](std::uint32_t c) {
    const std::uint32_t* begin = index_rows_.data() + index_offsets_[c];
    const std::uint32_t* end = index_rows_.data() + index_offsets_[c + 1];
    if (slot_lo > 0)
      begin = std::lower_bound(begin, end, slot_lo);
    if (slot_hi < slots)
      end = std::lower_bound(begin, end, slot_hi);
    return std::pair{begin, end};
  };

  // Count r's columns against the prefix index: counter[b] = |row(r) ∩
  // prefix(b)| for every b sharing a column with r in BOTH prefixes (the only
  // rows that can reach m common columns). r's prefix columns touch rows: the
  // touched list is appended branch-free (always store, advance only on a
  // first touch). r's suffix columns then only add to rows already touched,
  // also branch-free, so the candidates are not widened by r's most popular
  // columns.
  std::uint32_t* const counter = counter_.data();
  std::uint32_t* const touched = touched_.data();
  std::uint8_t* const mark = mark_.data();
  const std::uint32_t tail = tail_;
  const std::size_t stride = 2 + tail;
  const std::uint32_t* const info = slot_info_.data();
  const std::uint32_t* const own_suffix = info + std::size_t{self} * stride + 2;
  for (std::uint32_t k = 0; k < tail; ++k)
    mark[own_suffix[k]] = 2;
  std::size_t n = 0;
  for (const std::uint32_t c : g.row(r)) {
    if (mark[c] == 2)
      continue;
    mark[c] = 1;
    const auto [begin, end] = list(c);
    for (const std::uint32_t* p = begin; p != end; ++p) {
      const std::uint32_t b = *p;
      touched[n] = b;
      n += (counter[b]++ == 0);
    }
  }
  for (std::uint32_t k = 0; k < tail; ++k) {
    const std::uint32_t c = own_suffix[k];
    mark[c] = 1;
    const auto [begin, end] = list(c);
    for (const std::uint32_t* p = begin; p != end; ++p)
      counter[*p] += (counter[*p] != 0);
  }

  // Add each candidate's suffix overlap with r (common is then exact), filter
  // (min_common, then the score floor as a degree bound) and score; reset
  // counters as we go so the scratch is clean again.
  constexpr std::size_t ahead = 8; // candidates' records are read out of order: prefetch
  for (std::size_t i = 0; i < n; ++i) {
    if (i + ahead < n) {
      __builtin_prefetch(info + std::size_t{touched[i + ahead]} * stride);
      __builtin_prefetch(counter + touched[i + ahead]);
    }
    const std::uint32_t b = touched[i];
    std::uint32_t common = counter[b];
    counter[b] = 0;
    // common <= bound; the degree test on the bound needs only b's slot.
    const std::uint32_t bound = std::min(common + tail, deg_r);
    if (b == self || bound < min_common ||
        (score_filter && b < first_slot_at_most[max_degree[bound]]))
      continue;
    const std::uint32_t* const record = info + std::size_t{b} * stride;
    for (std::uint32_t k = 0; k < tail; ++k)
      common += mark[record[2 + k]];
    if (common < min_common)
      continue;
    const std::uint32_t deg_b = record[0];
    if (score_filter && deg_b > max_degree[common])
      continue;
    out.push_back({static_cast<std::int32_t>(record[1]), score(common, deg_r, deg_b),
                   static_cast<std::int32_t>(common)});
  }
  for (const std::uint32_t c : g.row(r))
    mark[c] = 0;

  const auto k = static_cast<std::size_t>(std::max(opt_.top_k, 0));
  if (k > 0 && out.size() > k) {
    std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k - 1), out.end(),
                     better{});
    out.resize(k);
  }
  std::sort(out.begin(), out.end(), better{});
}

} // namespace recd::engine
