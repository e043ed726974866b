#include "actors/coordinator_state.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

void start_rebalance(coordinator_self* self) {
  auto& st = self->state;
  if (!st.opt.serving) {
    // Jobs only: assign and hand out partitions, nothing to load.
    st.table.complete_move(st.table.plan_move(std::chrono::steady_clock::now()));
    st.table.advance_epoch();
    for (auto m : st.table.alive())
      self->send(st.shard_of(m), own_atom_v, st.table.partitions_of(m), st.opt.partitions);
    return;
  }
  if (st.moving) {
    st.again = true;
    return;
  }
  // A lost owner's partitions go to their replicas at once (API nodes
  // already route to them since they saw the owner go down); a move then
  // places new replicas.
  if (auto promoted = st.table.promote(); promoted > 0) {
    spdlog::info("{} partitions of lost shards promoted to their replicas", promoted);
    flip_map(self);
  }
  // No move starts: jobs waiting for the map to settle may run.
  auto settled = [&] {
    for (auto& waiter : std::exchange(st.after_move, {}))
      waiter();
    // Shards that rejoin still holding their partitions complete the map
    // without a flip: the runs waiting for it go on.
    st.release_ready_waiters();
  };
  if (st.job_running && st.table.ready()) {
    // A job computes on the current owners; moves that nothing needs wait for it.
    st.deferred = true;
    settled();
    return;
  }
  // No plan while a joined shard has not said what it still holds: the
  // answer's handler starts the rebalance again (within its 5 s timeout).
  if (st.claims_pending > 0)
    return;
  // Unchanged during a restarted coordinator's rejoin grace: the shards of
  // its last map get their time to come back.
  auto move = std::make_shared<const partition_move>(
    st.table.plan_move(std::chrono::steady_clock::now()));
  if (!move->changed) {
    settled();
    return;
  }
  st.moving = true;
  const auto target = st.table.epoch() + 1;
  {
    std::size_t loads = 0;
    for (const auto& [m, parts] : move->gains)
      loads += parts.size();
    spdlog::info("moving partitions for map epoch {}: {} loads on {} shards", target, loads,
                 move->gains.size());
  }
  auto failed = std::make_shared<bool>(false);
  auto finish = [=]() {
    auto& st = self->state;
    st.moving = false;
    if (!*failed) {
      // Only the moved partitions: a claim (a rejoining shard) may have
      // settled others meanwhile.
      st.table.complete_move(*move);
      flip_map(self);
    }
    if (std::exchange(st.again, false) || *failed)
      self->delayed_send(self, std::chrono::seconds{*failed ? 1 : 0}, regroup_atom_v);
    else
      for (auto& waiter : std::exchange(st.after_move, {}))
        waiter();
  };
  auto load = [=]() {
    auto& st = self->state;
    if (move->gains.empty()) {
      finish();
      return;
    }
    auto remaining = std::make_shared<std::size_t>(move->gains.size());
    for (auto& [m, parts] : move->gains) {
      auto& shard = st.shard_of(m);
      auto name = st.table.member(m).name;
      // Once per shard: its answer, or its death (a dying shard may never
      // answer a request it already took).
      auto settled = std::make_shared<bool>(false);
      auto watch = ++st.next_watch;
      auto settle = [=](bool ok) {
        if (std::exchange(*settled, true))
          return;
        self->state.on_down.erase(watch);
        *failed = *failed || !ok;
        if (--*remaining == 0)
          finish();
      };
      if (!shard) { // died while the move was announced
        settle(false);
        continue;
      }
      st.on_down.emplace(watch, std::make_pair(shard.address(), [=] {
                           spdlog::error("shard {} died while loading partitions", name);
                           settle(false);
                         }));
      self->request(shard, load_timeout, load_atom_v, parts, st.opt.partitions, target)
        .then(
          [=](std::uint64_t users, std::uint64_t items) {
            spdlog::info("shard {} holds {} users, {} items", name, users, items);
            settle(true);
          },
          [=](caf::error& err) {
            spdlog::error("shard {} could not load partitions: {}", name, describe(err));
            settle(false);
          });
    }
  };
  // Step 1: the API actors learn the next map before anything is loaded.
  tell_apis(self, map_news::moving, st.routing(target, move->next, move->next_replica), load);
}

} // namespace recd::coordination
