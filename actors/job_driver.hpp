#pragma once
// job_driver: a detached actor (own thread, own PostgreSQL connection) that
// runs one offline job over the shards and publishes its result atomically.
//
//   (compute_atom, job_kind, listener, shards) -> job_summary   (shards: the live ones now)
//
// Steps: take the job's advisory lock (one run of a kind at a time across the
// cluster), record the run in job_runs, load the input with COPY, send each
// shard its task (shards compute the rows of the partitions they own, in
// parallel), then publish: similarity rows are written by the shards into a
// staging table that replaces the live table by renames inside one
// transaction; embeddings are written with one UPDATE ... FROM in one
// transaction. On any failure nothing is published and the run is marked
// failed. The listener (may be invalid) receives
//   (progress_atom, job_kind, done, total, result_rows)
// about twice a second.

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

caf::actor spawn_job_driver(caf::actor_system& sys, std::string postgres_url, settings cfg);

} // namespace recd
