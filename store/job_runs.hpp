#pragma once
// A job run's record in job_runs and the advisory lock that allows one run of
// a kind at a time across the cluster (the job driver: actors/job_driver_runs.cpp).
// All calls BLOCK and throw on SQL errors (callers wrap them in store::guard).
//
// Contract:
// - The lock is PostgreSQL's session-level advisory lock on the connection
//   given: start_run() and release_run_lock() must use the same connection,
//   which stays open for the whole run.
// - A run is 'running' from start_run() until record_run_failed() or the
//   publish (store/job_results.hpp) marks it 'failed' or 'published'.

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "protocol/messages.hpp"

namespace recd::store {

// The advisory lock key of a kind: "recdjob\0" + the kind's number.
inline std::int64_t job_lock_key(job_kind k) {
  return 0x72656364'6a6f6200 + static_cast<std::int64_t>(k);
}

// Takes the kind's lock without waiting. Once held, ends the runs of the kind
// left 'running' by a process that died (holding the lock proves them dead:
// 'failed', error "abandoned: its process stopped", their staging tables
// dropped) and records a new 'running' run under coordinator term `term`.
// Answers its run id, or nullopt (nothing written) while another session
// holds the lock. Each statement commits on its own.
std::optional<std::int64_t> start_run(pqxx::connection& c, job_kind kind, std::int64_t term);

// Drops `staging` ("" = none; a name from staging_table(), never from a
// message) and marks the run 'failed' with `error`. Each statement commits on
// its own.
void record_run_failed(pqxx::connection& c, std::int64_t run_id, const std::string& error,
                       const std::string& staging);

// Releases the kind's lock (a no-op when this session does not hold it).
void release_run_lock(pqxx::connection& c, job_kind kind);

// Marks the run 'published' with its row count, inside the publishing
// transaction `tx` (it commits with the result).
void record_run_published(pqxx::work& tx, std::int64_t run_id, std::int64_t rows);

} // namespace recd::store
