#pragma once
// recd's type-ID block: everything that may cross a node boundary is
// registered here (call recd::add_message_types(cfg) before creating a
// system). Atoms are in atoms.hpp, the interfaces in interfaces.hpp.

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "protocol/atoms.hpp"
#include "protocol/bulk.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/local_reply.hpp"
#include "protocol/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(recd, caf::first_custom_type_id)

  // -- payloads (messages.hpp, bulk.hpp) ----------------------------------------------
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
  CAF_ADD_TYPE_ID(recd, (recd::part_progress))
  CAF_ADD_TYPE_ID(recd, (recd::run_progress))
  CAF_ADD_TYPE_ID(recd, (recd::job_summary))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::job_summary>))
  CAF_ADD_TYPE_ID(recd, (recd::engine::bipartite))
  CAF_ADD_TYPE_ID(recd, (recd::bulk_chunk))
  CAF_ADD_TYPE_ID(recd, (recd::bulk_handle))
  CAF_ADD_TYPE_ID(recd, (recd::recommend_filter))
  // -- payloads with handles, and the handles that cross nodes (interfaces.hpp) ---------
  CAF_ADD_TYPE_ID(recd, (recd::partition_map))
  CAF_ADD_TYPE_ID(recd, (recd::shard_join))
  CAF_ADD_TYPE_ID(recd, (recd::run_progress_sink))
  CAF_ADD_TYPE_ID(recd, (recd::part_progress_sink))
  CAF_ADD_TYPE_ID(recd, (recd::factor_share))
  CAF_ADD_TYPE_ID(recd, (recd::als_mesh))
  CAF_ADD_TYPE_ID(recd, (recd::factor_sink))
  CAF_ADD_TYPE_ID(recd, (recd::embedding_worker_actor))
  CAF_ADD_TYPE_ID(recd, (recd::shard_actor))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::shard_actor>))
  CAF_ADD_TYPE_ID(recd, (recd::map_subscriber))
  CAF_ADD_TYPE_ID(recd, (recd::coordinator_actor))
  // -- the catalog (messages.hpp) ----------------------------------------------------------
  CAF_ADD_TYPE_ID(recd, (recd::item_write))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::item_write>))
  CAF_ADD_TYPE_ID(recd, (std::vector<std::string>))
  // -- local only: never sent to another node (protocol/local_reply.hpp) ----------------
  CAF_ADD_TYPE_ID(recd, (recd::local_reply<std::string>))
  CAF_ADD_TYPE_ID(recd, (recd::local_reply<std::int64_t>))
  // -- item pages and sessions (messages.hpp) ------------------------------------------
  CAF_ADD_TYPE_ID(recd, (recd::scored_item))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::scored_item>))
  CAF_ADD_TYPE_ID(recd, (recd::item_relations))
  CAF_ADD_TYPE_ID(recd, (recd::item_vector))
  CAF_ADD_TYPE_ID(recd, (std::vector<recd::item_vector>))
  CAF_ADD_TYPE_ID(recd, (recd::item_query))
  CAF_ADD_TYPE_ID(recd, (recd::session_query))
  // -- operations (the admin port's commands) ------------------------------------
  // -- batch ingestion (messages.hpp) --------------------------------------------------
  CAF_ADD_TYPE_ID(recd, (recd::item_vectors))
  CAF_ADD_TYPE_ID(recd, (recd::event_batch))
  CAF_ADD_TYPE_ID(recd, (recd::batch_receipt))
  CAF_ADD_TYPE_ID(recd, (recd::applied_batch))
  // (std::vector<std::string>, which batches carry too, is registered with the catalog.)
  // -- new items in the embedding space (messages.hpp) ---------------------------------
  CAF_ADD_TYPE_ID(recd, (recd::taste_vectors))
  CAF_ADD_TYPE_ID(recd, (recd::item_folds))
  // -- similarity runs read and exchanged by the shards (interfaces.hpp) ----------------
  CAF_ADD_TYPE_ID(recd, (recd::pair_batch))
  CAF_ADD_TYPE_ID(recd, (recd::similarity_plan))
  CAF_ADD_TYPE_ID(recd, (recd::similarity_worker_actor))
  // -- replicated partitions: the partitions a shard recalls for (nearest_atom) --------
  CAF_ADD_TYPE_ID(recd, (std::vector<std::uint64_t>))

CAF_END_TYPE_ID_BLOCK(recd)

namespace recd {

// Registers the block above and recd's error category.
void add_message_types(caf::actor_system_config& cfg);

} // namespace recd
