#pragma once
// deadlines: the time limits of an actor's outstanding requests, kept by the
// actor itself instead of by CAF's request timeouts.
//
// Why: in CAF 0.17 every `request(dest, timeout, ...)` hands a timer to the
// clock thread (a wake-up) and, once due, a timeout message back to the actor
// (another wake-up), even when the answer came long before. At thousands of
// requests per second those wake-ups cost more than the work. Here an actor
// sends with `caf::infinite` and arms a deadline; one self-message per tick
// (at most every `granularity`, and only while deadlines are pending) expires
// the overdue ones, so a deadline fires up to one granularity late. A
// deadline earlier than every pending tick gets a tick of its own (a 250 ms
// shard step armed after a 5 s write must not wait for the write's tick).
//
// Contract: `arm` returns a `settle` token. Whoever settles first wins: the
// answer handler (call `settle.first()` and ignore the answer if it is false)
// or the expiry (which then runs `on_expiry`). Not thread-safe: one actor owns it.
// A request whose answer never comes keeps CAF's response handler alive in the
// actor (CAF 0.17 has no way to drop it); that happens only when a peer dies
// with the request taken, and costs its closure's memory.

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <vector>

namespace recd {

class deadlines {
public:
  using clock = std::chrono::steady_clock;

  // Shared by the answer handler and the expiry; the first to claim it wins.
  class settle {
  public:
    settle() : done_(std::make_shared<bool>(false)) {}
    bool first() const {
      if (*done_)
        return false;
      *done_ = true;
      return true;
    }
    bool settled() const { return *done_; }

  private:
    std::shared_ptr<bool> done_;
  };

  // Runs `on_expiry` at `after` from now unless the token is settled first.
  // Returns true if the caller must schedule a tick `after` from now: no
  // pending tick comes by then (none is pending, or only later ones, e.g.
  // of a longer deadline armed before: waiting for that one would fire this
  // deadline late by the difference).
  bool arm(clock::duration after, const settle& token, std::function<void()> on_expiry) {
    const auto due = clock::now() + after;
    queue_.push_back({due, seq_++, token, std::move(on_expiry)});
    std::push_heap(queue_.begin(), queue_.end(), std::greater<>{});
    if (!ticks_.empty() && *ticks_.begin() <= due)
      return false;
    ticks_.insert(due);
    return true;
  }

  // A tick arrived: expires what is due. Returns the delay to the next tick
  // the caller must schedule, or zero if none is needed (nothing pending, or
  // a tick scheduled earlier comes in time).
  clock::duration expire(clock::duration granularity) {
    auto now = clock::now();
    // Ticks arrive in the order of their times: this one is the earliest.
    if (!ticks_.empty())
      ticks_.erase(ticks_.begin());
    while (!queue_.empty() && queue_.front().due <= now) {
      // Moved out, not copied: most entries were settled long ago, and a
      // copy would allocate their closure again only to free it.
      std::pop_heap(queue_.begin(), queue_.end(), std::greater<>{});
      auto entry = std::move(queue_.back());
      queue_.pop_back();
      if (entry.token.first())
        entry.on_expiry();
    }
    // Settled entries are dropped lazily when they come due.
    if (queue_.empty())
      return clock::duration::zero();
    auto next = std::max(granularity, queue_.front().due - now);
    if (!ticks_.empty() && *ticks_.begin() <= now + next)
      return clock::duration::zero();
    ticks_.insert(now + next);
    return next;
  }

  std::size_t pending() const { return queue_.size(); }

private:
  struct entry {
    clock::time_point due;
    std::uint64_t seq;
    settle token;
    std::function<void()> on_expiry;
    bool operator>(const entry& other) const {
      return due != other.due ? due > other.due : seq > other.seq;
    }
  };
  std::vector<entry> queue_; // a min-heap by (due, seq): std::push_heap / pop_heap
  std::uint64_t seq_ = 0;
  // When the ticks scheduled and not yet arrived come (a few at most: a new
  // one only for a deadline earlier than all of them).
  std::multiset<clock::time_point> ticks_;
};

} // namespace recd
