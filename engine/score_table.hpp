#pragma once
// score_table: the scratch accumulator of recall. Adds up evidence per item
// (sum, best single contribution and who gave it) over item_slots, reused
// from request to request. It replaces a node-based std::unordered_map, whose
// one allocation per touched item was the largest cost of an uncached
// recommend.

#include <cstdint>
#include <limits>
#include <vector>

#include "engine/item_slots.hpp"

namespace recd {

class score_table {
public:
  struct entry {
    item_id item = 0;
    float score = 0;
    float best = 0;
    std::int32_t because = -1;
  };

  // Adds contribution `c` to `item`; `because` is kept if `c` is the item's
  // largest single contribution so far (the first of equal ones).
  void add(item_id item, float c, std::int32_t because) {
    auto [slot, fresh] = slots_.find_or_insert(item);
    if (fresh) {
      entries_.push_back({item, c, c, because});
      return;
    }
    auto& e = entries_[slot];
    e.score += c;
    if (c > e.best) {
      e.best = c;
      e.because = because;
    }
  }

  // Makes `item`'s score -infinity for good (until clear()): excluded items
  // are blocked before accumulating, so selection needs no lookup per item.
  void block(item_id item) {
    constexpr auto minus_infinity = -std::numeric_limits<float>::infinity();
    auto [slot, fresh] = slots_.find_or_insert(item);
    if (fresh)
      entries_.push_back({item, minus_infinity, 0, -1});
    else
      entries_[slot].score = minus_infinity;
  }

  // The items touched since the last clear(), in first-touch order.
  const std::vector<entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

  void clear() {
    slots_.clear();
    entries_.clear();
  }

private:
  item_slots slots_;
  std::vector<entry> entries_; // by slot
};

} // namespace recd
