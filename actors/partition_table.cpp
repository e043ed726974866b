#include "actors/partition_table.hpp"

#include <algorithm>
#include <deque>
#include <set>

namespace recd {

std::vector<member_index> rebalance(const std::vector<member_index>& current,
                                    const std::vector<member_index>& alive,
                                    const std::vector<member_index>& prefer) {
  const auto P = current.size();
  std::vector<member_index> next(P, no_member);
  if (alive.empty())
    return next;
  std::map<member_index, std::vector<std::size_t>> owned;
  for (auto m : alive)
    owned[m];
  std::vector<std::size_t> pool;
  for (std::size_t p = 0; p < P; ++p)
    if (auto it = owned.find(current[p]); it != owned.end())
      it->second.push_back(p);
    else
      pool.push_back(p);
  // Targets: P / n each; the remainder goes to the members that hold most now.
  std::vector<member_index> order(alive.begin(), alive.end());
  std::stable_sort(order.begin(), order.end(), [&](member_index a, member_index b) {
    return owned[a].size() > owned[b].size();
  });
  std::map<member_index, std::size_t> target;
  for (std::size_t k = 0; k < order.size(); ++k)
    target[order[k]] = P / order.size() + (k < P % order.size() ? 1 : 0);
  // Role swaps first, nothing loaded for them: a partition passes from its
  // owner to the member that already holds it (prefer). Each round finds, by
  // a breadth-first search over members, a chain from a member above its
  // share to one below it (each hop: a partition of the one before, held by
  // the next) and shifts one partition along every hop, until no chain is
  // left: as many swaps as any assignment of the holders could make.
  if (prefer.size() == P)
    for (;;) {
      std::map<member_index, std::pair<member_index, std::size_t>> via; // reached by (from, p)
      std::deque<member_index> queue;
      for (auto m : order)
        if (owned[m].size() > target[m]) {
          via[m] = {no_member, 0};
          queue.push_back(m);
        }
      member_index end = no_member;
      while (!queue.empty() && end == no_member) {
        const auto m = queue.front();
        queue.pop_front();
        for (auto p : owned[m]) {
          const auto q = prefer[p];
          if (owned.count(q) == 0 || via.count(q) != 0)
            continue;
          via[q] = {m, p};
          if (owned[q].size() < target[q]) {
            end = q;
            break;
          }
          queue.push_back(q);
        }
      }
      if (end == no_member)
        break;
      for (auto q = end; via[q].first != no_member;) {
        const auto [m, p] = via[q];
        std::erase(owned[m], p);
        owned[q].push_back(p);
        q = m;
      }
    }
  for (auto m : order) {
    auto& mine = owned[m];
    while (mine.size() > target[m]) {
      pool.push_back(mine.back());
      mine.pop_back();
    }
  }
  std::sort(pool.begin(), pool.end());
  // First what a member holds already (prefer), then the pool in order.
  std::vector<bool> taken(pool.size(), false);
  if (prefer.size() == P)
    for (auto m : order) {
      auto& mine = owned[m];
      for (std::size_t k = 0; k < pool.size() && mine.size() < target[m]; ++k)
        if (!taken[k] && prefer[pool[k]] == m) {
          taken[k] = true;
          mine.push_back(pool[k]);
        }
    }
  std::size_t next_free = 0;
  for (auto m : order) {
    auto& mine = owned[m];
    while (mine.size() < target[m] && next_free < pool.size()) {
      if (!taken[next_free])
        mine.push_back(pool[next_free]);
      taken[next_free++] = true;
    }
    for (auto p : mine)
      next[p] = m;
  }
  return next;
}

std::vector<member_index> place_replicas(const std::vector<member_index>& owner,
                                         const std::vector<member_index>& current,
                                         const std::vector<member_index>& before,
                                         const std::vector<member_index>& alive) {
  const auto P = owner.size();
  std::vector<member_index> out(P, no_member);
  if (alive.size() < 2)
    return out;
  // What each member holds in either role: its owned partitions, then the
  // replicas placed; at most ceil(2 x owned partitions / n), so the members'
  // memory stays within one partition of each other's.
  std::map<member_index, std::size_t> count;
  for (auto m : alive)
    count[m] = 0;
  std::size_t placed = 0;
  for (auto m : owner)
    if (auto it = count.find(m); it != count.end()) {
      ++it->second;
      ++placed;
    }
  const auto cap = (2 * placed + alive.size() - 1) / alive.size();
  auto usable = [&](member_index m, std::size_t p) {
    return m >= 0 && m != owner[p] && count.count(m) != 0;
  };
  for (std::size_t p = 0; p < P; ++p) {
    if (owner[p] < 0)
      continue;
    for (auto m : {p < current.size() ? current[p] : no_member,
                   p < before.size() ? before[p] : no_member})
      if (usable(m, p) && count[m] < cap) {
        out[p] = m;
        ++count[m];
        break;
      }
  }
  // The rest: the first member after the owner in member order (a ring)
  // with room, so that with balanced owners each member replicates about as
  // many partitions as the one before it owns; else the one holding fewest.
  std::vector<member_index> ring(alive.begin(), alive.end());
  std::sort(ring.begin(), ring.end());
  for (std::size_t p = 0; p < P; ++p) {
    if (owner[p] < 0 || out[p] != no_member)
      continue;
    const auto at = static_cast<std::size_t>(
      std::lower_bound(ring.begin(), ring.end(), owner[p]) - ring.begin());
    member_index best = no_member;
    for (std::size_t k = 1; k <= ring.size() && best == no_member; ++k) {
      const auto m = ring[(at + k) % ring.size()];
      if (usable(m, p) && count[m] < cap)
        best = m;
    }
    if (best == no_member)
      for (auto m : ring)
        if (usable(m, p) && (best == no_member || count[m] < count[best]))
          best = m;
    out[p] = best;
    if (best != no_member)
      ++count[best];
  }
  // A member past the cap (the partitions it could not take were its own)
  // hands replicas to members below it that do not own them.
  for (auto m : ring)
    for (std::size_t p = 0; p < P && count[m] > cap; ++p) {
      if (out[p] != m)
        continue;
      for (auto other : ring)
        if (usable(other, p) && count[other] < cap) {
          out[p] = other;
          --count[m];
          ++count[other];
          break;
        }
    }
  return out;
}

partition_table::partition_table(std::uint32_t partitions, std::uint32_t replicas)
  : owner_(partitions, no_member), replica_(partitions, no_member),
    replicas_(std::clamp<std::uint32_t>(replicas, 1, 2)) {}

// -- Membership ----------------------------------------------------------------

member_index partition_table::find(std::string_view name) const {
  for (std::size_t m = 0; m < members_.size(); ++m)
    if (members_[m].name == name)
      return static_cast<member_index>(m);
  return no_member;
}

member_index partition_table::join(const std::string& name, const std::string& address) {
  auto m = find(name);
  if (m == no_member) {
    members_.push_back({name, address, true, false});
    return static_cast<member_index>(members_.size() - 1);
  }
  auto& back = members_[static_cast<std::size_t>(m)];
  back.address = address;
  back.alive = true;
  back.leaving = false;
  return m;
}

void partition_table::lose(member_index m) {
  members_[static_cast<std::size_t>(m)].alive = false;
}

bool partition_table::start_leaving(member_index m) {
  auto others = targets();
  std::erase(others, m);
  if (others.empty())
    return false;
  members_[static_cast<std::size_t>(m)].leaving = true;
  return true;
}

std::vector<member_index> partition_table::done_leaving() const {
  std::vector<member_index> out;
  for (std::size_t m = 0; m < members_.size(); ++m)
    if (members_[m].leaving && partitions_of(static_cast<member_index>(m)).empty() &&
        replicas_of(static_cast<member_index>(m)).empty())
      out.push_back(static_cast<member_index>(m));
  return out;
}

std::vector<member_index> partition_table::alive() const {
  std::vector<member_index> out;
  for (std::size_t m = 0; m < members_.size(); ++m)
    if (members_[m].alive)
      out.push_back(static_cast<member_index>(m));
  return out;
}

std::vector<member_index> partition_table::targets() const {
  auto out = alive();
  std::erase_if(out, [&](member_index m) { return member(m).leaving; });
  return out;
}

// -- The map -------------------------------------------------------------------

bool partition_table::ready() const {
  if (owner_.empty())
    return false;
  for (auto m : owner_)
    if (m < 0 || !member(m).alive)
      return false;
  return true;
}

std::vector<std::uint32_t> partition_table::partitions_of(member_index m) const {
  std::vector<std::uint32_t> out;
  for (std::size_t p = 0; p < owner_.size(); ++p)
    if (owner_[p] == m)
      out.push_back(static_cast<std::uint32_t>(p));
  return out;
}

bool partition_table::replicated() const {
  if (!ready())
    return false;
  if (replicas_ < 2)
    return true;
  for (auto m : replica_)
    if (m < 0 || !member(m).alive)
      return false;
  return true;
}

std::vector<std::uint32_t> partition_table::replicas_of(member_index m) const {
  std::vector<std::uint32_t> out;
  for (std::size_t p = 0; p < replica_.size(); ++p)
    if (replica_[p] == m)
      out.push_back(static_cast<std::uint32_t>(p));
  return out;
}

std::vector<std::uint32_t> partition_table::partitions_elsewhere(member_index m) const {
  std::vector<std::uint32_t> out;
  for (std::size_t p = 0; p < owner_.size(); ++p)
    if (!holds(m, p))
      out.push_back(static_cast<std::uint32_t>(p));
  return out;
}

partition_routing partition_table::routing(const std::vector<member_index>& assignment,
                                           const std::vector<member_index>& replicas) const {
  partition_routing out;
  std::vector<std::int64_t> slot(members_.size(), -1);
  for (std::size_t m = 0; m < members_.size(); ++m)
    if (members_[m].alive) {
      slot[m] = static_cast<std::int64_t>(out.shards.size());
      out.shards.push_back(static_cast<member_index>(m));
    }
  out.owner.assign(assignment.size(), no_shard);
  for (std::size_t p = 0; p < assignment.size(); ++p) {
    auto m = assignment[p];
    if (m >= 0 && static_cast<std::size_t>(m) < slot.size() &&
        slot[static_cast<std::size_t>(m)] >= 0)
      out.owner[p] = static_cast<std::uint32_t>(slot[static_cast<std::size_t>(m)]);
  }
  if (replicas_ < 2)
    return out;
  out.replica.assign(assignment.size(), no_shard);
  for (std::size_t p = 0; p < assignment.size() && p < replicas.size(); ++p) {
    auto m = replicas[p];
    if (m >= 0 && static_cast<std::size_t>(m) < slot.size() &&
        slot[static_cast<std::size_t>(m)] >= 0 && out.owner[p] != no_shard &&
        static_cast<std::uint32_t>(slot[static_cast<std::size_t>(m)]) != out.owner[p])
      out.replica[p] = static_cast<std::uint32_t>(slot[static_cast<std::size_t>(m)]);
  }
  return out;
}

std::vector<std::string> partition_table::owner_names() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (auto m : owner_)
    names.push_back(m >= 0 ? member(m).name : "");
  return names;
}

