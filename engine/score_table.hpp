#pragma once
// score_table: the scratch accumulator of recall. Adds up evidence per item
// (sum, best single contribution and who gave it), reused from request to
// request.
//
// Item ids in [0, direct_limit) are accumulated in place in an array indexed
// by the id itself (16 bytes per id up to the largest id seen): one access per
// contribution, no slot lookup and no call, which is what the item-CF and
// user-CF sums of an uncached recommend spend most of their time on. An entry
// belongs to the current request when its stamp is the table's; clear() moves
// to the next stamp, so it costs nothing per item. Other ids (negative, or
// beyond the limit) are accumulated over item_slots. The table follows no
// shard state (ids are looked up as they come), so loads, moves, drops and
// live events need nothing from it.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "engine/item_slots.hpp"

namespace recd {

class score_table {
public:
  struct entry {
    float score = 0;
    float best = 0;
    std::int32_t because = -1;
    std::uint32_t stamp = 0; // the table's stamp when this entry was last touched
  };

  score_table() = default;
  // Starts at stamp `first` (not 0): tests start near the 32-bit wrap.
  explicit score_table(std::uint32_t first) : stamp_(first == 0 ? 1 : first) {}

  // Ids below this are indexed directly: at most 16 MiB of entries per table.
  static constexpr item_id direct_limit = 1 << 20;

  // Adds contribution `c` to `item`; `because` is kept if `c` is the item's
  // largest single contribution so far (the first of equal ones).
  void add(item_id item, float c, std::int32_t because) {
    const std::pair<item_id, float> one[] = {{item, c}};
    add_all(one, because, [](const std::pair<item_id, float>& x) { return x; });
  }

  // add() for every element x of `list`, with the item and contribution
  // that `of(x)` gives (a pair) and `because`; with `positive_only`, the
  // contributions that are not above 0 are left out. One call per list, not
  // per element: the table's own fields stay in registers through the loop
  // (an entry's stores could otherwise alias them), so the entries' loads
  // overlap (recall's item-CF and user-CF sums; bench/recall_bench).
  template <bool positive_only = false, class List, class Of>
  void add_all(const List& list, std::int32_t because, const Of& of) {
    entry* direct = direct_.data();
    std::size_t size = direct_.size();
    item_id* touched = touched_.data();
    std::size_t count = touched_count_;
    const std::uint32_t stamp = stamp_;
    for (const auto& x : list) {
      const auto [item, c] = of(x);
      if constexpr (positive_only)
        if (!(c > 0))
          continue;
      const auto id = static_cast<std::uint32_t>(item);
      if (id < size) [[likely]] {
        // No branch on whether the entry is fresh (an item's first touch and
        // its repeats come in no predictable order; mispredicting costs more
        // than the stores done either way): a fresh entry is summed from 0
        // and takes `c` as its best whatever it held; the touched list's
        // first free slot gets the item either way, counted only if fresh.
        // Written here, not in a helper taking the slot by reference: GCC 12
        // then kept the loop's loads behind that store (bench/recall_bench:
        // item CF about 15% slower).
        entry& e = direct[id];
        const bool fresh = e.stamp != stamp;
        const float score = fresh ? 0.0f : e.score;
        const float best = e.best;
        const std::int32_t was = e.because;
        const bool take = fresh | (c > best);
        e.score = score + c;
        e.best = take ? c : best;
        e.because = take ? because : was;
        e.stamp = stamp;
        touched[count] = item;
        count += fresh;
        continue;
      }
      touched_count_ = count;
      add_far(item, c, because); // may grow the direct range
      direct = direct_.data();
      size = direct_.size();
      touched = touched_.data();
      count = touched_count_;
    }
    touched_count_ = count;
  }

  // Makes `item`'s score -infinity for good (until clear()): excluded items
  // are blocked before accumulating, so selection needs no lookup per item.
  // A blocked item that was never added is not listed by for_each.
  void block(item_id item) {
    auto id = static_cast<std::uint32_t>(item);
    if (id >= direct_.size() && item >= 0 && item < direct_limit)
      grow(id);
    if (id < direct_.size()) {
      auto& e = direct_[id];
      if (e.stamp != stamp_)
        e = {minus_infinity, 0, -1, stamp_};
      else
        e.score = minus_infinity;
      return;
    }
    auto [slot, fresh] = far_slots_.find_or_insert(item);
    if (fresh)
      far_.push_back({minus_infinity, 0, -1, stamp_});
    else
      far_[slot].score = minus_infinity;
  }

  // Whether `item` was blocked since the last clear().
  bool blocked(item_id item) const {
    auto id = static_cast<std::uint32_t>(item);
    if (id < direct_.size()) {
      const auto& e = direct_[id];
      return e.stamp == stamp_ && e.score == minus_infinity;
    }
    auto slot = far_slots_.find(item);
    return slot >= 0 && far_[static_cast<std::size_t>(slot)].score == minus_infinity;
  }

  // Calls f(item, entry) for every item whose first touch since the last
  // clear() was an add (blocked or not since): those of the direct range in
  // first-touch order, then the others in first-touch order.
  template <class F>
  void for_each(const F& f) const {
    for (std::size_t k = 0; k < touched_count_; ++k)
      f(touched_[k], direct_[static_cast<std::uint32_t>(touched_[k])]);
    for (auto slot : far_touched_)
      f(far_slots_.item(slot), far_[slot]);
  }

  // How many items for_each lists.
  std::size_t size() const { return touched_count_ + far_touched_.size(); }

  // Bytes held by the table (its direct array grows to the largest id seen).
  std::size_t capacity_bytes() const {
    return direct_.capacity() * sizeof(entry) + touched_.capacity() * sizeof(item_id) +
           far_.capacity() * sizeof(entry);
  }

  void clear() {
    touched_count_ = 0;
    if (!far_.empty()) {
      far_slots_.clear();
      far_.clear();
      far_touched_.clear();
    }
    if (++stamp_ == 0) { // wrapped: no stale entry may carry the new stamp
      for (auto& e : direct_)
        e.stamp = 0;
      stamp_ = 1;
    }
  }

private:
  static constexpr float minus_infinity = -std::numeric_limits<float>::infinity();

  static void accumulate(entry& e, float c, std::int32_t because) {
    e.score += c;
    if (c > e.best) {
      e.best = c;
      e.because = because;
    }
  }

  // The touched list holds a slot per direct id (each is listed once at
  // most) and one more, which a repeat writes to when all are listed.
  void grow(std::uint32_t id) {
    direct_.resize(std::max<std::size_t>(1024, std::bit_ceil(std::size_t{id} + 1)));
    touched_.resize(direct_.size() + 1);
  }

  void add_far(item_id item, float c, std::int32_t because) {
    if (item >= 0 && item < direct_limit) {
      grow(static_cast<std::uint32_t>(item));
      add(item, c, because);
      return;
    }
    auto [slot, fresh] = far_slots_.find_or_insert(item);
    if (fresh) {
      far_.push_back({c, c, because, stamp_});
      far_touched_.push_back(slot);
      return;
    }
    accumulate(far_[slot], c, because);
  }

  std::vector<entry> direct_;          // by item id, for ids in [0, direct_.size())
  // Direct ids added to since clear(), first-touch order: the first
  // touched_count_ of touched_ (one longer than direct_).
  std::vector<item_id> touched_;
  std::size_t touched_count_ = 0;
  std::uint32_t stamp_ = 1;
  item_slots far_slots_;               // other ids -> slot in far_
  std::vector<entry> far_;             // by slot
  std::vector<std::uint32_t> far_touched_; // slots whose first touch was an add
};

} // namespace recd
