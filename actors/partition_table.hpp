#pragma once
// The partition map as data and rules: which shard (member) owns each of the
// P partitions, at which epoch, and what follows when shards join, leave or
// die. Plain C++ (no CAF, no I/O, no clock), so it is unit-testable; the
// coordinator (actors/coordinator*.cpp) keeps the messaging, persistence and
// timing around it and is the only one that touches it.
//
// Members are numbered in the order they first joined; a shard that rejoins
// under its name takes its old number back, so the numbers in the owner
// vector stay valid across a shard's restart.
//
// With two replicas (cluster.replicas = 2) each partition also has a replica
// holder, never its owner: it loads the partition, applies its events and
// serves it while the owner is lost. A lost owner's partitions are promoted
// to their replicas at once (promote); a move then places new replicas.
// Owner and replica are the partition's holders; a member drops only what it
// holds in neither role.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp" // no_shard

namespace recd {

// A member's number in a partition_table; no_member: a partition nobody owns.
using member_index = std::int32_t;
inline constexpr member_index no_member = -1;

// Balanced, sticky assignment: `current[p]` is the member owning p or
// no_member; the members partitions may go to are `alive`. Returns the new
// owner of every partition (no_member for all if `alive` is empty). Balanced:
// sizes differ by at most one. Sticky: a partition of an alive member moves
// only if that member holds more than its share; the remainder of P / n goes
// to the members that hold most already, so the fewest partitions move.
// `prefer[p]` (may be empty) names a member that already holds p (its
// replica): a member below its share takes those first, so an owner moves
// by a change of roles instead of a load.
std::vector<member_index> rebalance(const std::vector<member_index>& current,
                                    const std::vector<member_index>& alive,
                                    const std::vector<member_index>& prefer = {});

// A replica holder for each partition that has an owner in `owner`: a member
// of `alive` other than the owner, or no_member with fewer than two members.
// Balanced: a member holds (owns or replicates) at most ceil(2 x owned / n)
// partitions, so the members' memory stays even. Sticky: the current replica
// stays, else the partition's previous owner (`before`, it holds the data)
// takes it, within that cap; the rest go round the members from the owner's.
std::vector<member_index> place_replicas(const std::vector<member_index>& owner,
                                         const std::vector<member_index>& current,
                                         const std::vector<member_index>& before,
                                         const std::vector<member_index>& alive);

struct partition_member {
  std::string name;     // stable across restarts
  std::string address;  // host:port where API nodes dial it ("" for local shards)
  bool alive = false;   // joined and not lost since
  bool leaving = false; // stopping: its partitions move to the others first
};

// A change from the current assignment to the balanced one.
struct partition_move {
  std::vector<member_index> next;                           // owner of each partition after it
  std::vector<member_index> next_replica;                   // replica of each after it
  std::vector<member_index> before, replica_before;         // the holders it was planned from
  std::map<member_index, std::vector<std::uint32_t>> gains; // what each new holder loads
  bool changed = false;                                     // next differs from the holders now
};

// What a member holds, compared with what the map gives it.
struct holdings_repair {
  std::vector<std::uint32_t> lost;  // the map gives it, it does not hold: load again
  std::vector<std::uint32_t> extra; // it holds, the map gives elsewhere: drop
};

// An assignment as API actors route by it (protocol's partition_map, with
// member numbers where the coordinator puts the shards' handles).
struct partition_routing {
  std::vector<member_index> shards;   // the alive members, in member order
  std::vector<std::uint32_t> owner;   // partition -> index into shards, or no_shard
  std::vector<std::uint32_t> replica; // the same for replicas; empty with one replica
};

class partition_table {
public:
  using time_point = std::chrono::steady_clock::time_point;

  partition_table() = default; // no partitions: never ready
  // `replicas`: holders per partition, 1 or 2 (cluster.replicas).
  explicit partition_table(std::uint32_t partitions, std::uint32_t replicas = 1);

  std::uint32_t partitions() const { return static_cast<std::uint32_t>(owner_.size()); }
  std::uint32_t replicas() const { return replicas_; }
  std::uint64_t epoch() const { return epoch_; }
  const std::vector<member_index>& owners() const { return owner_; }
  // Replica holder per partition (all no_member with one replica).
  const std::vector<member_index>& replica_holders() const { return replica_; }
  const std::vector<partition_member>& members() const { return members_; }
  const partition_member& member(member_index m) const {
    return members_[static_cast<std::size_t>(m)];
  }

