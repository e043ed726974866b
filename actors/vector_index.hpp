#pragma once
// A shard's item vectors and the nearest-neighbour search of the vector
// route and of item pages (actors/vector_index.cpp says why and how).

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "protocol/messages.hpp"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
} // namespace hnswlib

namespace recd {

struct neighbour_item {
  item_id item;
  float score;
};

// Nearest unit item embeddings by cosine: an exact scan while the index
// holds up to exact_scan_max of them, an HNSW inner-product search beyond
// (actors/vector_index.cpp says why and how).
class vector_index {
public:
  vector_index(std::int32_t dim, std::size_t capacity);
  ~vector_index();
  vector_index(const vector_index&) = delete;
  vector_index& operator=(const vector_index&) = delete;
  // Adds the item, or moves it to `unit_vector` if it is in the index already.
  void add(item_id item, std::span<const float> unit_vector);
  // Up to k nearest items with their cosine similarity, best first (ties by
  // item id), none of them in `exclude` (sorted); exact up to exact_scan_max
  // items. The exact scan leaves the excluded items out before selecting, so
  // they cost no float scoring; beyond, HNSW is asked for k + exclude.size().
  // `best_first` false: the same items in no particular order (the exact
  // scan then sorts nothing; recall's merge ranks whatever the order).
  std::vector<neighbour_item> nearest(const std::vector<float>& unit_vector, std::size_t k,
                                      const std::vector<item_id>& exclude = {},
                                      bool best_first = true) const;
  static constexpr std::size_t exact_scan_max = 32768;
  std::int32_t dim() const { return dim_; }
  std::size_t size() const { return size_; }
  // Heap bytes the index holds (vectors, links, locks, label map), for footprint().
  std::size_t bytes() const;

private:
  std::int32_t dim_;
  std::size_t size_ = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
  // Row i = the vector of hnswlib's element i (its internal ids are dense and
  // stable) in 16-bit fixed point: what the exact scan's first pass reads,
  // contiguous. Empty beyond exact_scan_max, or if a vector is not of unit
  // length (then the scan reads hnswlib's floats only).
  std::vector<std::int16_t> coded_;
  bool coded_ok_ = true;
  // Row i = the item of hnswlib's element i: the scan's labels, contiguous
  // (hnswlib keeps each beside its element's links and vector).
  std::vector<item_id> labels_;
};

} // namespace recd
