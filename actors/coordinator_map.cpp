#include "actors/coordinator_state.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

std::vector<std::int32_t> rebalance(const std::vector<std::int32_t>& current,
                                    const std::vector<std::int32_t>& alive) {
  const auto P = current.size();
  std::vector<std::int32_t> next(P, -1);
  if (alive.empty())
    return next;
  std::map<std::int32_t, std::vector<std::size_t>> owned;
  for (auto m : alive)
    owned[m];
  std::vector<std::size_t> pool;
  for (std::size_t p = 0; p < P; ++p)
    if (auto it = owned.find(current[p]); it != owned.end())
      it->second.push_back(p);
    else
      pool.push_back(p);
  // Targets: P / n each; the remainder goes to the members that hold most now.
  std::vector<std::int32_t> order(alive.begin(), alive.end());
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return owned[a].size() > owned[b].size();
  });
  std::map<std::int32_t, std::size_t> target;
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

namespace coordination {

void tell_apis(coordinator_self* self, map_news news, const partition_map& map,
               std::function<void()> done) {
  auto& st = self->state;
  if (st.subscribers.empty()) {
    done();
    return;
  }
  auto remaining = std::make_shared<std::size_t>(st.subscribers.size());
  auto one = [=]() mutable {
    if (--*remaining == 0)
      done();
  };
  auto failed = [=](caf::error& err) mutable {
    spdlog::warn("an API actor did not confirm a map change: {}", describe(err));
    one();
  };
  for (auto& api : st.subscribers)
    if (news == map_news::flipped)
      self->request(api, std::chrono::seconds{3}, map_atom_v, map)
        .then([=](bool) mutable { one(); }, failed);
    else
      self->request(api, std::chrono::seconds{3}, move_atom_v, map)
        .then([=](bool) mutable { one(); }, failed);
}

void persist_map(coordinator_self* self) {
  auto& st = self->state;
  if (!st.opt.persist_map)
    return;
  std::vector<std::string> names;
  for (auto m : st.owner)
    names.push_back(m >= 0 ? st.members[static_cast<std::size_t>(m)].name : "");
  self->request(st.watcher, std::chrono::seconds{30}, save_map_atom_v, st.epoch, names)
    .then([](bool) {},
          [](caf::error& err) { spdlog::error("persisting the map failed: {}", describe(err)); });
}

void flip_map(coordinator_self* self) {
  auto& st = self->state;
  ++st.epoch;
  const auto epoch = st.epoch;
  spdlog::info("partition map epoch {}: {} shards", epoch, st.alive().size());
  persist_map(self);
  for (auto m : st.alive())
    self->send(st.members[static_cast<std::size_t>(m)].shard, flip_atom_v, epoch,
               st.partitions_of_member(m));
  auto& due = st.drops[epoch];
  for (auto m : st.alive()) {
    std::vector<std::uint32_t> foreign;
    for (std::size_t p = 0; p < st.owner.size(); ++p)
      if (st.owner[p] != m)
        foreign.push_back(static_cast<std::uint32_t>(p));
    due.emplace_back(st.members[static_cast<std::size_t>(m)].shard, std::move(foreign));
  }
  tell_apis(self, map_news::flipped, st.current_map(), [=] {
    self->delayed_send(self, drop_grace, drop_due_atom_v, epoch);
  });
  if (st.ready())
    for (auto& waiter : std::exchange(st.ready_waiters, {}))
      waiter();
}

void reconcile(coordinator_self* self) {
  auto& st = self->state;
  if (!st.opt.serving || st.moving || st.job_running || !st.drops.empty() || !st.ready())
    return;
  const auto epoch = st.epoch;
  for (auto m : st.alive()) {
    auto shard = st.members[static_cast<std::size_t>(m)].shard;
    self->request(shard, std::chrono::seconds{2}, held_atom_v)
      .then(
        [=](const std::vector<std::uint32_t>& held) {
          auto& st = self->state;
          const auto& member = st.members[static_cast<std::size_t>(m)];
          if (st.moving || st.epoch != epoch || !st.drops.empty() || member.shard != shard)
            return; // the map changed meanwhile: the next poll looks again
          std::set<std::uint32_t> holds(held.begin(), held.end());
          std::vector<std::uint32_t> lost, extra;
          for (std::size_t p = 0; p < st.owner.size(); ++p)
            if (st.owner[p] == m && holds.count(static_cast<std::uint32_t>(p)) == 0)
              lost.push_back(static_cast<std::uint32_t>(p));
          for (auto p : held)
            if (p < st.owner.size() && st.owner[p] != m)
              extra.push_back(p);
          if (!extra.empty()) {
            spdlog::warn("shard {} holds {} partitions the map gives elsewhere: dropping them",
                         member.name, extra.size());
            self->request(shard, std::chrono::seconds{60}, drop_atom_v, extra, epoch)
              .then([](bool) {}, [](caf::error&) {});
          }
          if (!lost.empty()) {
            spdlog::warn("shard {} lost {} partitions of the map: moving them again", member.name,
                         lost.size());
            for (auto p : lost)
              st.owner[p] = -1;
            start_rebalance(self);
          }
        },
        [](caf::error&) {}); // a dead shard's down message does the rest
  }
}

} // namespace coordination
} // namespace recd
