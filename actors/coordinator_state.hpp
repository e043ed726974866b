#pragma once
// The coordinator's state and the steps it is made of, shared by its files:
//   partition_table.hpp    the partition map's data and rules (members, owners,
//                          epoch, balance and stickiness, readiness, rejoin
//                          grace, routing, holdings checks): plain C++, no I/O
//   coordinator.cpp        the actor: membership messages, polling
//   coordinator_jobs.cpp   the job queue: a request's jobs in two lanes at once
//   coordinator_map.cpp    telling the map: flips to shards and API actors,
//                          persistence, reconciliation requests to the shards
//   coordinator_moves.cpp  moving partitions to a new assignment
//   coordinator_operations.cpp  the admin port's check and cache flush
// The state below adds to the table what only an actor has: the shards'
// handles, pending requests and timers.
// (actors/coordinator.hpp has the protocol and the contract.)

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/partition_table.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

inline constexpr auto load_timeout = std::chrono::seconds{7200};
inline constexpr auto job_timeout = std::chrono::seconds{86400};
// After all API actors confirmed a new map: time for requests sent by the old
// map to arrive before the old owners forget the moved partitions.
inline constexpr auto drop_grace = std::chrono::milliseconds{500};

// How the coordinator reaches member m of its partition table (links[m]).
struct member_link {
  shard_actor shard; // invalid once the shard is gone (then the member is not alive)
  std::vector<caf::typed_response_promise<bool>> left; // answered once it owns nothing
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordinator_options opt;
  partition_table table;                 // members, owners, epoch, rejoin grace
  std::vector<member_link> links;        // per member of `table`, same index
  bool moving = false;                   // a rebalance is loading partitions
  bool again = false;                    // membership changed during the move
  // Joined shards whose answer to "what do you hold" has not come in yet: no
  // move is planned meanwhile (its claim would be ignored during the move,
  // and a plan made without it moves away what it still serves).
  std::size_t claims_pending = 0;
  bool deferred = false;                 // a rebalance waits for the running job
  // Drops due once every API actor routes by the map of an epoch: per shard,
  // the partitions that map gives to others.
  std::map<std::uint64_t, std::vector<std::pair<shard_actor, std::vector<std::uint32_t>>>> drops;
  // Run when that actor goes down: fails requests it may never answer.
  std::map<std::uint64_t, std::pair<caf::actor_addr, std::function<void()>>> on_down;
  std::uint64_t next_watch = 0;
  std::vector<map_subscriber> subscribers; // API actors
  run_watcher_actor watcher;
  job_driver_actor driver;               // the similarity kinds' runs
  job_driver_actor embedding_driver;     // embeddings runs, beside them (coordinator_jobs.cpp)
  std::vector<std::int64_t> published;   // newest run id per kind, as served
  bool job_running = false;
  bool polling = false;
  // Run once the map is complete again: at a flip that leaves it ready, or
  // when a rebalance finds it complete with nothing to move (shards that
  // rejoin still holding their partitions).
  std::vector<std::function<void()>> ready_waiters;
  std::vector<std::function<void()>> after_move;    // run when no move is in progress

  // Every partition has a live owner (and there is a shard at all).
  bool map_complete() const { return table.ready() && !table.alive().empty(); }

  // Runs the waiters for a complete map, if it is.
  void release_ready_waiters() {
    if (map_complete())
      for (auto& waiter : std::exchange(ready_waiters, {}))
        waiter();
  }

  // `shard` is up as member `name`: the table's member (new or its old
  // number back) and its link. The table and the links change together, so
  // a member is alive exactly while its link holds a shard.
  member_index join_shard(const std::string& name, const std::string& address, shard_actor shard) {
    auto m = table.join(name, address);
    if (links.size() <= static_cast<std::size_t>(m))
      links.resize(static_cast<std::size_t>(m) + 1);
    links[static_cast<std::size_t>(m)].shard = std::move(shard);
    return m;
  }

  // Member m's shard went down; its pending leave requests are dropped.
  void lose_shard(member_index m) {
    auto& link = links[static_cast<std::size_t>(m)];
    link.shard = shard_actor{};
    link.left.clear();
    table.lose(m);
  }