// -- Changes -------------------------------------------------------------------

partition_move partition_table::plan_move(time_point now) const {
  partition_move move;
  move.before = owner_;
  move.replica_before = replica_;
  if (in_rejoin_grace(now)) {
    move.next = owner_; // the members of the last map get their time to rejoin
    move.next_replica = replica_;
    return move;
  }
  const auto to = targets();
  move.next = rebalance(owner_, to, replicas_ > 1 ? replica_ : std::vector<member_index>{});
  move.next_replica = replicas_ > 1 ? place_replicas(move.next, replica_, owner_, to)
                                    : std::vector<member_index>(owner_.size(), no_member);
  for (std::size_t p = 0; p < move.next.size(); ++p) {
    if (move.next[p] == owner_[p] && move.next_replica[p] == replica_[p])
      continue;
    move.changed = true;
    // A holder in either role loads only what it holds in neither now.
    for (auto m : {move.next[p], move.next_replica[p]})
      if (m >= 0 && !holds(m, p))
        move.gains[m].push_back(static_cast<std::uint32_t>(p));
  }
  return move;
}

void partition_table::complete_move(const partition_move& move) {
  for (std::size_t p = 0; p < move.next.size() && p < owner_.size(); ++p) {
    if (p >= move.before.size() || move.next[p] != move.before[p])
      owner_[p] = move.next[p];
    if (p < move.next_replica.size() && p < move.replica_before.size() &&
        move.next_replica[p] != move.replica_before[p])
      replica_[p] = move.next_replica[p];
    if (replica_[p] == owner_[p])
      replica_[p] = no_member;
  }
  promote();
}

