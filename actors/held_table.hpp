#pragma once
// The id -> record table of a shard's users or items, one hash map per held
// partition, each in its own partition_arena (actors/partition_arena.hpp):
// the records' nodes and the blocks of their vectors (allocator-aware records
// take the map's allocator) live in their partition's pages, so dropping a
// partition unmaps them whole. Looks like the unordered_map it replaces
// (find, end, operator[], iteration over every held record) so that the
// state's code reads the same.
//
// The partition count is fixed per table; a table made without one (tests,
// an empty state) keeps everything in one partition.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <memory_resource>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/partition_arena.hpp"
#include "engine/types.hpp"

namespace recd {

template <class Record>
class held_table {
public:
  using key_type = std::int32_t;
  using map_type = std::pmr::unordered_map<key_type, Record>;
  using value_type = typename map_type::value_type;

  // One partition's records and the arena they live in (declared first:
  // destroyed after the map, which gives its blocks back to it).
  struct part {
    partition_arena arena;
    map_type records{&arena};
  };

  template <bool Const>
  class basic_iterator {
    using parts_type =
      std::conditional_t<Const, const std::vector<std::unique_ptr<part>>, std::vector<std::unique_ptr<part>>>;
    using inner = std::conditional_t<Const, typename map_type::const_iterator, typename map_type::iterator>;

  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = typename map_type::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<Const, const value_type&, value_type&>;
    using pointer = std::conditional_t<Const, const value_type*, value_type*>;

    basic_iterator() = default;
    basic_iterator(parts_type* parts, std::size_t at, inner it) : parts_(parts), at_(at), it_(it) {}
    // Every iterator converts to its const kind.
    operator basic_iterator<true>() const { return {parts_, at_, it_}; }

    reference operator*() const { return *it_; }
    pointer operator->() const { return &*it_; }
    basic_iterator& operator++() {
      ++it_;
      settle();
      return *this;
    }
    basic_iterator operator++(int) {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) {
      return a.at_ == b.at_ && (a.parts_ == nullptr || a.at_ >= a.parts_->size() || a.it_ == b.it_);
    }
    // Moves past the ends of partitions to the next record (or the end).
    void settle() {
      while (at_ < parts_->size() && it_ == (*parts_)[at_]->records.end()) {
        ++at_;
        while (at_ < parts_->size() && !(*parts_)[at_])
          ++at_;
        if (at_ < parts_->size())
          it_ = (*parts_)[at_]->records.begin();
      }
    }

  private:
    template <bool>
    friend class basic_iterator;
    parts_type* parts_ = nullptr;
    std::size_t at_ = 0;
    inner it_{};
  };
  using iterator = basic_iterator<false>;
  using const_iterator = basic_iterator<true>;

  explicit held_table(std::uint32_t partition_count = 1)
    : count_(partition_count == 0 ? 1 : partition_count), parts_(count_) {}
  // A table moved from is empty, with its partition count.
  held_table(held_table&& other) : count_(other.count_), parts_(std::move(other.parts_)) {
    other.parts_ = std::vector<std::unique_ptr<part>>(other.count_);
  }
  held_table& operator=(held_table&& other) {
    if (this != &other) {
      count_ = other.count_;
      parts_ = std::move(other.parts_);
      other.parts_ = std::vector<std::unique_ptr<part>>(other.count_);
    }
    return *this;
  }

  std::uint32_t partition_count() const { return count_; }
  std::uint32_t partition(key_type id) const { return partition_of(id, count_); }

  iterator begin() { return first<false>(parts_); }
  iterator end() { return {&parts_, parts_.size(), {}}; }
  const_iterator begin() const { return first<true>(parts_); }
  const_iterator end() const { return {&parts_, parts_.size(), {}}; }

  iterator find(key_type id) {
    auto p = partition(id);
    if (!parts_[p])
      return end();
    auto it = parts_[p]->records.find(id);
    return it == parts_[p]->records.end() ? end() : iterator{&parts_, p, it};
  }
  const_iterator find(key_type id) const {
    auto p = partition(id);
    if (!parts_[p])
      return end();
    auto it = parts_[p]->records.find(id);
    return it == parts_[p]->records.end() ? end() : const_iterator{&parts_, p, it};
  }
  std::size_t count(key_type id) const {
    auto p = partition(id);
    return parts_[p] ? parts_[p]->records.count(id) : 0;
  }
  // The record of `id`, made (with its partition's allocator) if absent.
  Record& operator[](key_type id) { return held(partition(id)).records[id]; }
  std::size_t erase(key_type id) {
    auto p = partition(id);
    return parts_[p] ? parts_[p]->records.erase(id) : 0;
  }
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& p : parts_)
      if (p)
        n += p->records.size();
    return n;
  }
  bool empty() const { return size() == 0; }
  void clear() {
    for (auto& p : parts_)
      p.reset();
  }

  // Forgets partition p's records and unmaps its arena; returns the bytes it
  // had mapped.
  std::size_t drop(std::uint32_t p) {
    if (p >= parts_.size() || !parts_[p])
      return 0;
    auto bytes = parts_[p]->arena.mapped();
    parts_[p].reset();
    return bytes;
  }
  // Takes partition p (records and arena) out of the table.
  std::unique_ptr<part> release(std::uint32_t p) {
    return p < parts_.size() ? std::move(parts_[p]) : nullptr;
  }
  // Puts a partition taken from a table of the same partition count in,
  // replacing whatever this table held of it.
  void adopt(std::uint32_t p, std::unique_ptr<part> taken) { parts_[p] = std::move(taken); }
  bool holds(std::uint32_t p) const { return p < parts_.size() && parts_[p] != nullptr; }

  // Bytes the partitions' arenas have mapped, and the hash maps' own part
  // (buckets; nodes are counted by the caller from the sizes).
  std::size_t mapped() const {
    std::size_t n = 0;
    for (const auto& p : parts_)
      if (p)
        n += p->arena.mapped();
    return n;
  }
  std::size_t in_use() const {
    std::size_t n = 0;
    for (const auto& p : parts_)
      if (p)
        n += p->arena.in_use();
    return n;
  }
  std::size_t bucket_count() const {
    std::size_t n = 0;
    for (const auto& p : parts_)
      if (p)
        n += p->records.bucket_count();
    return n;
  }

private:
  part& held(std::uint32_t p) {
    if (!parts_[p])
      parts_[p] = std::make_unique<part>();
    return *parts_[p];
  }
  template <bool Const, class Parts>
  static basic_iterator<Const> first(Parts& parts) {
    std::size_t at = 0;
    while (at < parts.size() && !parts[at])
      ++at;
    if (at == parts.size())
      return {&parts, at, {}};
    basic_iterator<Const> it{&parts, at, parts[at]->records.begin()};
    it.settle();
    return it;
  }

  std::uint32_t count_ = 1;
  std::vector<std::unique_ptr<part>> parts_;
};

// std::erase_if for held tables: removes the records matching pred(kv).
template <class Record, class Pred>
std::size_t erase_if(held_table<Record>& table, Pred pred) {
  std::size_t n = 0;
  for (std::uint32_t p = 0; p < table.partition_count(); ++p)
    if (auto taken = table.release(p)) {
      n += std::erase_if(taken->records, pred);
      table.adopt(p, std::move(taken));
    }
  return n;
}

} // namespace recd
