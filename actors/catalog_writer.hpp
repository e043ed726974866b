#pragma once
// catalog_writer: a detached actor with its own PostgreSQL connection that
// commits the catalog's writes (items, users, erasures) and answers its reads
// (store/catalog.hpp). One per API node; only that node's API actors talk to
// it (catalog_writer_actor in protocol/interfaces.hpp). Every write commits
// before its reply, so an acknowledged change is durable. A broken
// connection is reset and reopened on the next message.

#include <string>

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

catalog_writer_actor spawn_catalog_writer(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