  const shard_actor& shard_of(member_index m) const {
    return links[static_cast<std::size_t>(m)].shard;
  }

  // Answers the leave requests of members that own nothing any more.
  void release_leavers() {
    for (auto m : table.done_leaving())
      for (auto& rp : std::exchange(links[static_cast<std::size_t>(m)].left, {}))
        rp.deliver(true);
  }

  // A map as API actors see it: live shards and an index per partition (of
  // its owner, and of its replica when there are two).
  partition_map routing(std::uint64_t at, const std::vector<member_index>& assignment,
                        const std::vector<member_index>& replicas) const {
    auto route = table.routing(assignment, replicas);
    std::vector<shard_actor> shards;
    shards.reserve(route.shards.size());
    for (auto m : route.shards)
      shards.push_back(shard_of(m));
    return {at, std::move(shards), std::move(route.owner), std::move(route.replica)};
  }

  // The current map.
  partition_map current_map() const {
    return routing(table.epoch(), table.owners(), table.replica_holders());
  }

  std::vector<shard_actor> live_shards() const {
    std::vector<shard_actor> out;
    for (auto m : table.alive())
      out.push_back(shard_of(m));
    return out;
  }

  // live_shards()' actor addresses, in the same order ("" for a local shard).
  std::vector<std::string> live_shard_addresses() const {
    std::vector<std::string> out;
    for (auto m : table.alive())
      out.push_back(table.member(m).address);
    return out;
  }
};

using coordinator_self = coordinator_actor::stateful_base<coordinator_state>;

// Errors that mean a shard went away during a request (its node died or
// was cut off), as opposed to a failure of the job itself.
bool lost_shard(const caf::error& err);

// Tells every subscribed API actor `map` (map_atom: it is the map now;
// move_atom: a move to it starts) and calls `done` once all have answered (or
// failed to within a few seconds: a node that is gone or cut off must not
// hold the cluster up).
enum class map_news { flipped, moving };
void tell_apis(coordinator_self* self, map_news news, const partition_map& map,
               std::function<void()> done);

// Writes the map and its epoch to PostgreSQL (cluster mode only).
void persist_map(coordinator_self* self);

// The map changed: a new epoch goes to PostgreSQL, to every live shard (what it
// owns now) and to every API actor. Once all API actors route by it, after a
// grace period for requests still in flight, shards drop what they do not own.
void flip_map(coordinator_self* self);

// Moves partitions to the balanced assignment without stopping service:
//  1. announce the next map to the API actors, which from then on apply each
//     committed event on the old and the new owner of its partition;
//  2. once all have confirmed, the new owners load what they gain: their
//     snapshot holds every event the old owner alone received;
//  3. flip the map at a new epoch (flip_map), then drop.
void start_rebalance(coordinator_self* self);

// Asks every live shard what it holds and repairs the difference with the
// map: partitions the map gives a shard that it does not hold (lost, for
// whatever reason) move again (reassigned and loaded like any move), and
// partitions it holds that the map gives elsewhere are dropped. Runs with
// every poll, only on a settled map (no move, no job, no drop pending).
void reconcile(coordinator_self* self);

// The running job ended: a rebalance that waited for it starts.
void job_finished(coordinator_self* self);

// Reads job_runs and has the shards reload what was published since.
void poll(coordinator_self* self);

// coordinator_jobs.cpp: runs `kinds` (checked) and answers `rp` with their
// summaries in the same order, or the first error. Sets job_running until
// every job ended.
void start_jobs(coordinator_self* self, const std::vector<job_kind>& kinds,
                const run_progress_sink& listener,
                caf::typed_response_promise<std::vector<job_summary>> rp);

// coordinator_operations.cpp, for the admin port:
// JSON of every live shard's held partitions, users and items (check_atom).
caf::typed_response_promise<std::string> shard_holdings(coordinator_self* self);
// Every subscribed API actor forgets cached answers of `user` (all if < 0);
// JSON: API actors, those flushed, Redis keys deleted, errors (flush_atom).
caf::typed_response_promise<std::string> flush_caches(coordinator_self* self, std::int32_t user);

} // namespace recd::coordination
