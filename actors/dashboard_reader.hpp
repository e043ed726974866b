#pragma once
// dashboard_reader: a detached actor with its own PostgreSQL connection that
// answers the admin dashboard's questions (store/dashboard_queries.hpp). Local
// to the admin node: it is never published and only the gateway talks to it.
//
//   (job_atom, int32 limit)              -> string   JSON: the newest `limit` job runs
//   (item_atom, int64 item_id, int32 k)  -> string   JSON: the item's published neighbours
//
// A broken connection is reset and reopened on the next question.

#include <string>

#include <caf/fwd.hpp>

namespace recd {

caf::actor spawn_dashboard_reader(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
