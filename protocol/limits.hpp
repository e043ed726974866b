#pragma once
// The bounds every actor checks a message against before acting on it. A
// message beyond them did not come from recd (or from a misconfigured node)
// and is refused with ec::invalid_argument; nothing changes. The numbers are
// far above what any setting produces (config/settings.cpp validates the same
// bounds), so a legitimate peer never meets them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "protocol/messages.hpp"

namespace recd {
struct similarity_plan; // protocol/interfaces.hpp (it carries handles)
struct als_mesh;        // protocol/interfaces.hpp (it carries handles)
} // namespace recd

namespace recd::limits {

constexpr std::uint32_t max_partitions = 65536;      // cluster.partitions
constexpr std::int32_t max_seeds = 10000;             // recent items / similar users per request
constexpr std::int32_t max_per_route = 10000;         // candidates per route per shard
constexpr std::size_t max_exclude = 100000;           // items one recall request may exclude
constexpr std::size_t max_vector_dim = 4096;          // embedding.dim
constexpr std::int32_t max_cg_steps = 64;             // embedding.cg_steps
constexpr std::size_t max_details = 10000;            // items per details request
constexpr std::size_t max_name = 128;                 // a shard node's name
constexpr std::size_t max_address = 300;              // host:port
constexpr std::size_t max_api_nodes = 4096;           // API nodes a shard admits
constexpr std::size_t max_session_items = 100;        // items in one POST /api/recommend session
constexpr std::size_t max_partners = 1000;            // co-buy partners in one co_bought message
// Catalog metadata (item_details, users' labels): what the API accepts and
// what may cross nodes.
constexpr std::size_t max_title = 1000;               // bytes of an item title
constexpr std::size_t max_categories = 32;            // categories of one item
constexpr std::size_t max_labels = 64;                // labels of one item or user
constexpr std::size_t max_tag = 100;                  // bytes of one category or label
constexpr std::size_t max_item_batch = 10000;         // items of one write (POST /api/items)

constexpr std::size_t max_batch_events = 100000;     // events of one batch message

// Bulk transfers (protocol/bulk.hpp): one value at most this large, and at most
// this many bytes held per sending node before its value is used or expires.
constexpr std::uint64_t max_bulk_bytes = std::uint64_t{4} << 30;      // 4 GiB
constexpr std::uint64_t max_bulk_in_flight = std::uint64_t{8} << 30;  // per sender node

// Each returns an error naming what is wrong, or none.
caf::error check_partitions(const std::vector<std::uint32_t>& partitions, std::uint32_t count);
caf::error check_partition_count(std::uint32_t count);
caf::error check_event(const behavior_event& e);
caf::error check_recall(const recall_request& req);
// recall_request::serve (and nearest_atom's): at most max_partitions bits.
caf::error check_serve_set(const std::vector<std::uint64_t>& serve);
caf::error check_seed_counts(std::int32_t recent, std::int32_t similar);
caf::error check_node_name(const std::string& name);
caf::error check_address(const std::string& address);
caf::error check_job_kind(job_kind kind);
// One category or label: 1..max_tag bytes of valid UTF-8 without control characters.
caf::error check_tag(const std::string& tag, const char* what);
// A list of categories or labels: at most `max` distinct tags, each checked.
caf::error check_tags(const std::vector<std::string>& tags, std::size_t max, const char* what);
// An item's catalog metadata as it crosses nodes or enters through the API:
// non-negative id, title within max_title, finite non-negative price, bounded
// categories and labels, an availability window that is not inverted.
caf::error check_item_details(const item_details& d);
// A batch of committed events for a shard: sizes match, every event valid,
// vectors of at most max_vector_dim.
caf::error check_applied_batch(const applied_batch& batch);
// Users whose tastes are asked for: at most max_batch_events, none negative.
caf::error check_taste_users(const std::vector<user_id>& users);
// Folds for items' shards: sizes match (at most max_batch_events), ids of
// items >= 0, known kinds, every taste 1..max_vector_dim finite values.
caf::error check_item_folds(const item_folds& folds);
// Decoded job inputs: every index in range, every array of its stated size,
// so kernels can trust them (engine/ code does not re-check).
caf::error check_graph(const engine::bipartite& g);
caf::error check_similarity_task(const similarity_task& task);
caf::error check_embedding_task(const embedding_task& task);
// A similarity run's exchange (similarity_plan, pair_batch): at most this many
// pairs in one piece (1 MiB), received by one shard in one run, candidate
// items, shards in one run, bytes of a snapshot id.
constexpr std::size_t max_pair_batch = 131072;
constexpr std::uint64_t max_exchange_pairs = max_bulk_bytes / 8;
constexpr std::size_t max_candidates = 1u << 24;
constexpr std::size_t max_run_shards = 4096;
constexpr std::size_t max_snapshot_id = 64;
// A plan: a positive run of a similarity kind, known measure and options in
// range, a snapshot id of [0-9A-F-] only (it is spliced into SET TRANSACTION
// SNAPSHOT), at least one behavior kind, ascending non-negative candidates,
// partitions below the count, 1..max_run_shards valid peers.
caf::error check_similarity_plan(const similarity_plan& plan);
// A piece: a positive run, as many rows as columns, at most max_pair_batch,
// no negative id.
caf::error check_pair_batch(const pair_batch& batch);
// Item pages and sessions: a count of items asked for (0..max_per_route), a
// query vector (at most max_vector_dim), an exclusion list and partner list.
caf::error check_item_count(std::int32_t k);
caf::error check_nearest(const std::vector<float>& vec, std::int32_t k,
                         const std::vector<item_id>& exclude);
caf::error check_partners(item_id item, const std::vector<item_id>& partners);
// An ALS run's workers (als_mesh): a positive run, 1..max_als_steps
// half-steps, 1..max_run_shards valid workers, one address (at most
// max_address bytes) per worker.
constexpr std::uint32_t max_als_steps = 2 * 100000;
caf::error check_als_mesh(const als_mesh& mesh);
// A worker's share of a half-step (factor_block): rows x dim values, every
// row below `rows` (the fixed side's size), none twice.
caf::error check_factor_block(const factor_block& block, std::size_t rows, std::int32_t dim);

// A recommend request's filters (recommend_filter): what GET
// /api/recommend accepts and what an API actor takes from any sender.
constexpr std::size_t max_request_exclude = 500;      // ids in ?exclude= (a cart, a page shown)
constexpr std::int32_t max_offset = 900;              // offset + limit stays within 1000
constexpr std::size_t max_category = 100;             // bytes of ?category= (as a catalog tag)
caf::error check_recommend_filter(const recommend_filter& f);

} // namespace recd::limits
