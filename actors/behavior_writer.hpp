#pragma once
// behavior_writer: a detached actor owning one PostgreSQL connection that
// makes behavior events durable. Group commit: events that queue while a
// commit is in flight go into the next transaction together, so a burst costs
// one fsync, not one per event.
//
//   (write_atom, behavior_event, check_item, event_id, deadline_ns) -> (int64 id, bool fresh)
//     check_item: the item's shard was unavailable; verify the item in the
//       catalog first (not_found, nothing stored, if it is missing).
//     event_id: the client's idempotency key, "" for none. An id already
//       stored (or earlier in the same batch) stores nothing and answers the
//       FIRST event's row id with fresh = false: the caller must not apply it
//       again. Its payload is not compared with the first one's.
//     deadline_ns: steady_clock nanoseconds since its epoch; an event still
//       queued then is dropped unwritten (ec::timeout): its HTTP client has
//       already been told 503.
//
//   (write_batch_atom, event_batch) -> batch_receipt
//     POST /api/behaviors: one request's events in one transaction
//     (store::write_behaviors: COPY without event ids, else one statement),
//     all or nothing. The caller took one gate slot per event
//     (try_enter(n)); the writer frees them when it answers. check_items: the
//     items no shard vouched for, verified in the catalog first; an unknown one
//     is invalid_argument "events[i]: item_id: unknown item N", nothing stored.
//     Event ids behave as above (a repeat within the request or of a stored
//     row gets the first row's id with fresh = 0).
//
// The reply comes only after COMMIT returned: an acknowledged event is in the
// database. On failure every event of the batch gets the error and nothing of
// the batch is stored (one transaction); the error says only "database
// unavailable" (the details go to the log, passwords masked).
//
// Bounded: callers pass through the writer_gate (shared with the API actors
// of this node) before sending; at most `max` events are queued and
// uncommitted at a time, the rest are refused at once with ec::overloaded.
// The writer reconnects on the next batch after a failure (the server may
// have restarted).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

class writer_gate {
public:
  explicit writer_gate(std::int64_t max) : max_(max) {}
  // Takes a slot; false (and nothing taken) when `max` events are queued.
  bool try_enter() {
    if (queued_.fetch_add(1, std::memory_order_acq_rel) >= max_) {
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
    return true;
  }
  // Takes `n` slots at once (a batch); false (and nothing taken) when fewer are free.
  bool try_enter(std::int64_t n) {
    if (queued_.fetch_add(n, std::memory_order_acq_rel) + n > max_) {
      queued_.fetch_sub(n, std::memory_order_acq_rel);
      return false;
    }
    return true;
  }
  // Frees a slot: the writer calls it once per event it answers.
  void leave() { queued_.fetch_sub(1, std::memory_order_acq_rel); }
  std::int64_t queued() const { return queued_.load(std::memory_order_acquire); }
  std::int64_t max() const { return max_; }

private:
  std::atomic<std::int64_t> queued_{0};
  std::int64_t max_;
};

// `conninfo`: from store::conninfo(..., session::serving).
behavior_writer_actor spawn_behavior_writer(caf::actor_system& sys, std::string conninfo,
                                 std::shared_ptr<writer_gate> gate);

// `count` (>= 1) writers, each with its own connection, sharing one gate (the
// node's bound on uncommitted events). Two requests' batches given to
// different writers commit in parallel: PostgreSQL builds the rows and index
// entries of each on its own core, and they queue only for the items' sales
// counts (locked in item order, store/behavior_rows.hpp) and the WAL flush.
std::vector<behavior_writer_actor> spawn_behavior_writers(caf::actor_system& sys,
                                                          const std::string& conninfo,
                                                          std::shared_ptr<writer_gate> gate,
                                                          std::int32_t count);

} // namespace recd
