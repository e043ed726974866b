#pragma once
// Coordinator replicas (docs/cluster.md, "Coordinator replicas"). Every
// coordinator node is a replica; the one holding the lease in PostgreSQL
// (store/leadership.hpp) leads: it runs the coordinator actor and opens the
// actor port. The others stand by, answer /healthz 200 and /readyz 503, and
// try to take the lease every lease_ms / 6. Shard and API nodes find the
// leader's address in the lease (connect_coordinator).
//
// A leader that cannot renew its lease (another term took it, or PostgreSQL
// did not confirm a renewal within lease_ms) exits at once with status 3,
// before a standby can lead: its supervisor restarts it as a standby. Its
// writes that were under way are fenced by the term in PostgreSQL, and the
// shards and API nodes follow the new leader's node only (actors/trust.hpp).

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/settings.hpp"
#include "protocol/messages.hpp"

namespace recd {

// Where other nodes reach this node's actor port (cluster.advertise, else bind:port).
std::string advertised_address(const settings& cfg);

// What a standby replica reports as its readiness to replace the leader
// (GET /readyz/replica, the chart's readiness probe of coordinator pods):
// nullopt while it could lead, else why not. A standby of another wire
// version than the leader's must not replace it in a rolling update: it
// reports so, and the StatefulSet's rollout stops at it (docs/cluster.md,
// "Upgrades").
class standby_status {
public:
  std::optional<std::string> blocker() const;
  void set_blocker(std::optional<std::string> why);

private:
  mutable std::mutex mutex_;
  std::optional<std::string> blocker_ = std::string{"the lease has not been read yet"};
};

// Blocks until this replica holds the lease, trying every lease_ms / 6; its
// term, or nullopt once a stop signal arrived. Keeps `status` up to date.
std::optional<std::int64_t> await_lease(const settings& cfg, const std::string& holder,
                                        sigset_t& signals, standby_status& status);

// This build's release ("0.1.0"), as the lease records it.
std::string release_name();

// Why this node cannot talk to the leading coordinator, if the lease says it
// speaks another wire version (protocol/version.hpp); nullopt otherwise (also
// when no lease or no PostgreSQL can be read).
std::optional<std::string> wire_refusal(const settings& cfg);

// The kinds of job runs that an older term left running (its leader died
// mid-run): the new leader redoes them.
std::vector<job_kind> orphaned_runs(const settings& cfg, std::int64_t term);

// Ends the job sessions older terms left open in PostgreSQL (a frozen
// deposed leader's, holding its running jobs' advisory locks), so that the
// new leader can redo those jobs. Logged; failures only logged.
void end_older_terms_sessions(const settings& cfg, std::int64_t term);

// Renews the lease of `term` on a thread of its own every lease_ms / 3.
class lease_renewal {
public:
  lease_renewal(const settings& cfg, std::int64_t term);
  ~lease_renewal();
  lease_renewal(const lease_renewal&) = delete;
  lease_renewal& operator=(const lease_renewal&) = delete;
  // Stops renewing and ends the lease at once (a graceful stop), so a
  // standby leads without waiting for it to expire.
  void release();

private:
  void run();
  void stop_thread();

  settings cfg_;
  std::int64_t term_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// The leader's actor port per the lease in PostgreSQL, or nullopt (no lease
// yet, or PostgreSQL unreachable).
std::optional<std::string> leader_address(const settings& cfg);

// What to dial to reach the leader among `replicas`: the lease's address
// alone when there is a lease (a standby has no port open, and a frozen old
// leader would accept a connection and never answer), else every replica in
// turn.
std::vector<std::string> leader_candidates(const settings& cfg,
                                           const std::vector<std::string>& replicas);

} // namespace recd
