#pragma once
// api: serves recommend and behavior requests by talking to the shards. Its
// messages: api_actor in protocol/interfaces.hpp.
//
// A recommendation: cache lookup (valid only if the user's version on its
// shard is unchanged; a shard of this process vouches for its users' answers
// without a message, and the HTTP threads serve those: local_answers.hpp) -> user context from the user's shard -> recall on every
// shard (item CF, user CF, vector, popular) -> merge, exclude bought (and the
// request's exclusions), rank -> item details from the owning shards -> the
// request's category and the node's business rules (docs/rules.md) -> the
// page at the request's offset -> cache store (unfiltered requests only). A shard that misses its
// deadline is skipped (the answer is degraded, not failed). If it is the user's own shard, the
// user's bought (and with exclude_seen touched) items come from PostgreSQL (history_reader)
// instead; if those cannot be read in time either, the answer is ec::history_unavailable
// (503), never a list that might hold a bought item.
//
// A behavior: the item's shard validates the item -> the behavior_writer
// commits the row -> the user's and item's shards apply it (during a move,
// the next owners as well) -> the user's cache entry is deleted -> reply.
// Nothing is applied in memory unless committed.
//
// A catalog write (api_catalog.cpp): the catalog_writer commits it at a new
// catalog epoch -> every shard is pushed the change -> reply. Cached answers
// carry the catalog epoch of the user's shard and are served only while it
// is unchanged.

#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/api_metrics.hpp"
#include "actors/behavior_writer.hpp"
#include "actors/cache.hpp"
#include "actors/history_reader.hpp"
#include "actors/local_answers.hpp"
#include "actors/rules_book.hpp"
#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

struct api_deps {
  coordinator_actor coordinator;
  cache_actor cache;
  behavior_writer_actor writer;
  std::shared_ptr<writer_gate> gate; // shared with `writer`: bounds its queue
  std::shared_ptr<api_metrics> metrics;
  catalog_writer_actor catalog;      // the catalog's writes (actors/catalog_writer.hpp); may be
                                     // invalid (recd eval): catalog routes then fail
  std::shared_ptr<rules_book> rules;  // the node's business rules; null = none
  history_reader_actor history;      // a user's bought items from PostgreSQL when their shard
                                     // fails (actors/history_reader.hpp); if invalid, such
                                     // answers are ec::history_unavailable
  std::shared_ptr<local_answers> answers; // the node's answers its HTTP threads serve
                                          // (actors/local_answers.hpp); null = none
};

api_actor spawn_api(caf::actor_system& sys, settings cfg, api_deps deps);

} // namespace recd
