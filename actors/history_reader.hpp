#pragma once
// history_reader: a detached actor owning one PostgreSQL connection that
// tells an API node what a user may never be recommended when the user's
// shard did not answer (actors/api_recommend.cpp): their bought items and,
// when the request's exclude_seen applies, the newest items they touched,
// from the record (store/user_history.hpp). One per API node, shared by its
// API actors; never published, so its interface is not part of the wire
// protocol (protocol/: nothing here crosses a node).
//
//   (history_query) -> (bought, seen): both sorted; seen empty unless asked.
//     A query whose deadline has passed is answered ec::timeout at once,
//     unread (its caller has already answered its client); a read runs with
//     statement_timeout set to the time left, so a lock or a slow server
//     ends it at the deadline. A failed read is ec::database_unavailable or
//     ec::database_error (details in the log, passwords masked) and resets
//     the connection: the next query reconnects. Opening a connection can
//     block up to postgres.connect_timeout_s; queries queued meanwhile expire
//     unread.
//
// The caller keeps its own deadline too (api_state's ask): it never waits
// for this actor beyond it.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "engine/types.hpp"

namespace recd {

// Whose history, how much of it, and until when.
struct history_query {
  user_id user = 0;
  bool with_seen = false;       // also the touched items (exclude_seen)
  std::int32_t seen_limit = 0;  // newest distinct touched items read (recommend.history_items)
  std::int64_t deadline_ns = 0; // steady_clock nanoseconds since its epoch
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_query& x) {
  return f(caf::meta::type_name("history_query"), x.user, x.with_seen, x.seen_limit,
           x.deadline_ns);
}

// [local] Only the API actors of the same node send it.
using history_reader_actor = caf::typed_actor<
  caf::replies_to<history_query>::with<std::vector<item_id>, std::vector<item_id>>>;

// `conninfo`: from store::conninfo(..., session::serving).
history_reader_actor spawn_history_reader(caf::actor_system& sys, std::string conninfo);

} // namespace recd
