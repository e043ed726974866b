#include "actors/vector_index.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#if defined(__SSE__)
#include <immintrin.h>
#endif

#include <hnswlib/hnswlib.h>

namespace recd {

// ---- vector_index --------------------------------------------------------------

// Up to vector_index::exact_scan_max held vectors are searched exactly: at a
// shard's usual catalogue (10,000 items of dimension 32) a scan costs a
// fraction of the graph search, whose k (the route's candidates plus the
// user's excluded items, 200 to over 1,000) is far above its ef of 64 (perf,
// docs/benchmarks.md), and its answer is the exact one the graph search
// approximates. The scan is memory-bound (a shard's vectors leave the cache
// between requests), so its first pass reads a copy in 16-bit fixed point
// (2 bytes per dimension and item), and only the items that may be among the
// k best by that bound are scored again in float from hnswlib's copy.

namespace {

// The inner product of two vectors of `dim` floats: SSE (x86-64's baseline),
// two accumulators of four lanes; a plain loop elsewhere.
float dot(const float* a, const float* b, std::size_t dim) {
  std::size_t d = 0;
  float s = 0;
#if defined(__SSE__)
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  for (; d + 8 <= dim; d += 8) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + d), _mm_loadu_ps(b + d)));
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + d + 4), _mm_loadu_ps(b + d + 4)));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, _mm_add_ps(s0, s1));
  s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; d < dim; ++d)
    s += a[d] * b[d];
  return s;
}

// Fixed point for components of unit vectors: x * code_scale, rounded.
// |x| <= 1 and unit lengths keep every sum of products of two coded vectors
// within code_scale^2 * (1 + 1e-3) < 2^31.
constexpr float code_scale = 32767.0f;

std::int16_t code(float x) {
  return static_cast<std::int16_t>(std::lround(std::clamp(x, -1.0f, 1.0f) * code_scale));
}

// The inner product of two coded vectors, times code_scale^2.
std::int32_t dot(const std::int16_t* a, const std::int16_t* b, std::size_t dim) {
  std::size_t d = 0;
  std::int32_t s = 0;
#if defined(__SSE2__)
  __m128i acc = _mm_setzero_si128();
  for (; d + 8 <= dim; d += 8)
    acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + d)),
                                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + d))));
  alignas(16) std::int32_t lanes[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), acc);
  s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; d < dim; ++d)
    s += std::int32_t{a[d]} * b[d];
  return s;
}

// The coded inner products of `query` with rows [0, n) of `rows` (each of
// `dim`), times code_scale^2, into out[0, n). Integer sums are exact in any
// order, so every variant gives the same values.
void coded_dots_portable(const std::int16_t* query, const std::int16_t* rows, std::size_t n,
                         std::size_t dim, std::int32_t* out) {
  for (std::size_t i = 0; i < n; ++i)
    out[i] = dot(query, rows + i * dim, dim);
}

#if defined(__x86_64__) && defined(__GNUC__)
// AVX2, where the CPU has it (checked at run time: the binary stays
// x86-64-baseline): 16 components per multiply-add, and four items' sums
// reduced together by horizontal adds instead of one store and three adds each.
__attribute__((target("avx2"))) __m256i coded_row_avx2(const std::int16_t* query,
                                                       const std::int16_t* row, std::size_t full) {
  __m256i acc = _mm256_setzero_si256();
  for (std::size_t d = 0; d < full; d += 16)
    acc = _mm256_add_epi32(
      acc, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(query + d)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + d))));
  return acc;
}

__attribute__((target("avx2"))) void coded_dots_avx2(const std::int16_t* query,
                                                     const std::int16_t* rows, std::size_t n,
                                                     std::size_t dim, std::int32_t* out) {
  const std::size_t full = dim / 16 * 16;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const auto* r = rows + i * dim;
    const __m256i h01 = _mm256_hadd_epi32(coded_row_avx2(query, r, full),
                                          coded_row_avx2(query, r + dim, full));
    const __m256i h23 = _mm256_hadd_epi32(coded_row_avx2(query, r + 2 * dim, full),
                                          coded_row_avx2(query, r + 3 * dim, full));
    // Lane j of each half: item j's sum over that half of its lanes.
    const __m256i h = _mm256_hadd_epi32(h01, h23);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  }
  for (; i < n; ++i) {
    alignas(32) std::int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), coded_row_avx2(query, rows + i * dim, full));
    out[i] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  }
  if (full < dim)
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t d = full; d < dim; ++d)
        out[k] += std::int32_t{query[d]} * rows[k * dim + d];
}
#endif

