#pragma once
// item_slots: a reusable map from item id to a dense slot 0, 1, 2, ... in
// first-seen order, for per-request scratch tables (recall's score_table, the
// API's merge). Ids in [0, direct_limit) are looked up in a directly indexed
// array (shop item ids are mostly small and dense; the array grows to the
// largest id seen, 4 bytes per id); others in an open-addressing table with
// linear probing. No allocation once grown to a request's size, and clear()
// costs the number of items seen, not the capacity.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/types.hpp"

namespace recd {

class item_slots {
public:
  // The slot of `item`, and whether it was just created (slot == size() - 1).
  std::pair<std::uint32_t, bool> find_or_insert(item_id item) {
    if (item >= 0 && item < direct_limit) {
      auto id = static_cast<std::size_t>(item);
      if (id >= direct_.size())
        direct_.resize(std::max<std::size_t>(1024, std::bit_ceil(id + 1)), 0);
      auto& s = direct_[id];
      if (s != 0)
        return {s - 1, false};
      items_.push_back(item);
      s = static_cast<std::uint32_t>(items_.size());
      return {s - 1, true};
    }
    if ((hashed_ + 1) * 2 > table_.size())
      grow();
    auto mask = table_.size() - 1;
    for (auto i = hash(item) & mask;; i = (i + 1) & mask) {
      auto s = table_[i];
      if (s == 0) {
        items_.push_back(item);
        ++hashed_;
        table_[i] = static_cast<std::uint32_t>(items_.size());
        return {static_cast<std::uint32_t>(items_.size() - 1), true};
      }
      if (items_[s - 1] == item)
        return {s - 1, false};
    }
  }

  // The slot of `item`, or -1 if it has none.
  std::int64_t find(item_id item) const {
    if (item >= 0 && item < direct_limit) {
      auto id = static_cast<std::size_t>(item);
      return id < direct_.size() ? std::int64_t{direct_[id]} - 1 : -1;
    }
    if (table_.empty())
      return -1;
    auto mask = table_.size() - 1;
    for (auto i = hash(item) & mask;; i = (i + 1) & mask) {
      auto s = table_[i];
      if (s == 0)
        return -1;
      if (items_[s - 1] == item)
        return std::int64_t{s} - 1;
    }
  }

  std::size_t size() const { return items_.size(); }
  item_id item(std::uint32_t slot) const { return items_[slot]; }

  void clear() {
    auto mask = table_.size() - 1;
    for (std::uint32_t s = 0; s < items_.size(); ++s) {
      auto item = items_[s];
      if (item >= 0 && item < direct_limit) {
        direct_[static_cast<std::size_t>(item)] = 0;
        continue;
      }
      // Every hashed item sits on its own probe path; zero exactly its cell.
      for (auto i = hash(item) & mask;; i = (i + 1) & mask)
        if (table_[i] == s + 1) {
          table_[i] = 0;
          break;
        }
    }
    items_.clear();
    hashed_ = 0;
  }

private:
  static std::size_t hash(item_id item) {
    // Fibonacci hashing: item ids are often dense and sequential.
    return static_cast<std::size_t>(
      (static_cast<std::uint64_t>(static_cast<std::uint32_t>(item)) * 0x9E3779B97F4A7C15ull) >> 32);
  }

  void grow() {
    std::vector<std::uint32_t> bigger(table_.empty() ? 1024 : table_.size() * 2, 0);
    auto mask = bigger.size() - 1;
    for (std::uint32_t s = 0; s < items_.size(); ++s) {
      if (items_[s] >= 0 && items_[s] < direct_limit)
        continue;
      auto i = hash(items_[s]) & mask;
      while (bigger[i] != 0)
        i = (i + 1) & mask;
      bigger[i] = s + 1;
    }
    table_.swap(bigger);
  }

  static constexpr item_id direct_limit = 1 << 22;

  std::vector<std::uint32_t> direct_; // id -> 0 = none, else 1 + slot (ids < direct_limit)
  std::vector<std::uint32_t> table_;  // 0 = empty, else 1 + slot (other ids)
  std::vector<item_id> items_;        // slot -> item
  std::size_t hashed_ = 0;            // items in table_
};

} // namespace recd