  // -- Membership --------------------------------------------------------------

  // The member called `name`, alive or not; no_member if it never joined.
  member_index find(std::string_view name) const;
  // `name` is up at `address`: a new member, or the old one back (alive, no
  // longer leaving). What it owned stays its own.
  member_index join(const std::string& name, const std::string& address);
  // Its shard went down: it owns what it owned until the next move, but is
  // not alive, so the map is not ready while it owns anything.
  void lose(member_index m);
  // `m` asks to leave. False if nobody else could take its partitions (it is
  // answered at once and stays); else it is leaving (no target any more).
  bool start_leaving(member_index m);
  // Leaving members that own nothing any more: their leave is complete.
  std::vector<member_index> done_leaving() const;
  // Members that are alive; those partitions may move to (alive, not leaving).
  std::vector<member_index> alive() const;
  std::vector<member_index> targets() const;

  // -- The map -----------------------------------------------------------------

  // Every partition has an alive owner (a move may be under way).
  bool ready() const;
  // With two replicas: every partition has an alive replica too.
  bool replicated() const;
  // What `m` owns: recalls for and computes jobs on.
  std::vector<std::uint32_t> partitions_of(member_index m) const;
  // What `m` holds as a replica.
  std::vector<std::uint32_t> replicas_of(member_index m) const;
  // The partitions `m` holds in neither role (what `m` drops after a flip).
  std::vector<std::uint32_t> partitions_elsewhere(member_index m) const;
  // `assignment` (the owners now or a move's next) and `replicas` (empty:
  // none) as API actors see them: partitions of a member that is not alive
  // route nowhere.
  partition_routing routing(const std::vector<member_index>& assignment,
                            const std::vector<member_index>& replicas = {}) const;
  partition_routing routing() const { return routing(owner_, replica_); }
  // The owner's name of every partition ("" unassigned), as persisted.
  std::vector<std::string> owner_names() const;

  // -- Changes -----------------------------------------------------------------

  // The move to the balanced assignment over targets(), with replicas placed
  // (two replicas); unchanged while the rejoin grace lasts at `now` (a
  // restarted cluster keeps its map).
  partition_move plan_move(time_point now) const;
  // The partitions whose holders the move changed take its holders (owners
  // and replicas); partitions it leaves unassigned become unassigned. Others
  // keep theirs: a claim may have settled them while the move loaded. An
  // owner lost meanwhile is replaced by its replica (promote).
  void complete_move(const partition_move& move);
  // Partitions whose owner is not alive and whose replica is: the replica
  // owns them now (and they have no replica until a move places one).
  // Returns how many changed owner.
  std::size_t promote();
  // A (re)joined member says what it holds: it takes those partitions nobody
  // alive owns, and (two replicas) becomes the replica of those it holds that
  // another member owns and no alive member replicates. Returns how many it
  // took in either role.
  std::size_t claim(member_index m, const std::vector<std::uint32_t>& held);
  // A member says what it holds (partition numbers out of range are ignored).
  holdings_repair check_holdings(member_index m, const std::vector<std::uint32_t>& held) const;
  // Partitions `m` lost: unassigned in the role `m` had (an owner-less one
  // goes to its replica at the next promote(), else to the next move).
  void unassign(member_index m, const std::vector<std::uint32_t>& partitions);
  // A new map: the next epoch, returned.
  std::uint64_t advance_epoch() { return ++epoch_; }

  // -- After a restart ---------------------------------------------------------

  // The persisted map of `epoch` named `owners`: epochs only grow (the next
  // flip is past it), and the distinct owners are awaited until `deadline`.
  // Returns how many are awaited.
  std::size_t resume(std::uint64_t epoch, const std::vector<std::string>& owners,
                     time_point deadline);
  // Before the deadline, while an awaited member is not alive.
  bool in_rejoin_grace(time_point now) const;

private:
  std::vector<partition_member> members_;
  std::vector<member_index> owner_;   // partition -> member, no_member unassigned
  std::vector<member_index> replica_; // partition -> replica holder, no_member none
  std::uint32_t replicas_ = 1;
  bool holds(member_index m, std::size_t p) const { return owner_[p] == m || replica_[p] == m; }
  std::uint64_t epoch_ = 0;
  std::vector<std::string> rejoin_expected_;
  time_point rejoin_deadline_{};
};

} // namespace recd