// The first pass's histogram: bin b holds the coded products c (times
// code_scale^2, within +-2^30 (1 + 1e-3)) in [b 2^20 - 2^30, (b + 1) 2^20 -
// 2^30), the ends clamped: an integer shift per item instead of float
// arithmetic. (c + 2^30) >> 20 is (c >> 20) + 1024, an arithmetic shift
// flooring negative products too, so the bin fits 32 bits for every c.
constexpr std::size_t bins = 2048;
constexpr int bin_shift = 20;
constexpr std::int32_t bin_offset = std::int32_t{1} << (30 - bin_shift);

std::size_t bin_of(std::int32_t c) {
  return static_cast<std::size_t>(
    std::clamp<std::int32_t>((c >> bin_shift) + bin_offset, 0, std::int32_t{bins} - 1));
}

// A bin's lowest coded product: the inverse of bin_of for in-range products.
std::int64_t bin_floor(std::size_t b) {
  return (std::int64_t(b) - bin_offset) * (std::int64_t{1} << bin_shift);
}

// A coded product as a cosine: float(c) * unscale is within 2^-22 (relative)
// of c / code_scale^2.
constexpr float unscale = 1.0f / (code_scale * code_scale);

// counts[bin_of(dots[i])] += 1 for i in [0, n).
void count_bins_portable(const std::int32_t* dots, std::size_t n, std::uint32_t* counts) {
  for (std::size_t i = 0; i < n; ++i)
    ++counts[bin_of(dots[i])];
}

// Appends to `rows` every i in [0, n), in order, whose dots[i] >= lowest and
// float(dots[i]) * unscale >= floor (the float test only where the integer
// one passed: `lowest` is below every product that passes it).
void select_rows_portable(const std::int32_t* dots, std::size_t n, std::int32_t lowest,
                          float floor, std::vector<std::uint32_t>& rows) {
  for (std::size_t i = 0; i < n; ++i)
    if (dots[i] >= lowest && static_cast<float>(dots[i]) * unscale >= floor)
      rows.push_back(static_cast<std::uint32_t>(i));
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same with AVX2: eight products' bins computed at once (the counts are
// still added one at a time), eight products compared at once and only the
// few above `lowest` visited one by one.
__attribute__((target("avx2"))) void count_bins_avx2(const std::int32_t* dots, std::size_t n,
                                                     std::uint32_t* counts) {
  const __m256i offset = _mm256_set1_epi32(bin_offset);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i last = _mm256_set1_epi32(static_cast<std::int32_t>(bins) - 1);
  alignas(32) std::int32_t b[8];
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dots + i));
    const __m256i bin = _mm256_min_epi32(
      _mm256_max_epi32(_mm256_add_epi32(_mm256_srai_epi32(c, bin_shift), offset), zero), last);
    _mm256_store_si256(reinterpret_cast<__m256i*>(b), bin);
    for (int j = 0; j < 8; ++j)
      ++counts[b[j]];
  }
  count_bins_portable(dots + i, n - i, counts);
}

__attribute__((target("avx2"))) void select_rows_avx2(const std::int32_t* dots, std::size_t n,
                                                      std::int32_t lowest, float floor,
                                                      std::vector<std::uint32_t>& rows) {
  const __m256i below = _mm256_set1_epi32(lowest - 1); // lowest > INT32_MIN (see nearest)
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dots + i));
    auto above = static_cast<unsigned>(
      _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(c, below))));
    while (above != 0) {
      const auto at = i + static_cast<std::size_t>(std::countr_zero(above));
      above &= above - 1;
      if (static_cast<float>(dots[at]) * unscale >= floor)
        rows.push_back(static_cast<std::uint32_t>(at));
    }
  }
  for (; i < n; ++i)
    if (dots[i] >= lowest && static_cast<float>(dots[i]) * unscale >= floor)
      rows.push_back(static_cast<std::uint32_t>(i));
}
#endif

// The first pass's kernels, the AVX2 ones where the CPU has them (checked at
// run time: the binary stays x86-64-baseline). Every variant gives the same
// results.
struct scan_kernels {
  void (*coded_dots)(const std::int16_t*, const std::int16_t*, std::size_t, std::size_t,
                     std::int32_t*) = coded_dots_portable;
  void (*count_bins)(const std::int32_t*, std::size_t, std::uint32_t*) = count_bins_portable;
  void (*select_rows)(const std::int32_t*, std::size_t, std::int32_t, float,
                      std::vector<std::uint32_t>&) = select_rows_portable;
};

scan_kernels pick_kernels() {
  scan_kernels k;
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2"))
    k = {coded_dots_avx2, count_bins_avx2, select_rows_avx2};
#endif
  return k;
}

