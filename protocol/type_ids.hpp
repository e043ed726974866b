#pragma once
// recd's type-ID block and atoms: everything that may cross a node boundary is
// registered here (call recd::add_message_types(cfg) before creating a system).

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "protocol/bulk.hpp"
#include "protocol/local_reply.hpp"
#include "protocol/messages.hpp"

// Atoms: at most 10 characters of [A-Za-z0-9_ ].
CAF_BEGIN_TYPE_ID_BLOCK(recd, caf::first_custom_type_id)

  // -- serving ---------------------------------------------------------------
  CAF_ADD_ATOM(recd, recd, recommend_atom, "recommend")
  CAF_ADD_ATOM(recd, recd, behavior_atom, "behavior")
  CAF_ADD_ATOM(recd, recd, context_atom, "context")
  CAF_ADD_ATOM(recd, recd, version_atom, "version")
  CAF_ADD_ATOM(recd, recd, recall_atom, "recall")
  CAF_ADD_ATOM(recd, recd, details_atom, "details")
  CAF_ADD_ATOM(recd, recd, item_atom, "item")
  CAF_ADD_ATOM(recd, recd, apply_atom, "apply")
  CAF_ADD_ATOM(recd, recd, write_atom, "write")
  CAF_ADD_ATOM(recd, recd, flush_atom, "flush")
  CAF_ADD_ATOM(recd, recd, cache_get_atom, "cache_get")
  CAF_ADD_ATOM(recd, recd, cache_put_atom, "cache_put")
  CAF_ADD_ATOM(recd, recd, cache_del_atom, "cache_del")
  CAF_ADD_ATOM(recd, recd, stats_atom, "stats")
  CAF_ADD_ATOM(recd, recd, ready_atom, "ready")
  CAF_ADD_ATOM(recd, recd, map_atom, "map")
  // -- state loading -----------------------------------------------------------
  CAF_ADD_ATOM(recd, recd, load_atom, "load")
  CAF_ADD_ATOM(recd, recd, reload_atom, "reload")
  CAF_ADD_ATOM(recd, recd, drop_atom, "drop")
  CAF_ADD_ATOM(recd, recd, move_atom, "move")
  CAF_ADD_ATOM(recd, recd, flip_atom, "flip")
  // -- cluster membership ------------------------------------------------------
  CAF_ADD_ATOM(recd, recd, join_atom, "join")
  CAF_ADD_ATOM(recd, recd, leave_atom, "leave")
  CAF_ADD_ATOM(recd, recd, subscribe_atom, "subscribe")
  CAF_ADD_ATOM(recd, recd, rebalance_atom, "rebalance")
  CAF_ADD_ATOM(recd, recd, stop_atom, "stop")
  CAF_ADD_ATOM(recd, recd, poll_atom, "poll")
  // -- jobs ------------------------------------------------------------------
  CAF_ADD_ATOM(recd, recd, compute_atom, "compute")
  CAF_ADD_ATOM(recd, recd, job_atom, "job")
  CAF_ADD_ATOM(recd, recd, progress_atom, "progress")
  CAF_ADD_ATOM(recd, recd, solve_atom, "solve")
  CAF_ADD_ATOM(recd, recd, users_atom, "users")
  CAF_ADD_ATOM(recd, recd, items_atom, "items")

  CAF_ADD_TYPE_ID(recd, (recd::behavior_event))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::behavior_event>))
  CAF_ADD_TYPE_ID(recd, (recd::recent_item))
  CAF_ADD_TYPE_ID(recd, (recd::scored_user))
  CAF_ADD_TYPE_ID(recd, (recd::user_context))
  CAF_ADD_TYPE_ID(recd, (recd::recall_request))
  CAF_ADD_TYPE_ID(recd, (recd::candidate))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::candidate>))
  CAF_ADD_TYPE_ID(recd, (recd::item_details))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::item_details>))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::item_id>))
  CAF_ADD_TYPE_ID(recd, (std::vector<float>))
  CAF_ADD_TYPE_ID(recd, (std::vector<double>))
  CAF_ADD_TYPE_ID(recd, (std::vector<std::uint32_t>))
  CAF_ADD_TYPE_ID(recd, (std::vector<std::int64_t>))
  CAF_ADD_TYPE_ID(recd, (recd::job_kind))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::job_kind>))
  CAF_ADD_TYPE_ID(recd, (recd::similarity_task))
  CAF_ADD_TYPE_ID(recd, (recd::embedding_task))
  CAF_ADD_TYPE_ID(recd, (recd::factor_block))
  CAF_ADD_TYPE_ID(recd, (recd::job_progress))
  CAF_ADD_TYPE_ID(recd, (recd::job_summary))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::job_summary>))
  CAF_ADD_TYPE_ID(recd, (recd::engine::bipartite))
  // -- bulk values (protocol/bulk.hpp) -------------------------------------------
  CAF_ADD_ATOM(recd, recd, bulk_atom, "bulk")
  CAF_ADD_TYPE_ID(recd, (recd::bulk_chunk))
  CAF_ADD_TYPE_ID(recd, (recd::bulk_handle))
  // -- local only: never sent to another node (protocol/local_reply.hpp) ----------
  CAF_ADD_ATOM(recd, recd, deadline_atom, "deadline")
  CAF_ADD_TYPE_ID(recd, (recd::local_reply<std::string>))
  CAF_ADD_TYPE_ID(recd, (recd::local_reply<std::int64_t>))
  // -- operations (the admin port's commands) ------------------------------------
  CAF_ADD_ATOM(recd, recd, check_atom, "check")

CAF_END_TYPE_ID_BLOCK(recd)

namespace recd {

// Registers the block above and recd's error category.
void add_message_types(caf::actor_system_config& cfg);

} // namespace recd
