#pragma once
// The coordinator lease (sql/006_coordinator_lease.sql): which coordinator
// replica leads, under which term, and where nodes reach it. All calls BLOCK.
//
// Contract:
// - acquire() takes the lease only when nobody holds it (no row, or the row's
//   lease expired by PostgreSQL's clock); the new term is the old one + 1.
// - renew() extends the lease of `term` and fails once another term took it.
//   It commits without waiting for the WAL flush (synchronous_commit off), so
//   a slow disk does not depose a healthy leader; acquire() and release()
//   commit durably.
// - release() ends the lease of `term` at once (a graceful stop), so a
//   standby need not wait for it to expire.
// - fence() is called inside a write transaction of the leader: it locks the
//   row FOR SHARE and throws `fenced` unless the term is still `term`. A
//   takeover (an UPDATE of the row) waits for such a transaction to end, and
//   every transaction after it sees the new term: a deposed leader's writes
//   never commit after a new leader took over. Call it last, just before the
//   commit: the leader's own renewal is an UPDATE of the row too, so a fence
//   taken before a long write (the embeddings' UPDATE of every user, a
//   publish waiting for its table lock) would block the renewal for as long,
//   and a leader that cannot renew for two thirds of its lease exits
//   (nodes/leadership.hpp). Work done before the fence is rolled back with
//   the transaction when it throws.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace recd::store {

struct lease_holder {
  std::string holder;  // the replica's name
  std::string address; // host:port of its actor port
  std::int64_t term = 0;
  bool expired = false;
  // The leader's wire version (protocol/version.hpp) and release; 0 and ""
  // for a leader of a release before sql/007.
  std::uint32_t wire_version = 0;
  std::string release;
};

struct fenced : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The new term, or nullopt while another replica's lease runs. The lease
// records the taker's wire version and release.
std::optional<std::int64_t> acquire_lease(pqxx::connection& c, const std::string& holder,
                                          const std::string& address, std::int32_t lease_ms,
                                          std::uint32_t wire_version, const std::string& release);

// False once `term` is no longer the lease's term.
bool renew_lease(pqxx::connection& c, std::int64_t term, std::int32_t lease_ms);

void release_lease(pqxx::connection& c, std::int64_t term);

// The current lease, or nullopt if no coordinator ever led.
std::optional<lease_holder> read_lease(pqxx::connection& c);

// Job kinds with runs left 'running' by an older leader (a term in 1..term-1).
std::vector<std::string> orphaned_run_kinds(pqxx::connection& c, std::int64_t term);

// The application_name of a leader's job sessions (the job driver's, which
// holds each running job's advisory lock): "recd-coordinator-term-<term>".
std::string job_session_name(std::int64_t term);

// Ends the job sessions of every term before `term` (pg_terminate_backend):
// a deposed leader that is frozen (SIGSTOP, a paused VM) keeps its sessions
// and the advisory locks of its running jobs, which would refuse the new
// leader's redo as "already running". Its writes are fenced anyway. The
// sessions ended.
std::int64_t end_job_sessions_of_older_terms(pqxx::connection& c, std::int64_t term);

// Throws `fenced` unless `term` leads (term 0: a coordinator without
// replicas, never fenced).
void fence(pqxx::work& tx, std::int64_t term);

} // namespace recd::store
