#pragma once
// recd's atoms: one per message. Each atom names exactly one message (one
// argument list and one reply) in protocol/interfaces.hpp, where every
// handler is listed with its contract; tests/protocol_test.cpp checks that no
// atom heads two different signatures.
//
// Atom text: at most 10 characters of [A-Za-z0-9_ ] (other characters
// silently become 0 in CAF 0.17), and unique: two atoms with the same text
// would be the same type.

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

// -- serving (API actors, shards) ---------------------------------------------
CAF_ADD_ATOM(recd, recd, recommend_atom, "recommend")
CAF_ADD_ATOM(recd, recd, recommend_local_atom, "rec_local")
CAF_ADD_ATOM(recd, recd, behavior_atom, "behavior")
CAF_ADD_ATOM(recd, recd, behavior_local_atom, "beh_local")
CAF_ADD_ATOM(recd, recd, context_atom, "context")
CAF_ADD_ATOM(recd, recd, version_atom, "version")
CAF_ADD_ATOM(recd, recd, recall_atom, "recall")
CAF_ADD_ATOM(recd, recd, details_atom, "details")
CAF_ADD_ATOM(recd, recd, item_atom, "item")
CAF_ADD_ATOM(recd, recd, apply_user_atom, "apply_user")
CAF_ADD_ATOM(recd, recd, apply_item_atom, "apply_item")
CAF_ADD_ATOM(recd, recd, counts_atom, "counts")
CAF_ADD_ATOM(recd, recd, stats_atom, "stats")
CAF_ADD_ATOM(recd, recd, ready_atom, "ready")
CAF_ADD_ATOM(recd, recd, deadline_atom, "deadline")
// -- the behavior writer and the cache (local) ----------------------------------
CAF_ADD_ATOM(recd, recd, write_atom, "write")
CAF_ADD_ATOM(recd, recd, flush_atom, "flush")
CAF_ADD_ATOM(recd, recd, cache_get_atom, "cache_get")
CAF_ADD_ATOM(recd, recd, cache_put_atom, "cache_put")
CAF_ADD_ATOM(recd, recd, cache_del_atom, "cache_del")
CAF_ADD_ATOM(recd, recd, cache_clear_atom, "cacheclear")
CAF_ADD_ATOM(recd, recd, forget_atom, "forget")
// -- partitions: map pushes, moves, loading ----------------------------------------
CAF_ADD_ATOM(recd, recd, map_atom, "map")
CAF_ADD_ATOM(recd, recd, move_atom, "move")
CAF_ADD_ATOM(recd, recd, load_atom, "load")
CAF_ADD_ATOM(recd, recd, flip_atom, "flip")
CAF_ADD_ATOM(recd, recd, drop_atom, "drop")
CAF_ADD_ATOM(recd, recd, held_atom, "held")
CAF_ADD_ATOM(recd, recd, own_atom, "own")
CAF_ADD_ATOM(recd, recd, reload_atom, "reload")
// -- the shard loader (local) ------------------------------------------------------
CAF_ADD_ATOM(recd, recd, snapshot_atom, "snapshot")
CAF_ADD_ATOM(recd, recd, read_run_atom, "read_run")
CAF_ADD_ATOM(recd, recd, lookup_atom, "lookup")
CAF_ADD_ATOM(recd, recd, tail_atom, "tail")
// -- cluster membership -----------------------------------------------------------
CAF_ADD_ATOM(recd, recd, join_atom, "join")
CAF_ADD_ATOM(recd, recd, follow_atom, "follow")
CAF_ADD_ATOM(recd, recd, controller_atom, "controller")
CAF_ADD_ATOM(recd, recd, leave_atom, "leave")
CAF_ADD_ATOM(recd, recd, subscribe_atom, "subscribe")
CAF_ADD_ATOM(recd, recd, admit_atom, "admit")
CAF_ADD_ATOM(recd, recd, cluster_atom, "cluster")
CAF_ADD_ATOM(recd, recd, rebalance_atom, "rebalance")
// -- the operator's commands (admin port) -------------------------------------------
CAF_ADD_ATOM(recd, recd, check_atom, "check")
CAF_ADD_ATOM(recd, recd, cache_flush_atom, "cacheflush")
// -- the coordinator's reminders to itself ------------------------------------------
CAF_ADD_ATOM(recd, recd, poll_atom, "poll")
CAF_ADD_ATOM(recd, recd, regroup_atom, "regroup")
CAF_ADD_ATOM(recd, recd, drop_due_atom, "drop_due")
CAF_ADD_ATOM(recd, recd, redo_atom, "redo")
CAF_ADD_ATOM(recd, recd, scheduled_atom, "scheduled")
// -- the coordinator's database questions (run watcher, local) -----------------------
CAF_ADD_ATOM(recd, recd, published_atom, "published")
CAF_ADD_ATOM(recd, recd, load_map_atom, "load_map")
CAF_ADD_ATOM(recd, recd, save_map_atom, "save_map")
// -- jobs ---------------------------------------------------------------------------
CAF_ADD_ATOM(recd, recd, compute_atom, "compute")
CAF_ADD_ATOM(recd, recd, run_atom, "run")
CAF_ADD_ATOM(recd, recd, progress_atom, "progress")
CAF_ADD_ATOM(recd, recd, part_progress_atom, "part_prog")
CAF_ADD_ATOM(recd, recd, similarity_atom, "similarity")
CAF_ADD_ATOM(recd, recd, embedding_atom, "embedding")
CAF_ADD_ATOM(recd, recd, work_atom, "work")
CAF_ADD_ATOM(recd, recd, mesh_atom, "als_mesh")
CAF_ADD_ATOM(recd, recd, solve_atom, "als_solve")
CAF_ADD_ATOM(recd, recd, factors_atom, "als_factor")
CAF_ADD_ATOM(recd, recd, stage_atom, "als_stage")
CAF_ADD_ATOM(recd, recd, bulk_atom, "bulk")
CAF_ADD_ATOM(recd, recd, gather_atom, "gather")
CAF_ADD_ATOM(recd, recd, pairs_atom, "pairs")
// -- the admin dashboard's database question (local) ----------------------------------
CAF_ADD_ATOM(recd, recd, neighbours_atom, "neighbours")
// -- item pages and sessions (similar, also bought, POST /api/recommend) ---------------
CAF_ADD_ATOM(recd, recd, relations_atom, "relations")
CAF_ADD_ATOM(recd, recd, nearest_atom, "nearest")
CAF_ADD_ATOM(recd, recd, partners_atom, "partners")
CAF_ADD_ATOM(recd, recd, co_bought_atom, "co_bought")
CAF_ADD_ATOM(recd, recd, vectors_atom, "vectors")
CAF_ADD_ATOM(recd, recd, similar_local_atom, "similar_l")
CAF_ADD_ATOM(recd, recd, also_bought_local_atom, "alsobought")
CAF_ADD_ATOM(recd, recd, session_local_atom, "session_l")
// -- node helpers (nodes/) -------------------------------------------------------------
CAF_ADD_ATOM(recd, recd, stop_atom, "stop")
// -- the catalog (items and users managed through the API) ----------------------------
CAF_ADD_ATOM(recd, recd, catalog_atom, "catalog")
CAF_ADD_ATOM(recd, recd, erase_atom, "erase")
CAF_ADD_ATOM(recd, recd, catalog_poll_atom, "cat_poll")
CAF_ADD_ATOM(recd, recd, catalog_since_atom, "cat_since")
CAF_ADD_ATOM(recd, recd, items_write_atom, "items_put")
CAF_ADD_ATOM(recd, recd, item_get_atom, "item_get")
CAF_ADD_ATOM(recd, recd, user_put_atom, "user_put")
CAF_ADD_ATOM(recd, recd, user_get_atom, "user_get")
CAF_ADD_ATOM(recd, recd, user_erase_atom, "user_erase")
CAF_ADD_ATOM(recd, recd, erase_rows_atom, "erase_rows")
CAF_ADD_ATOM(recd, recd, erased_atom, "erased")
// -- batch ingestion (POST /api/behaviors) -----------------------------------------------
CAF_ADD_ATOM(recd, recd, behaviors_local_atom, "behs_local")
CAF_ADD_ATOM(recd, recd, item_vectors_atom, "item_vecs")
CAF_ADD_ATOM(recd, recd, apply_users_atom, "apply_usrs")
CAF_ADD_ATOM(recd, recd, apply_items_atom, "apply_itms")
CAF_ADD_ATOM(recd, recd, write_batch_atom, "write_many")
CAF_ADD_ATOM(recd, recd, cache_dels_atom, "cache_dels")
// -- new items in the embedding space (actors/api_fold.cpp) ------------------------------
CAF_ADD_ATOM(recd, recd, tastes_atom, "tastes")
CAF_ADD_ATOM(recd, recd, fold_items_atom, "fold_items")
