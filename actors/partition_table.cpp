#include "actors/partition_table.hpp"

#include <algorithm>
#include <set>

namespace recd {

std::vector<member_index> rebalance(const std::vector<member_index>& current,
                                    const std::vector<member_index>& alive) {
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
  for (auto m : order) {
    auto& mine = owned[m];
    while (mine.size() > target[m]) {
      pool.push_back(mine.back());
      mine.pop_back();
    }
  }
  std::sort(pool.begin(), pool.end());
  std::size_t next_free = 0;
  for (auto m : order) {
    auto& mine = owned[m];
    while (mine.size() < target[m] && next_free < pool.size())
      mine.push_back(pool[next_free++]);
    for (auto p : mine)
      next[p] = m;
  }
  return next;
}

partition_table::partition_table(std::uint32_t partitions) : owner_(partitions, no_member) {}

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
    if (members_[m].leaving && partitions_of(static_cast<member_index>(m)).empty())
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

std::vector<std::uint32_t> partition_table::partitions_elsewhere(member_index m) const {
  std::vector<std::uint32_t> out;
  for (std::size_t p = 0; p < owner_.size(); ++p)
    if (owner_[p] != m)
      out.push_back(static_cast<std::uint32_t>(p));
  return out;
}

partition_routing partition_table::routing(const std::vector<member_index>& assignment) const {
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
  if (in_rejoin_grace(now)) {
    move.next = owner_; // the members of the last map get their time to rejoin
    return move;
  }
  move.next = rebalance(owner_, targets());
  for (std::size_t p = 0; p < move.next.size(); ++p)
    if (move.next[p] != owner_[p]) {
      move.changed = true;
      if (move.next[p] >= 0)
        move.gains[move.next[p]].push_back(static_cast<std::uint32_t>(p));
    }
  return move;
}

void partition_table::complete_move(const partition_move& move) {
  for (const auto& [m, parts] : move.gains)
    for (auto p : parts)
      owner_[p] = m;
  for (std::size_t p = 0; p < move.next.size() && p < owner_.size(); ++p)
    if (move.next[p] < 0)
      owner_[p] = no_member;
}

std::size_t partition_table::claim(member_index m, const std::vector<std::uint32_t>& held) {
  std::size_t claimed = 0;
  for (auto p : held)
    if (p < owner_.size()) {
      auto& o = owner_[p];
      if (o < 0 || !member(o).alive) {
        o = m;
        ++claimed;
      }
    }
  return claimed;
}

holdings_repair partition_table::check_holdings(member_index m,
                                                const std::vector<std::uint32_t>& held) const {
  holdings_repair out;
  std::set<std::uint32_t> holds(held.begin(), held.end());
  for (std::size_t p = 0; p < owner_.size(); ++p)
    if (owner_[p] == m && holds.count(static_cast<std::uint32_t>(p)) == 0)
      out.lost.push_back(static_cast<std::uint32_t>(p));
  for (auto p : held)
    if (p < owner_.size() && owner_[p] != m)
      out.extra.push_back(p);
  return out;
}

void partition_table::unassign(const std::vector<std::uint32_t>& partitions) {
  for (auto p : partitions)
    if (p < owner_.size())
      owner_[p] = no_member;
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
