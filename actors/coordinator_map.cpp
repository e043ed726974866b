// Telling the partition map (actors/partition_table.hpp has its rules): flips
// to the shards and API actors, persistence, and the shards' holdings checked
// against it.
#include "actors/coordinator_state.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

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
  self->request(st.watcher, std::chrono::seconds{30}, save_map_atom_v, st.table.epoch(),
                st.table.owner_names())
    .then([](bool) {},
          [](caf::error& err) { spdlog::error("persisting the map failed: {}", describe(err)); });
}

void flip_map(coordinator_self* self) {
  auto& st = self->state;
  const auto epoch = st.table.advance_epoch();
  const auto alive = st.table.alive();
  spdlog::info("partition map epoch {}: {} shards", epoch, alive.size());
  persist_map(self);
  for (auto m : alive)
    self->send(st.shard_of(m), flip_atom_v, epoch, st.table.partitions_of(m));
  auto& due = st.drops[epoch];
  for (auto m : alive)
    due.emplace_back(st.shard_of(m), st.table.partitions_elsewhere(m));
  tell_apis(self, map_news::flipped, st.current_map(), [=] {
    self->delayed_send(self, drop_grace, drop_due_atom_v, epoch);
  });
  st.release_ready_waiters();
}

void reconcile(coordinator_self* self) {
  auto& st = self->state;
  if (!st.opt.serving || st.moving || st.job_running || !st.drops.empty() || !st.table.ready())
    return;
  const auto epoch = st.table.epoch();
  for (auto m : st.table.alive()) {
    auto shard = st.shard_of(m);
    self->request(shard, std::chrono::seconds{2}, held_atom_v)
      .then(
        [=](const std::vector<std::uint32_t>& held) {
          auto& st = self->state;
          if (st.moving || st.table.epoch() != epoch || !st.drops.empty() ||
              st.shard_of(m) != shard)
            return; // the map changed meanwhile: the next poll looks again
          const auto name = st.table.member(m).name;
          auto repair = st.table.check_holdings(m, held);
          if (!repair.extra.empty()) {
            spdlog::warn("shard {} holds {} partitions the map gives elsewhere: dropping them",
                         name, repair.extra.size());
            self->request(shard, std::chrono::seconds{60}, drop_atom_v, repair.extra, epoch)
              .then([](bool) {}, [](caf::error&) {});
          }
          if (!repair.lost.empty()) {
            spdlog::warn("shard {} lost {} partitions of the map: moving them again", name,
                         repair.lost.size());
            st.table.unassign(m, repair.lost);
            start_rebalance(self);
          }
        },
        [](caf::error&) {}); // a dead shard's down message does the rest
  }
}

} // namespace recd::coordination