const scan_kernels kernels = pick_kernels();

} // namespace

vector_index::vector_index(std::int32_t dim, std::size_t capacity)
  : dim_(dim),
    space_(std::make_unique<hnswlib::InnerProductSpace>(static_cast<std::size_t>(dim))),
    index_(std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(),
                                                             std::max<std::size_t>(capacity, 1),
                                                             16, 100)) {
  index_->setEf(64);
  if (capacity <= exact_scan_max)
    coded_.reserve(capacity * static_cast<std::size_t>(dim));
}

vector_index::~vector_index() = default;

void vector_index::add(item_id item, std::span<const float> unit_vector) {
  const auto label = static_cast<hnswlib::labeltype>(item);
  // hnswlib moves a label it holds (addPoint updates it in place).
  const bool fresh = index_->label_lookup_.count(label) == 0;
  // Items added after the build (new items) grow the index by a quarter at a
  // time: hnswlib refuses a point beyond its capacity.
  if (fresh && index_->cur_element_count >= index_->max_elements_)
    index_->resizeIndex(index_->max_elements_ + index_->max_elements_ / 4 + 16);
  index_->addPoint(unit_vector.data(), label);
  if (fresh)
    ++size_;
  const auto count = static_cast<std::size_t>(index_->cur_element_count);
  const auto at = static_cast<std::size_t>(index_->label_lookup_.at(label));
  if (labels_.size() < count)
    labels_.resize(count);
  labels_[at] = item;
  const auto dim = static_cast<std::size_t>(dim_);
  double norm = 0;
  for (float x : unit_vector)
    norm += double(x) * x;
  if (count > exact_scan_max || unit_vector.size() != dim || std::abs(norm - 1) > 1e-3)
    coded_ok_ = false;
  if (!coded_ok_) {
    std::vector<std::int16_t>{}.swap(coded_);
    return;
  }
  if (coded_.size() < count * dim)
    coded_.resize(count * dim);
  const auto row = static_cast<std::size_t>(index_->label_lookup_.at(label));
  for (std::size_t d = 0; d < dim; ++d)
    coded_[row * dim + d] = code(unit_vector[d]);
}

