#pragma once
// job_driver: a detached actor (own thread, own PostgreSQL connection) that
// runs one offline job over the shards and publishes its result atomically.
//
// Its messages: job_driver_actor in protocol/interfaces.hpp.
//
// Steps: take the job's advisory lock (one run of a kind at a time across the
// cluster), record the run in job_runs, load the input with COPY, send each
// shard its task (shards compute the rows of the partitions they own, in
// parallel), then publish: similarity rows are written by the shards into a
// staging table that replaces the live table by renames inside one
// transaction; embeddings are written with one UPDATE ... FROM in one
// transaction. On any failure nothing is published and the run is marked
// failed. The listener (may be invalid) receives (progress_atom, run_progress)
// about twice a second.

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// `term` > 0: runs are recorded under that coordinator term and published
// only while it leads (store/leadership.hpp: fence).
job_driver_actor spawn_job_driver(caf::actor_system& sys, std::string postgres_url, settings cfg,
                                  std::int64_t term = 0);

} // namespace recd
