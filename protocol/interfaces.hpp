#pragma once
// What each of recd's actors accepts: one typed interface per role, every
// handler with its contract. The compiler checks each actor's behaviour
// against its interface and every send and request against the receiver's,
// so this file is the whole protocol, read top to bottom (payloads in
// messages.hpp, atoms in atoms.hpp, bounds in limits.hpp).
//
// Marks: [C] control, accepted only from the followed coordinator's node or
// the actor's own node; [S] serving, only from API nodes subscribed to that
// coordinator (or those two nodes); [self] a reminder the actor sends itself,
// refused from anyone else; [local] never sent by another node (the handle
// never leaves its process); [parent] only from the actor that spawned it.
// Every message is checked (actors/trust.hpp, protocol/limits.hpp) before it
// acts; a refused one is answered with ec::refused and logged.
//
// An actor handle received in a message is only as trustworthy as its sender:
// CAF deserializes a typed handle without checking the remote actor's
// interface, so a handle only ever serves to send to (never to authorize).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/atoms.hpp"
#include "protocol/bulk.hpp"
#include "protocol/local_reply.hpp"
#include "protocol/messages.hpp"

namespace recd {

// ---- Reply sinks ---------------------------------------------------------------

// Whoever follows a job run (`recd compute`'s progress printer): about twice a second.
using run_progress_sink = caf::typed_actor<
  caf::reacts_to<progress_atom, run_progress>>;

// A job driver gathering its parts' progress (sent by similarity workers).
using part_progress_sink = caf::typed_actor<
  caf::reacts_to<part_progress_atom, part_progress>>;

// The receiver of a bulk value (protocol/bulk.hpp): one chunk, kept in its
// bulk_inbox under (sender's node, transfer id); false never happens, an
// invalid or excess chunk is refused.
using bulk_sink = caf::typed_actor<
  caf::replies_to<bulk_atom, bulk_chunk>::with<bool>>;

// ---- Job workers (spawned by a shard for one run) ----------------------------------

// One ALS half-step's share of a worker: its own rows of the step's fixed
// side (a factor_block over the run's dense indices), sent before in bulk
// chunks and named by `block`. Half-step s solves the users when s is even
// (the items fixed), the items when odd (the users fixed).
struct factor_share {
  std::int64_t run_id = 0;
  std::uint32_t step = 0;
  bulk_handle block;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, factor_share& x) {
  return f(caf::meta::type_name("factor_share"), x.run_id, x.step, x.block);
}

// An ALS worker as the other workers of its run see it (docs/cluster.md, "Jobs
// on a cluster"): they exchange the fixed side's rows directly, never through
// the job driver. [run peers] only from another worker of the run
// (als_mesh::workers), for the run in progress there, for its current or next
// half-step, one share per peer and step, the block's chunks first (bulk_sink,
// from the same peers only); every row in range and received exactly once
// over all peers -> true once kept.
using factor_sink = bulk_sink::extend<
  caf::replies_to<factors_atom, factor_share>::with<bool>>;

// The workers of one ALS run, sent by the job driver to each of them.
struct als_mesh {
  std::int64_t run_id = 0;
  std::uint32_t steps = 0;              // half-steps: 2 x embedding.iterations
  std::vector<factor_sink> workers;     // every worker of the run, this one included
  // workers[k]'s shard's actor address (host:port) as it joined, "" for a
  // shard of the driver's own node: a worker dials the shard nodes of the
  // peers after it there (one side of each pair dials), so that shares go
  // straight between shard nodes and never through a third node.
  std::vector<std::string> addresses;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, als_mesh& x) {
  return f(caf::meta::type_name("als_mesh"), x.run_id, x.steps, x.workers, x.addresses);
}

// One ALS run's rows of a shard: it keeps only its own users' and items'
// factors. [C] from the job driver's node, each command once, in order.
using embedding_worker_actor = factor_sink::extend<
  // [C] (mesh) -> true: connect to the run's other workers (dial the shard
  // nodes of those after this one); once, before the first half-step.
  caf::replies_to<mesh_atom, als_mesh>::with<bool>,
  // [C] (run, half-step) -> rows solved: send the own rows of the step's
  // fixed side to every peer, take theirs, compute the Gram matrix of the
  // whole fixed side and solve the own rows of the other side. Steps 0, 1, ...
  caf::replies_to<solve_atom, std::int64_t, std::uint32_t>::with<std::uint64_t>,
  // [C] (run) -> rows written: after the last half-step, COPY the own users'
  // and items' factors into the run's staging table (one transaction).
  caf::replies_to<stage_atom, std::int64_t>::with<std::uint64_t>>;

// A similarity run's exchange (docs/cluster.md, "Jobs on a cluster"): each
// shard sends the input rows it read to every other shard of the run.
// [shard peers of the run] only from a node of the run's shards
// (similarity_plan::peers), for the run in progress there; pieces in order,
// each within limits::check_pair_batch -> true once kept.
using pairs_sink = caf::typed_actor<
  caf::replies_to<pairs_atom, pair_batch>::with<bool>>;

// What one shard does in a similarity run, sent by the job driver (which
// plans, while the shards read and exchange the input themselves).
struct similarity_plan {
  std::int64_t run_id = 0;
  job_kind kind = job_kind::item_similarity;
  // The driver's exported snapshot (pg_export_snapshot): every shard reads in it.
  std::string snapshot;
  std::uint8_t behaviors = 0;          // bit k: behavior_kind k is read (at least one)
  bool windowed = false;               // only behaviors after window_since
  std::int64_t window_since = 0;       // microseconds since the Unix epoch
  bool active_only = false;            // user side: only users with a behavior after active_since
  std::int64_t active_since = 0;       // microseconds since the Unix epoch
  std::vector<item_id> candidates;     // item side: the candidate items (best sellers), ascending
  std::vector<std::uint32_t> reads;    // the partitions whose rows this shard reads
  std::uint32_t partition_count = 0;
  std::vector<pairs_sink> peers;       // every shard of the run, this one included
  // peers[k]'s actor address (host:port) as it joined, "" for a shard of the
  // driver's own node: a peer on another node is dialed there before the
  // exchange, so pieces go straight to it and never through a third node.
  std::vector<std::string> peer_addresses;
  // How rows are scored (as similarity_task).
  std::uint8_t measure = 0;
  std::int32_t min_common = 0;
  double min_score = 0;
  std::int32_t top_k = 0;
  double regularization = 0;
  std::int32_t max_column_rows = 0;    // engine::similarity_options::max_column_rows
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, similarity_plan& x) {
  return f(caf::meta::type_name("similarity_plan"), x.run_id, x.kind, x.snapshot, x.behaviors,
           x.windowed, x.window_since, x.active_only, x.active_since, x.candidates, x.reads,
           x.partition_count, x.peers, x.peer_addresses, x.measure, x.min_common, x.min_score,
           x.top_k, x.regularization, x.max_column_rows);
}

// One similarity run of a shard, spawned by it with the plan.
using similarity_worker_actor = pairs_sink::extend<
  // [parent] -> (rows, pairs): import the plan's snapshot and read the input
  // rows of the plan's partitions (distinct rows, distinct pairs).
  caf::replies_to<work_atom>::with<std::uint64_t, std::uint64_t>,
  // [C] (progress sink) -> (rows computed, result rows written): send the rows
  // read to every peer, take theirs, build the whole graph, compute the rows of
  // the partitions the shard owns and COPY them into the run's staging table in
  // one transaction. Sent once every shard of the run has read.
  caf::replies_to<gather_atom, part_progress_sink>::with<std::uint64_t, std::uint64_t>>;

// ---- Shard loader (one per shard, same node, blocking on PostgreSQL) ------------------

// Local-only payloads: the loaded state is handed over by pointer.
struct shard_snapshot;
struct neighbour_update;
struct embedding_update;
using shard_snapshot_ptr = std::shared_ptr<shard_snapshot>;
using neighbour_update_ptr = std::shared_ptr<neighbour_update>;
using embedding_update_ptr = std::shared_ptr<embedding_update>;

// [parent] every handler.
using shard_loader_actor = caf::typed_actor<
  // (partitions, partition count) -> everything the shard serves for them.
  caf::replies_to<snapshot_atom, std::vector<std::uint32_t>, std::uint32_t>::with<
    shard_snapshot_ptr>,
  // (kind, partitions, count) -> the newest published run of `kind` for them:
  // neighbours for the similarity kinds, embeddings for embeddings (the other null).
  caf::replies_to<read_run_atom, job_kind, std::vector<std::uint32_t>, std::uint32_t>::with<
    neighbour_update_ptr, embedding_update_ptr>,
  // An item added to the catalog after the load -> its details and embedding; not_found.
  caf::replies_to<lookup_atom, item_id>::with<item_details, std::vector<float>>,
  // (partitions, count, since id) -> the behaviors of those partitions committed
  // after row `since` (a move's snapshot): their ids and events, in id order.
  caf::replies_to<tail_atom, std::vector<std::uint32_t>, std::uint32_t, std::int64_t>::with<
    std::vector<std::int64_t>, std::vector<behavior_event>>,
  // (since) -> (the items of every partition changed after catalog epoch
  // `since`, the users erased after it, the catalog epoch of that snapshot).
  caf::replies_to<catalog_since_atom, std::uint64_t>::with<std::vector<item_details>,
                                                           std::vector<user_id>, std::uint64_t>>;

// ---- Shard ------------------------------------------------------------------------

// Owns the users and items of some partitions and serves from memory. A
// request for a user or item of a partition it does not hold is answered
// with ec::shard_unavailable (an API node with an old map degrades).
using shard_actor = bulk_sink::extend_with<pairs_sink>::extend<
  // [C] (partitions, partition count, map epoch) -> (users, items): load (the
  // first time) or add partitions for the map of `epoch`; refused for an epoch
  // older than the newest flip.
  caf::replies_to<load_atom, std::vector<std::uint32_t>, std::uint32_t, std::uint64_t>::with<
    std::uint64_t, std::uint64_t>,
  // [C] (epoch, owned): the map flipped; serve `owned`, catch up the landed ones.
  caf::reacts_to<flip_atom, std::uint64_t, std::vector<std::uint32_t>>,
  // [C] (partitions, epoch) -> true: forget those on standby that the map of
  // `epoch` gives away; never one the newest flip gives to this shard.
  caf::replies_to<drop_atom, std::vector<std::uint32_t>, std::uint64_t>::with<bool>,
  // [C] -> the partitions this shard holds (for a restarted coordinator).
  caf::replies_to<held_atom>::with<std::vector<std::uint32_t>>,
  // [C] (partitions, count): own them without loading (`recd compute`'s shards).
  caf::reacts_to<own_atom, std::vector<std::uint32_t>, std::uint32_t>,
  // [C] (node): an API actor of that node subscribed; it may send [S] requests.
  caf::reacts_to<admit_atom, caf::node_id>,
  // [C] (kind) -> whether anything was installed: serve a newly published run.
  caf::replies_to<reload_atom, job_kind>::with<bool>,
  // [C] (plan) -> (its worker, rows read, pairs read): a similarity run. The
  // worker has read the plan's partitions when this answers; pairs_atom from
  // the run's peers go on to it (see pairs_sink).
  caf::replies_to<similarity_atom, similarity_plan>::with<similarity_worker_actor, std::uint64_t,
                                                          std::uint64_t>,
  // [C] (task handle) -> an ALS worker for the owned rows of the embedding task.
  caf::replies_to<embedding_atom, bulk_handle>::with<embedding_worker_actor>,
  // [local] (node): follow the coordinator of that node; only this node says so.
  caf::reacts_to<controller_atom, caf::node_id>,
  // [S] (user, recent, similar) -> step 1 of a recommendation.
  caf::replies_to<context_atom, user_id, std::int32_t, std::int32_t>::with<user_context>,
  // [S] (user) -> (behaviors seen, catalog changes known): guard cached answers.
  caf::replies_to<version_atom, user_id>::with<std::uint64_t, std::uint64_t>,
  // [S] step 2: candidates from owned seeds and items.
  caf::replies_to<recall_atom, recall_request>::with<std::vector<candidate>>,
  // [S] step 3: details of owned items (at most limits::max_details).
  caf::replies_to<details_atom, std::vector<item_id>>::with<std::vector<item_details>>,
  // [S] (item) -> its embedding: validates an item before its behavior is written.
  caf::replies_to<item_atom, item_id>::with<std::vector<float>>,
  // [S] (event, row id, item embedding) -> the user's new version: user side of a committed event.
  caf::replies_to<apply_user_atom, behavior_event, std::int64_t, std::vector<float>>::with<
    std::uint64_t>,
  // [S] (event, row id) -> true: item side of a committed event.
  caf::replies_to<apply_item_atom, behavior_event, std::int64_t>::with<bool>,
  // -> (users, items) in memory.
  caf::replies_to<counts_atom>::with<std::uint64_t, std::uint64_t>,
  // -> the first load finished.
  caf::replies_to<ready_atom>::with<bool>,
  // [S] (items, epoch) -> true: catalog changes committed at `epoch` (item
  // writes): owned items take the new details (an owned new item is added),
  // every item's serving window is kept (recall drops unservable items).
  caf::replies_to<catalog_atom, std::vector<item_details>, std::uint64_t>::with<bool>,
  // [S] (user, epoch) -> true: the user was erased at `epoch`: its record and
  // every mention of it as another user's similar user are forgotten.
  caf::replies_to<erase_atom, user_id, std::uint64_t>::with<bool>,
  // [self] every catalog poll: read the changes a push did not bring.
  caf::reacts_to<catalog_poll_atom>,
  // Item pages and sessions (actors/shard_widgets.cpp):
  // [S] (item, k) -> its published neighbours and live co-buy partners (at
  // most k each, limits::max_per_route) and its embedding; not_found for an
  // item the catalog lacks (looked up in the database once, as item_atom).
  caf::replies_to<relations_atom, item_id, std::int32_t>::with<item_relations>,
  // [S] (unit vector, k, exclude (sorted), serve) -> at most k held items of
  // the partitions `serve` names (recall_request::serve; empty: those the
  // last flip gave it) nearest to the vector (HNSW), best first.
  caf::replies_to<nearest_atom, std::vector<float>, std::int32_t, std::vector<item_id>,
                  std::vector<std::uint64_t>>::with<std::vector<scored_item>>,
  // [S] (user, item, row id) -> the items the user first bought just before
  // row `row` (at most recommend.co_bought_recent, newest first): empty unless
  // `row` is the user's first buy of `item`. Sent after the row was applied.
  caf::replies_to<partners_atom, user_id, item_id, std::int64_t>::with<std::vector<item_id>>,
  // [S] (item, partners) -> true: a user who had bought `partners` bought
  // `item`; each held side of each pair counts one more co-buyer.
  caf::replies_to<co_bought_atom, item_id, std::vector<item_id>>::with<bool>,
  // [S] (items, at most limits::max_details) -> the unit embeddings of those
  // held here that have one.
  caf::replies_to<vectors_atom, std::vector<item_id>>::with<std::vector<item_vector>>,
  // [S] (items, at most limits::max_batch_events) -> those of them it holds in
  // memory, with their embeddings; the others are left out (not held, or added to
  // the catalog after the load: the writer checks those in the database).
  caf::replies_to<item_vectors_atom, std::vector<item_id>>::with<item_vectors>,
  // [S] committed events whose user it serves (or will, during a move) -> how many
  // it applied or kept for replay: the user side of a batch (apply_user_atom's work).
  caf::replies_to<apply_users_atom, applied_batch>::with<std::uint64_t>,
  // [S] committed events whose item it serves -> how many: the item side of a batch.
  caf::replies_to<apply_items_atom, applied_batch>::with<std::uint64_t>,
  // New items in the embedding space (actors/api_fold.cpp):
  // [S] (users, at most limits::max_batch_events) -> the taste vectors of
  // those it holds that have one. Sent after their behaviors' apply messages.
  caf::replies_to<tastes_atom, std::vector<user_id>>::with<taste_vectors>,
  // [S] committed behaviors on items without a published embedding, with
  // their users' tastes (limits::check_item_folds) -> how many it folded (or
  // kept for a loading partition's replay): each held item without a
  // published embedding folds the taste into its vector and its HNSW entry;
  // items with a published embedding are left alone.
  caf::replies_to<fold_items_atom, item_folds>::with<std::uint64_t>>;

// ---- Cross-node tuples with handles ---------------------------------------------------

// A partition map as the coordinator pushes it to API actors.
struct partition_map {
  std::uint64_t epoch = 0;
  std::vector<shard_actor> shards;      // the live shards of this map
  std::vector<std::uint32_t> owner;     // partition -> index into shards, or no_shard
  // cluster.replicas = 2: partition -> the shard holding its replica (index
  // into shards, or no_shard), never its owner; empty with one holder per
  // partition. A replica applies every event of its partition and serves
  // reads while its owner is lost; jobs compute on owners only.
  std::vector<std::uint32_t> replica;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_map& x) {
  return f(caf::meta::type_name("partition_map"), x.epoch, x.shards, x.owner, x.replica);
}

// A shard node joining the coordinator with its own shard.
struct shard_join {
  std::string name;                     // stable across restarts (limits::check_node_name)
  shard_actor shard;                    // must live on the joining node
  std::string address;                  // host:port API nodes dial
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_join& x) {
  return f(caf::meta::type_name("shard_join"), x.name, x.shard, x.address);
}

// ---- API actors, as the coordinator sees them --------------------------------------------

// [C] from the coordinator it subscribed to.
using map_subscriber = caf::typed_actor<
  // -> true: this node routes by the map (or a newer one) from now on.
  caf::replies_to<map_atom, partition_map>::with<bool>,
  // -> true: a move starts; committed events go to the next owners of their
  // partitions too, until the map of that epoch arrives.
  caf::replies_to<move_atom, partition_map>::with<bool>,
  // (user, or -1 for all) -> Redis keys deleted: forget cached answers, in
  // this node's near cache and in Redis (recd admin cache flush).
  caf::replies_to<forget_atom, std::int32_t>::with<std::uint64_t>>;

// ---- Coordinator's local helpers ---------------------------------------------------

// The coordinator's database questions. [local]
using run_watcher_actor = caf::typed_actor<
  // -> newest published run id per job_kind (0 = none).
  caf::replies_to<published_atom>::with<std::vector<std::int64_t>>,
  // -> JSON: the seed's counts plus the last runs per kind.
  caf::replies_to<stats_atom>::with<std::string>,
  // -> (epoch, shard name per partition): the persisted partition map.
  caf::replies_to<load_map_atom>::with<std::uint64_t, std::vector<std::string>>,
  // (epoch, shard name per partition) -> true: persisted in one transaction.
  caf::replies_to<save_map_atom, std::uint64_t, std::vector<std::string>>::with<bool>>;

// Runs one job over the shards and publishes it atomically. Progress comes
// from similarity workers (of the current run only); nothing else but the
// run command: the ALS factors stay with the shards' workers.
using job_driver_actor = part_progress_sink::extend<
  // [local] (kind, listener (may be invalid), live shards, their actor
  // addresses ("" for a local shard)) -> the run's summary.
  caf::replies_to<run_atom, job_kind, run_progress_sink, std::vector<shard_actor>,
                  std::vector<std::string>>::with<job_summary>>;

// ---- Coordinator --------------------------------------------------------------------------

using coordinator_actor = caf::typed_actor<
  // A shard node joins with its own shard, under a name no live shard of
  // another node holds -> the partition count.
  caf::replies_to<join_atom, shard_join>::with<std::uint32_t>,
  // An API actor of the sending node subscribes: it gets the map now (if
  // complete) and on every change, and its node is admitted to the shards.
  caf::reacts_to<subscribe_atom, map_subscriber>,
  // (shard name) -> true once it owns nothing: only from that shard's node.
  caf::replies_to<leave_atom, std::string>::with<bool>,
  // -> every partition is served by a live shard.
  caf::replies_to<ready_atom>::with<bool>,
  // -> JSON of the map, with each shard's address (recd admin cluster, API dialers).
  caf::replies_to<cluster_atom>::with<std::string>,
  // -> the epoch: force a rebalance.
  caf::replies_to<rebalance_atom>::with<std::uint64_t>,
  // (kinds, listener) -> one summary per kind: run the jobs in order.
  caf::replies_to<compute_atom, std::vector<job_kind>, run_progress_sink>::with<
    std::vector<job_summary>>,
  // -> JSON: database counts, last jobs, map.
  caf::replies_to<stats_atom>::with<std::string>,
  // [S] (user) -> JSON as cache_flush's: a user was erased; every subscribed API
  // actor forgets every cached answer (near caches and Redis), since other
  // users' answers may name it as a similar user.
  caf::replies_to<erased_atom, user_id>::with<std::string>,
  // [local] -> JSON of each live shard's held partitions, users and items
  // (recd admin check compares them with PostgreSQL).
  caf::replies_to<check_atom>::with<std::string>,
  // [local] (user, or -1 for all) -> JSON: API actors told, keys deleted,
  // errors: every subscribed API actor forgets cached answers.
  caf::replies_to<cache_flush_atom, std::int32_t>::with<std::string>,
  // [self] every jobs.poll_seconds: published runs, reconciliation.
  caf::reacts_to<poll_atom>,
  // [self] rebalance: the rejoin grace after a restart ended, or a move
  // changed or failed and the map needs another one.
  caf::reacts_to<regroup_atom>,
  // [self] (epoch) every API routes by the map of `epoch`: drop what moved away.
  caf::reacts_to<drop_due_atom, std::uint64_t>,
  // [self] a job redo waits for a ready map.
  caf::reacts_to<redo_atom>,
  // [self] jobs.interval_seconds passed: run every job.
  caf::reacts_to<scheduled_atom>>;

// ---- API actor -------------------------------------------------------------------------------

// Serves recommend and behavior requests (actors/api.hpp for the steps).
using api_actor = map_subscriber::extend<
  // (user, limit, use cache, filters) -> the JSON response body; the node's
  // business rules apply (docs/rules.md).
  caf::replies_to<recommend_atom, user_id, std::int32_t, bool, recommend_filter>::with<std::string>,
  // [local] the same, answered through `reply` (the HTTP gateway).
  caf::reacts_to<recommend_local_atom, user_id, std::int32_t, bool, recommend_filter,
                 local_reply<std::string>>,
  // (event, event id or "") -> the committed row id; a repeated event id
  // answers the first row id and changes nothing.
  caf::replies_to<behavior_atom, behavior_event, std::string>::with<std::int64_t>,
  // [local] the same, answered through `reply`.
  caf::reacts_to<behavior_local_atom, behavior_event, std::string, local_reply<std::int64_t>>,
  // -> the JSON of /api/stats.
  caf::replies_to<stats_atom>::with<std::string>,
  // [self] expire request deadlines.
  caf::reacts_to<deadline_atom>,
  // [local] follow a (restarted) coordinator.
  caf::reacts_to<follow_atom, coordinator_actor>,
  // [local] (writes) -> the stored items, all or nothing: durable, then
  // pushed to every shard (actors/api_catalog.cpp).
  caf::replies_to<items_write_atom, std::vector<item_write>>::with<std::vector<item_details>>,
  // [local] (item) -> its stored details; not_found.
  caf::replies_to<item_get_atom, item_id>::with<item_details>,
  // [local] (user, labels) -> JSON of the stored user.
  caf::replies_to<user_put_atom, user_id, std::vector<std::string>>::with<std::string>,
  // [local] (user) -> JSON of the stored user; not_found.
  caf::replies_to<user_get_atom, user_id>::with<std::string>,
  // [local] (user) -> JSON of what was erased: rows, every shard, every cache.
  caf::replies_to<user_erase_atom, user_id>::with<std::string>,
  // [local] item pages and sessions (actors/api_widgets.cpp), answered
  // through `reply` with the JSON body: an item's similar items,
  caf::reacts_to<similar_local_atom, item_query, local_reply<std::string>>,
  // its also-bought items (live buy co-occurrence),
  caf::reacts_to<also_bought_local_atom, item_query, local_reply<std::string>>,
  // a visitor's session recommendation (nothing stored).
  caf::reacts_to<session_local_atom, session_query, local_reply<std::string>>,
  // [local] (events, event ids or "" per event, reply): POST /api/behaviors, all or
  // nothing -> the JSON answer body (per-event row ids, duplicates).
  caf::reacts_to<behaviors_local_atom, std::vector<behavior_event>, std::vector<std::string>,
                 local_reply<std::string>>>;

// ---- The API node's local helpers ------------------------------------------------------------------

// Commits behavior events (group commit). [local]
using behavior_writer_actor = caf::typed_actor<
  // (event, check item, event id, deadline ns) -> (row id, fresh): fresh is
  // false for a repeated event id (the first event's row id).
  caf::replies_to<write_atom, behavior_event, bool, std::string, std::int64_t>::with<
    std::int64_t, bool>,
  // [self] commit what queued meanwhile.
  caf::reacts_to<flush_atom>,
  // (batch) -> per event its row id and freshness: one transaction, all or nothing;
  // not_found naming the event ("events[i]: ...") if a checked item is unknown.
  caf::replies_to<write_batch_atom, event_batch>::with<batch_receipt>>;

// The catalog's PostgreSQL writes and reads (store/catalog.hpp). [local]
using catalog_writer_actor = caf::typed_actor<
  // (writes) -> the stored items with their catalog epoch, in one transaction.
  caf::replies_to<items_write_atom, std::vector<item_write>>::with<std::vector<item_details>>,
  caf::replies_to<item_get_atom, item_id>::with<item_details>,
  caf::replies_to<user_put_atom, user_id, std::vector<std::string>>::with<std::string>,
  caf::replies_to<user_get_atom, user_id>::with<std::string>,
  // (user) -> (catalog epoch of the erasure, JSON of the rows deleted).
  caf::replies_to<erase_rows_atom, user_id>::with<std::uint64_t, std::string>>;

// The Redis recommendation cache; never fails a request. [local]
using cache_actor = caf::typed_actor<
  // (user) -> the cached body, "" on a miss or when Redis is down.
  caf::replies_to<cache_get_atom, user_id>::with<std::string>,
  // (user, body): SETEX with the configured TTL.
  caf::reacts_to<cache_put_atom, user_id, std::string>,
  // (user) -> false if Redis could not be told.
  caf::replies_to<cache_del_atom, user_id>::with<bool>,
  // (users): delete their entries, one DEL per chunk of keys (a batch's users).
  caf::reacts_to<cache_dels_atom, std::vector<user_id>>,
  // [local] -> keys deleted: every cached answer (SCAN + DEL).
  caf::replies_to<cache_clear_atom>::with<std::uint64_t>,
  // -> JSON: hits, misses, errors, degraded.
  caf::replies_to<stats_atom>::with<std::string>>;

// Connects an API node to every live shard node directly. [local]
using shard_dialer_actor = caf::typed_actor<
  // Follow a restarted coordinator.
  caf::reacts_to<follow_atom, coordinator_actor>,
  // -> the map is ready and every live shard node is connected: /readyz.
  caf::replies_to<ready_atom>::with<bool>,
  // [self] once a second: dial the shard nodes not connected yet.
  caf::reacts_to<poll_atom>>;

// ---- The admin node's local helpers ------------------------------------------------------

// The admin dashboard's database question (nodes/dashboard.hpp). [local]
using dashboard_reader_actor = caf::typed_actor<
  // (item, limit) -> JSON: the item and its published neighbours, best first.
  caf::replies_to<neighbours_atom, item_id, std::int32_t>::with<std::string>>;

// ---- Views: what a caller needs of several roles -----------------------------------------

// /readyz asks a node's coordinator, shard or dialer (each converts to it).
using readiness_probe = caf::typed_actor<
  caf::replies_to<ready_atom>::with<bool>>;

} // namespace recd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::shard_snapshot_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::neighbour_update_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::embedding_update_ptr)
