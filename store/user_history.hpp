#pragma once
// What a user may never be recommended, read from the record
// (user_behavior) for an API node whose question to the user's shard failed
// (actors/history_reader.hpp). Blocking: called from that detached actor only.

#include <cstdint>
#include <vector>

#include <pqxx/pqxx>

#include "engine/types.hpp"

namespace recd::store {

struct user_history {
  std::vector<item_id> bought; // every item the user ever bought; sorted, distinct
  std::vector<item_id> seen;   // the newest `seen_limit` distinct items of any behavior; sorted
};

// The user's bought items and, when `with_seen`, the newest `seen_limit`
// distinct items they touched (the shard's recommend.history_items window:
// newest by timestamp, then row id), in one read-only transaction whose
// statements are cancelled after `timeout_ms` (SET LOCAL statement_timeout,
// at least 1 ms): a lock or a slow server ends in a pqxx error, never a wait
// beyond the caller's deadline. A user without any row gets two empty lists.
// Both reads use user_behavior_user_idx (user_id, timestamp).
user_history read_user_history(pqxx::connection& c, user_id user, bool with_seen,
                               std::int32_t seen_limit, std::int64_t timeout_ms);

} // namespace recd::store
