#pragma once
// The coordinator's state and the steps it is made of, shared by its files:
//   coordinator.cpp        the actor: membership, the job queue, polling
//   coordinator_map.cpp    the partition map: balanced assignment, flips,
//                          persistence, reconciliation with the shards
//   coordinator_moves.cpp  moving partitions to a new assignment
//   coordinator_operations.cpp  the admin port's check and cache flush
// (actors/coordinator.hpp has the protocol and the contract.)

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/coordinator.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

inline constexpr auto load_timeout = std::chrono::seconds{7200};
inline constexpr auto job_timeout = std::chrono::seconds{86400};
// After all API actors confirmed a new map: time for requests sent by the old
// map to arrive before the old owners forget the moved partitions.
inline constexpr auto drop_grace = std::chrono::milliseconds{500};

struct member {
  std::string name;
  shard_actor shard;    // invalid once the shard is gone
  std::string address;  // host:port where API nodes dial it ("" for local shards)
  bool leaving = false; // stopping: its partitions move to the others first
  std::vector<caf::typed_response_promise<bool>> left; // answered once it owns nothing
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordinator_options opt;
  std::vector<member> members;
  std::vector<std::int32_t> owner;       // partition -> member index, -1 unassigned
  std::uint64_t epoch = 0;
  bool moving = false;                   // a rebalance is loading partitions
  bool again = false;                    // membership changed during the move
  bool deferred = false;                 // a rebalance waits for the running job
  // After a restart: the shard names of the persisted map, awaited until the deadline.
  std::vector<std::string> rejoin_expected;
  std::chrono::steady_clock::time_point rejoin_deadline{};
  // Drops due once every API actor routes by the map of an epoch: per shard,
  // the partitions that map gives to others.
  std::map<std::uint64_t, std::vector<std::pair<shard_actor, std::vector<std::uint32_t>>>> drops;
  // Run when that actor goes down: fails requests it may never answer.
  std::map<std::uint64_t, std::pair<caf::actor_addr, std::function<void()>>> on_down;
  std::uint64_t next_watch = 0;
  std::vector<map_subscriber> subscribers; // API actors
  run_watcher_actor watcher;
  job_driver_actor driver;
  std::vector<std::int64_t> published;   // newest run id per kind, as served
  bool job_running = false;
  bool polling = false;
  std::vector<std::function<void()>> ready_waiters; // run at the next flip that leaves the map ready
  std::vector<std::function<void()>> after_move;    // run when no move is in progress

  std::vector<std::int32_t> alive() const {
    std::vector<std::int32_t> out;
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].shard)
        out.push_back(static_cast<std::int32_t>(m));
    return out;
  }

  // The members partitions may move to: alive and not leaving.
  std::vector<std::int32_t> targets() const {
    auto out = alive();
    std::erase_if(out, [&](std::int32_t m) { return members[static_cast<std::size_t>(m)].leaving; });
    return out;
  }

  // Answers the leave requests of members that own nothing any more.
  void release_leavers() {
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].leaving && partitions_of_member(static_cast<std::int32_t>(m)).empty())
        for (auto& rp : std::exchange(members[m].left, {}))
          rp.deliver(true);
  }

  // Every partition has a live, loaded owner (a move may be under way).
  bool ready() const {
    if (owner.empty())
      return false;
    for (auto m : owner)
      if (m < 0 || !members[static_cast<std::size_t>(m)].shard)
        return false;
    return true;
  }

  bool in_rejoin_grace() const {
    if (std::chrono::steady_clock::now() >= rejoin_deadline)
      return false;
    for (const auto& name : rejoin_expected)
      if (std::none_of(members.begin(), members.end(),
                       [&](const member& m) { return m.name == name && m.shard; }))
        return true;
    return false;
  }

  // A map as API actors see it: live shards and an index per partition.
  partition_map routing(std::uint64_t at, const std::vector<std::int32_t>& assignment) const {
    std::vector<shard_actor> shards;
    std::vector<std::int32_t> slot(members.size(), -1);
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].shard) {
        slot[m] = static_cast<std::int32_t>(shards.size());
        shards.push_back(members[m].shard);
      }
    std::vector<std::uint32_t> index(assignment.size(), no_shard);
    for (std::size_t p = 0; p < assignment.size(); ++p)
      if (assignment[p] >= 0 && slot[static_cast<std::size_t>(assignment[p])] >= 0)
        index[p] = static_cast<std::uint32_t>(slot[static_cast<std::size_t>(assignment[p])]);
    return {at, std::move(shards), std::move(index)};
  }

  // The current map.
  partition_map current_map() const { return routing(epoch, owner); }

  std::vector<shard_actor> live_shards() const {
    std::vector<shard_actor> out;
    for (const auto& m : members)
      if (m.shard)
        out.push_back(m.shard);
    return out;
  }

  std::vector<std::uint32_t> partitions_of_member(std::int32_t m) const {
    std::vector<std::uint32_t> out;
    for (std::size_t p = 0; p < owner.size(); ++p)
      if (owner[p] == m)
        out.push_back(static_cast<std::uint32_t>(p));
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

// coordinator_operations.cpp, for the admin port:
// JSON of every live shard's held partitions, users and items (check_atom).
caf::typed_response_promise<std::string> shard_holdings(coordinator_self* self);
// Every subscribed API actor forgets cached answers of `user` (all if < 0);
// JSON: API actors, those flushed, Redis keys deleted, errors (flush_atom).
caf::typed_response_promise<std::string> flush_caches(coordinator_self* self, std::int32_t user);

} // namespace recd::coordination
