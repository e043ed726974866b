#pragma once
// Behavior rows as the behavior writer stores them (actors/behavior_writer.hpp):
// many events in one transaction, all or nothing, with the users they name and
// the items' sales counts, and the client's optional event ids made idempotent
// (sql/003_behavior_event_id.sql).
//
// Two ways in, the same rows out:
// - no event id among the events and at least `copy_min_events` of them:
//   row ids drawn from the sequence in one statement, then COPY straight into
//   user_behavior (rows ordered by item and kind, which the indexes insert
//   faster; the ids keep the events' order);
// - otherwise one INSERT ... SELECT FROM unnest(...) ON CONFLICT (event_id)
//   DO NOTHING RETURNING statement that also skips ids already stored.
// Both then add the new users and the buy/cart counts in ascending id order,
// the items' rows locked first in that order, so that concurrent writers
// (several writer connections, several API nodes) wait for each other
// instead of deadlocking. The transaction commits before the call returns.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/types.hpp"

namespace recd::store {

// A batch this large without event ids goes through COPY.
inline constexpr std::size_t copy_min_events = 32;

struct written_behavior {
  std::int64_t id = 0; // the row of the event (or of the first one with its event id)
  bool fresh = false;  // false: the event id was stored before; nothing was written
};

// Stores events[k] with event_ids[k] ("" = none; the ids must be unique among
// the call) in one transaction on `c` and commits it. Answers one entry per
// event, in order. Throws (pqxx) on any failure, nothing stored; an unknown
// item is the caller's to rule out first (there is no foreign key).
std::vector<written_behavior> write_behaviors(pqxx::connection& c,
                                              const std::vector<const behavior_event*>& events,
                                              const std::vector<const std::string*>& event_ids);

// The items of `asked` that the catalog holds (the writer's check of items no
// shard vouched for).
std::vector<item_id> known_items(pqxx::connection& c, const std::vector<item_id>& asked);

// One COPY text line's timestamptz field for Unix seconds `t` (>= 0), UTC:
// "YYYY-MM-DD HH:MM:SS+00". Exposed for tests.
void append_copy_timestamp(std::string& out, std::int64_t t);

} // namespace recd::store
