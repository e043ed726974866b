#pragma once
// score_table: the scratch accumulator of recall. Adds up evidence per item
// (sum, best single contribution and who gave it) in an open-addressing table
// that is reused from request to request: clear() costs the number of items
// touched, not the capacity, and nothing is allocated once the table has grown
// to a request's size. It replaces a node-based std::unordered_map, whose one
// allocation per touched item was the largest cost of an uncached recommend.

#include <cstdint>
#include <vector>

#include "engine/types.hpp"

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
  // largest single contribution so far.
  void add(item_id item, float c, std::int32_t because) {
    if ((used_.size() + 1) * 2 > slots_.size())
      grow();
    auto mask = slots_.size() - 1;
    for (auto i = hash(item) & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s == 0) {
        s = static_cast<std::uint32_t>(used_.size()) + 1;
        used_.push_back({item, c, c, because});
        return;
      }
      auto& e = used_[s - 1];
      if (e.item == item) {
        e.score += c;
        if (c > e.best) {
          e.best = c;
          e.because = because;
        }
        return;
      }
    }
  }

  // The items touched since the last clear(), in first-touch order.
  const std::vector<entry>& entries() const { return used_; }
  std::size_t size() const { return used_.size(); }

  void clear() {
    auto mask = slots_.size() - 1;
    for (const auto& e : used_)
      for (auto i = hash(e.item) & mask;; i = (i + 1) & mask)
        if (slots_[i] != 0) {
          if (used_[slots_[i] - 1].item == e.item) {
            slots_[i] = 0;
            break;
          }
        }
    used_.clear();
  }

private:
  static std::size_t hash(item_id item) {
    // Fibonacci hashing: item ids are often dense and sequential.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(static_cast<std::uint32_t>(item)) *
                                     0x9E3779B97F4A7C15ull) >> 32);
  }

  void grow() {
    std::vector<std::uint32_t> bigger(slots_.empty() ? 1024 : slots_.size() * 2, 0);
    auto mask = bigger.size() - 1;
    for (std::uint32_t n = 0; n < used_.size(); ++n) {
      auto i = hash(used_[n].item) & mask;
      while (bigger[i] != 0)
        i = (i + 1) & mask;
      bigger[i] = n + 1;
    }
    slots_.swap(bigger);
  }

  std::vector<std::uint32_t> slots_; // 0 = empty, else 1 + index into used_
  std::vector<entry> used_;
};

} // namespace recd
