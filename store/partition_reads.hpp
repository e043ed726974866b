#pragma once
// What a shard reads of its partitions (actors/shard_loader.cpp): the rows a
// snapshot is built from, a published run's rows, one item, and the behaviors
// a move's snapshot missed. A user or item belongs to partition id % count;
// `partitions` are numbers below `count` (protocol/limits.hpp checked them).
// All calls BLOCK and throw on SQL errors (callers wrap them in store::guard).
//
// The functions taking a transaction read inside the caller's snapshot
// (read_in_one_snapshot), each streaming its rows to a callback in the order
// it names, so that the caller builds its structures without a second copy.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "config/settings.hpp"
#include "engine/types.hpp"
#include "protocol/messages.hpp"

namespace recd::store {

// Runs `reads` in one REPEATABLE READ, READ ONLY transaction on `c` and
// commits it: every read inside sees the same snapshot of the database.
void read_in_one_snapshot(pqxx::connection& c,
                          const std::function<void(pqxx::transaction_base&)>& reads);

// Where the snapshot stands in user_behavior.
struct behavior_head {
  std::int64_t max_id = 0; // the newest row id it holds (0: none)
  std::int64_t now = 0;    // the transaction's time, whole Unix seconds
};
behavior_head read_behavior_head(pqxx::transaction_base& tx);

// Calls `row(id, user_owned, item_owned)` for every behavior row with
// id > floor, in id order: whether its user, and its item, is of `partitions`.
void read_tail_owners(pqxx::transaction_base& tx, std::int64_t floor,
                      const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                      const std::function<void(std::int64_t, bool, bool)>& row);

// Calls `item(details)` for every catalog row (store/catalog.hpp) of the
// partitions' items, in no particular order.
void read_partition_items(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                          std::uint32_t count, const std::function<void(item_details&&)>& item);

// Calls `row(item, popularity)` for the partitions' items with behaviors in
// the last 90 days: the sum of their behaviors' weights (cfg's
// view/click/cart/buy weights), each scaled by 2^((t - at) / half-life) with
// half-life cfg.popularity_half_life_days and t the behavior's time (`at`:
// whole Unix seconds, so that partitions loaded at other times can be
// rescaled exactly). In no particular order.
void read_item_popularity(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                          std::uint32_t count, const recommend_settings& cfg, std::int64_t at,
                          const std::function<void(item_id, double)>& row);

// Calls `row(event, row_id)` for every behavior with id <= max_row of the
// partitions' users, by user, then time, then id.
void read_user_histories(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                         std::uint32_t count, std::int64_t max_row,
                         const std::function<void(const behavior_event&, std::int64_t)>& row);

// Calls `row(id, other, score)` for the rows of `kind`'s published table
// (store/job_tables.hpp) whose id is of `partitions`: by id, then score
// descending, then the other id.
void read_similarity_rows(pqxx::transaction_base& tx, job_kind kind,
                          const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                          const std::function<void(std::int32_t, std::int32_t, float)>& row);

enum class catalog_side { items, users };

// Calls `row(id, embedding)` (PostgreSQL's real[] text) for the items or
// users of `partitions` that have a published embedding, in id order.
void read_published_embeddings(pqxx::transaction_base& tx, catalog_side side,
                               const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                               const std::function<void(std::int32_t, std::string_view)>& row);

// One item's catalog row and its published embedding ("" for none, else
// PostgreSQL's real[] text); nullopt for an unknown item. Its own read-only
// transaction.
struct item_with_embedding {
  item_details details;
  std::string embedding;
};
std::optional<item_with_embedding> find_item_with_embedding(pqxx::connection& c, item_id item);

// The behaviors with id > since of the partitions' users or items, in id
// order (what a moved partition's snapshot did not hold). Its own read-only
// transaction.
struct behavior_tail {
  std::vector<std::int64_t> ids;
  std::vector<behavior_event> events; // events[k] is row ids[k]
};
behavior_tail read_behaviors_after(pqxx::connection& c, std::int64_t since,
                                   const std::vector<std::uint32_t>& partitions,
                                   std::uint32_t count);

} // namespace recd::store