std::size_t partition_table::promote() {
  std::size_t promoted = 0;
  for (std::size_t p = 0; p < owner_.size(); ++p) {
    const auto o = owner_[p];
    const auto r = replica_[p];
    if ((o < 0 || !member(o).alive) && r >= 0 && member(r).alive) {
      owner_[p] = r;
      replica_[p] = no_member;
      ++promoted;
    }
  }
  return promoted;
}

std::size_t partition_table::claim(member_index m, const std::vector<std::uint32_t>& held) {
  std::size_t claimed = 0;
  for (auto p : held)
    if (p < owner_.size()) {
      auto& o = owner_[p];
      auto& r = replica_[p];
      if (o < 0 || !member(o).alive) {
        o = m;
        if (r == m)
          r = no_member;
        ++claimed;
      } else if (replicas_ > 1 && o != m && (r < 0 || !member(r).alive)) {
        r = m;
        ++claimed;
      }
    }
  return claimed;
}

holdings_repair partition_table::check_holdings(member_index m,
                                                const std::vector<std::uint32_t>& held) const {
  holdings_repair out;
  std::set<std::uint32_t> have(held.begin(), held.end());
  for (std::size_t p = 0; p < owner_.size(); ++p)
    if (holds(m, p) && have.count(static_cast<std::uint32_t>(p)) == 0)
      out.lost.push_back(static_cast<std::uint32_t>(p));
  for (auto p : held)
    if (p < owner_.size() && !holds(m, p))
      out.extra.push_back(p);
  return out;
}

void partition_table::unassign(member_index m, const std::vector<std::uint32_t>& partitions) {
  for (auto p : partitions) {
    if (p >= owner_.size())
      continue;
    if (replica_[p] == m)
      replica_[p] = no_member;
    if (owner_[p] == m)
      owner_[p] = no_member; // promote() hands it to its replica, a move to anyone
  }
}

// -- After a restart -----------------------------------------------------------

std::size_t partition_table::resume(std::uint64_t epoch, const std::vector<std::string>& owners,
                                    time_point deadline) {
  epoch_ = std::max(epoch_, epoch);
  std::set<std::string> distinct;
  for (const auto& n : owners)
    if (!n.empty())
      distinct.insert(n);
  rejoin_expected_.assign(distinct.begin(), distinct.end());
  rejoin_deadline_ = deadline;
  return rejoin_expected_.size();
}

bool partition_table::in_rejoin_grace(time_point now) const {
  if (now >= rejoin_deadline_)
    return false;
  for (const auto& name : rejoin_expected_) {
    auto m = find(name);
    if (m == no_member || !member(m).alive)
      return true;
  }
  return false;
}

} // namespace recd
