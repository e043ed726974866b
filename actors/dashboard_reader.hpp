#pragma once
// dashboard_reader: a detached actor with its own PostgreSQL connection that
// answers the admin dashboard's question, an item's published neighbours
// (store/dashboard_queries.hpp). Local
// to the admin node: it is never published and only the gateway talks to it.
//
// Its interface: dashboard_reader_actor (protocol/interfaces.hpp). A broken
// connection is reset and reopened on the next question.

#include <string>

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

dashboard_reader_actor spawn_dashboard_reader(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