// Best first: by cosine, then by item id. Up to exact_scan_max held items the
// answer is exact (see above); beyond, HNSW's.
std::vector<neighbour_item> vector_index::nearest(const std::vector<float>& unit_vector,
                                                  std::size_t k,
                                                  const std::vector<item_id>& exclude,
                                                  bool best_first) const {
  std::vector<neighbour_item> out;
  if (size_ == 0 || k == 0 || unit_vector.size() != static_cast<std::size_t>(dim_))
    return out;
  auto excluded = [&](item_id item) {
    return std::binary_search(exclude.begin(), exclude.end(), item);
  };
  const auto n = static_cast<std::size_t>(index_->cur_element_count);
  if (n > exact_scan_max) {
    auto found = index_->searchKnn(unit_vector.data(), std::min(k + exclude.size(), size_));
    out.reserve(found.size());
    while (!found.empty()) {
      // Inner-product distance is 1 - dot; on unit vectors dot is the cosine.
      out.push_back({static_cast<item_id>(found.top().second), 1.0f - found.top().first});
      found.pop();
    }
    std::reverse(out.begin(), out.end());
    std::erase_if(out, [&](const neighbour_item& x) { return excluded(x.item); });
    if (out.size() > k)
      out.resize(k);
    return out;
  }
  const auto dim = static_cast<std::size_t>(dim_);
  auto exact = [&](std::size_t i) {
    return dot(unit_vector.data(),
               reinterpret_cast<const float*>(
                 index_->getDataByInternalId(static_cast<hnswlib::tableint>(i))),
               dim);
  };
  auto label = [&](std::size_t i) { return labels_[i]; };
  auto better = [](const neighbour_item& x, const neighbour_item& y) {
    return x.score != y.score ? x.score > y.score : x.item < y.item;
  };
  double norm = 0, l1 = 0;
  for (float x : unit_vector) {
    norm += double(x) * x;
    l1 += std::abs(x);
  }
  if (!coded_ok_ || std::abs(norm - 1) > 1e-3) {
    // Not coded: every item scored in float.
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      if (!excluded(label(i)))
        out.push_back({label(i), exact(i)});
    auto top = std::min(k, n);
    std::partial_sort(out.begin(), out.begin() + static_cast<long>(top), out.end(), better);
    out.resize(top);
    return out;
  }
  // First pass: every element's coded cosine c, within `slack` of its float
  // cosine (rounding: half a code step per component of either vector, times
  // the other's L1 norm (at most sqrt(dim) for a unit vector); plus the float
  // rounding of c), counted in a histogram of `bins` bins over [-1, 1] (bin_of).
  const double half_step = 0.5 / code_scale;
  const float slack =
    static_cast<float>(half_step * (l1 + std::sqrt(double(dim)) * 1.001) + 1e-6);
  thread_local std::vector<std::int16_t> query;
  thread_local std::vector<std::int32_t> coded_dot;
  thread_local std::vector<std::uint32_t> counts;
  query.resize(dim);
  for (std::size_t d = 0; d < dim; ++d)
    query[d] = code(unit_vector[d]);
  coded_dot.resize(n);
  counts.assign(bins, 0);
  kernels.coded_dots(query.data(), coded_.data(), n, dim, coded_dot.data());
  kernels.count_bins(coded_dot.data(), n, counts.data());
  // Excluded items leave the histogram (and get a coded product below every
  // floor), so the cut counts k items that may be answered.
  constexpr std::int32_t never = std::numeric_limits<std::int32_t>::min();
  for (auto item : exclude) {
    auto it = index_->label_lookup_.find(static_cast<hnswlib::labeltype>(item));
    if (it == index_->label_lookup_.end())
      continue;
    const auto row = static_cast<std::size_t>(it->second);
    if (row < n && coded_dot[row] != never) {
      --counts[bin_of(coded_dot[row])];
      coded_dot[row] = never;
    }
  }
  // The k-th best coarse cosine (coded product / code_scale^2) is at least
  // the floor of the highest bin that, with those above it, holds k
  // elements; so is some k elements' float cosine less slack, and every one
  // of the k best float cosines is at least that, i.e. its coarse one at
  // least floor - 2 slack: those are scored in float, their vectors fetched
  // a few rows ahead (they sit apart in hnswlib's memory, out of the cache).
  std::size_t cut = bins, taken = 0;
  while (cut > 0 && taken < k)
    taken += counts[--cut];
  const float floor =
    (cut == 0 ? -2.0f : static_cast<float>(bin_floor(cut)) * unscale) - 2 * slack;
  // The float test runs only on the products at or above `lowest`, an
  // integer bound below every product that passes it: float(c) * unscale is
  // at most 2^31 * 2^-22 = 512 units off c / code_scale^2, and the margin is
  // twice that. `lowest` stays above `never`.
  const auto lowest = static_cast<std::int32_t>(std::clamp<double>(
    std::floor(double(floor) * double(code_scale) * double(code_scale)) - 1024.0,
    double(never) + 1.0, double(std::numeric_limits<std::int32_t>::max())));
  thread_local std::vector<std::uint32_t> chosen;
  auto& rows = chosen; // one thread-local look-up, not one per use
  rows.clear();
  kernels.select_rows(coded_dot.data(), n, lowest, floor, rows);
  constexpr std::size_t ahead = 8;
  auto fetch = [&](std::size_t i) {
    const auto* v = index_->getDataByInternalId(static_cast<hnswlib::tableint>(i));
    for (std::size_t byte = 0; byte < dim * sizeof(float); byte += 64)
      __builtin_prefetch(v + byte);
  };
  for (std::size_t j = 0; j < std::min(ahead, rows.size()); ++j)
    fetch(rows[j]);
  out.reserve(rows.size());
  for (std::size_t j = 0; j < rows.size(); ++j) {
    if (j + ahead < rows.size())
      fetch(rows[j + ahead]);
    out.push_back({label(rows[j]), exact(rows[j])});
  }
  // The best k, then only those sorted (if asked).
  if (out.size() > k) {
    std::nth_element(out.begin(), out.begin() + static_cast<long>(k), out.end(), better);
    out.resize(k);
  }
  if (best_first)
    std::sort(out.begin(), out.end(), better);
  return out;
}

std::size_t vector_index::bytes() const {
  const auto& h = *index_;
  std::size_t links = 0;
  for (std::size_t i = 0; i < h.cur_element_count; ++i)
    if (h.element_levels_[i] > 0)
      links += h.size_links_per_element_ * static_cast<std::size_t>(h.element_levels_[i]) + 8;
  // Level 0 (vector, links, label) per element, the upper levels' link lists,
  // one lock, level and link pointer per element, and the label map (a node of
  // 32 bytes per element plus its buckets).
  return h.max_elements_ * (h.size_data_per_element_ + sizeof(std::mutex) + sizeof(int) +
                            sizeof(char*)) +
         links + h.label_lookup_.size() * 32 + h.label_lookup_.bucket_count() * sizeof(void*) +
         coded_.capacity() * sizeof(std::int16_t) + labels_.capacity() * sizeof(item_id);
}

} // namespace recd
