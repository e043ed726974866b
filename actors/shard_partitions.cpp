// The shard's partitions as the coordinator moves them: load (and land the
// snapshot), drop, own (jobs-only mode) and flip with its catch-up.
#include "actors/shard_actor_state.hpp"

#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/trust.hpp"
#include "protocol/limits.hpp"

namespace recd::shard_detail {

namespace {

// A snapshot of `partitions` arrived: install it (first load) or merge it,
// then replay the events that came in meanwhile and are not in it.
void land(shard_actor_type* self, shard_snapshot&& snap,
          const std::vector<std::uint32_t>& partitions, std::uint64_t epoch, bool first) {
  auto& st = self->state;
  std::vector<pending_event> replay;
  std::vector<pending_event> keep;
  std::set<std::uint32_t> these(partitions.begin(), partitions.end());
  for (auto& p : st.pending) {
    auto key = p.user_side ? p.event.user : p.event.item;
    (these.count(partition_of(key, st.partition_count)) != 0 ? replay : keep)
        .push_back(std::move(p));
  }
  st.pending = std::move(keep);
  for (auto p : partitions) {
    st.incoming.erase(p);
    st.held[p] = epoch;
    st.standby.insert(p); // until the flip
  }
  const auto floor = snap.tail_floor;
  auto tail_user = snap.tail_user_ids;
  auto tail_item = snap.tail_item_ids;
  std::vector<bool> wanted(replay.size());
  for (std::size_t k = 0; k < replay.size(); ++k)
    wanted[k] = !snap.contains(replay[k].id, replay[k].user_side);
  if (first)
    st.data.install(std::move(snap));
  else
    st.data.merge(std::move(snap));
  st.landed.insert(st.landed.end(), partitions.begin(), partitions.end());
  st.landed_floor = st.landed_floor < 0 ? floor : std::min(st.landed_floor, floor);
  st.known_user.insert(tail_user.begin(), tail_user.end());
  st.known_item.insert(tail_item.begin(), tail_item.end());
  for (std::size_t k = 0; k < replay.size(); ++k)
    if (wanted[k])
      st.apply(replay[k]);
  settle_memory(st, "loaded");
}

} // namespace

caf::result<std::uint64_t, std::uint64_t> load_partitions(shard_actor_type* self,
                                                          std::vector<std::uint32_t> partitions,
                                                          std::uint32_t count,
                                                          std::uint64_t epoch) {
  // The first load installs the shard's state; later ones add partitions
  // moved to this shard (the coordinator flips the map once they are in).
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "load"))
    return caf::result<std::uint64_t, std::uint64_t>{err};
  if (auto err = limits::check_partitions(partitions, count))
    return caf::result<std::uint64_t, std::uint64_t>{refuse(self, "load", describe(err))};
  if (st.partition_count != 0 && count != st.partition_count)
    return caf::result<std::uint64_t, std::uint64_t>{
        refuse(self, "load", "the partition count is " + std::to_string(st.partition_count))};
  if (epoch < st.epoch)
    return caf::result<std::uint64_t, std::uint64_t>{refuse(
        self, "load",
        "for map epoch " + std::to_string(epoch) + ", older than " + std::to_string(st.epoch))};
  auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
  const bool first = !st.ready && st.held.empty();
  st.partition_count = count;
  st.incoming.insert(partitions.begin(), partitions.end());
  self->request(st.loader, load_timeout, snapshot_atom_v, partitions, count)
      .then(
          [=](const shard_snapshot_ptr& snap) mutable {
            land(self, std::move(*snap), partitions, epoch, first);
            self->state.ready = true;
            rp.deliver(std::uint64_t{self->state.data.user_count()},
                       std::uint64_t{self->state.data.item_count()});
          },
          [=](caf::error& err) mutable {
            auto& st = self->state;
            for (auto p : partitions)
              st.incoming.erase(p);
            std::erase_if(st.pending, [&](const pending_event& p) {
              return !st.is_incoming(p.user_side ? p.event.user : p.event.item);
            });
            rp.deliver(std::move(err));
          });
  return caf::result<std::uint64_t, std::uint64_t>{rp};
}

caf::result<bool> drop_partitions(shard_actor_type* self,
                                  const std::vector<std::uint32_t>& partitions,
                                  std::uint64_t epoch) {
  // The map of `epoch` gives these partitions to other shards. One loaded
  // for a later map, or loading now, stays; so does one the newest flip
  // gives to this shard (only partitions on standby are ever dropped).
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "drop"))
    return err;
  if (st.partition_count == 0)
    return true; // nothing loaded, nothing to drop
  if (auto err = limits::check_partitions(partitions, st.partition_count))
    return refuse(self, "drop", describe(err));
  std::vector<std::uint32_t> gone;
  for (auto p : partitions)
    if (auto it = st.held.find(p);
        it != st.held.end() && it->second <= epoch && st.standby.count(p) != 0) {
      gone.push_back(p);
      st.held.erase(it);
      st.standby.erase(p);
    }
  if (!gone.empty()) {
    const auto unmapped = st.data.drop(gone, st.partition_count);
    spdlog::info("dropped {} partitions moved away (map epoch {}): {:.1f} MiB of their arenas "
                 "unmapped",
                 gone.size(), epoch, double(unmapped) / (1 << 20));
    settle_memory(st, "after the drop");
  }
  return true;
}

caf::result<void> own_partitions(shard_actor_type* self, std::vector<std::uint32_t> partitions,
                                 std::uint32_t count) {
  // Jobs-only mode (`recd compute`): own the partitions without loading them.
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "own"))
    return err;
  if (auto err = limits::check_partitions(partitions, count))
    return refuse(self, "own", describe(err));
  if (st.ready || !st.incoming.empty())
    return refuse(self, "own", "a serving shard's partitions change by load and drop only");
  st.held.clear();
  for (auto p : partitions)
    st.held[p] = 0;
  st.partition_count = count;
  return caf::unit;
}

caf::result<void> flip_map(shard_actor_type* self, std::uint64_t epoch,
                           const std::vector<std::uint32_t>& owned) {
  // The map flipped to `epoch`, giving this shard `owned`: those are
  // recalled here from now on, other held ones only until their drop.
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "flip"))
    return err;
  if (!owned.empty() || st.partition_count != 0)
    if (auto err = limits::check_partitions(owned, st.partition_count))
      return refuse(self, "flip", describe(err));
  if (epoch < st.epoch)
    return refuse(self, "flip",
                  "to epoch " + std::to_string(epoch) + ", older than " + std::to_string(st.epoch));
  st.epoch = epoch;
  std::set<std::uint32_t> mine(owned.begin(), owned.end());
  st.standby.clear();
  for (const auto& [p, loaded_for] : st.held)
    if (mine.count(p) == 0)
      st.standby.insert(p);
  // Every API node sent this shard the events of its new partitions since
  // before their snapshot was taken, so normally there is nothing more to
  // do; but an API node that missed the move announcement sent them to the
  // old owner only. Read back what landed partitions received since their
  // snapshots and apply what is not known here yet.
  if (st.landed.empty())
    return caf::unit;
  auto partitions = std::exchange(st.landed, {});
  auto since = std::exchange(st.landed_floor, -1);
  st.catching_up = true;
  self->request(st.loader, std::chrono::seconds{300}, tail_atom_v, partitions, st.partition_count,
                since)
      .then(
          [=](const std::vector<std::int64_t>& ids, const std::vector<behavior_event>& events) {
            auto& st = self->state;
            st.catching_up = false;
            auto known_user = std::exchange(st.known_user, {});
            auto known_item = std::exchange(st.known_item, {});
            std::set<std::uint32_t> landed(partitions.begin(), partitions.end());
            auto in_landed = [&](std::int32_t id) {
              return landed.count(partition_of(id, st.partition_count)) != 0;
            };
            std::size_t late = 0;
            for (std::size_t k = 0; k < events.size(); ++k) {
              const auto& e = events[k];
              if (in_landed(e.user) && st.holds(e.user) && known_user.count(ids[k]) == 0) {
                auto vec = st.data.item_embedding(e.item);
                st.data.apply_user(e, vec ? *vec : std::vector<float>{}, ids[k]);
                ++late;
              }
              if (in_landed(e.item) && st.holds(e.item) && known_item.count(ids[k]) == 0) {
                st.data.apply_item(e);
                ++late;
              }
            }
            if (late > 0)
              spdlog::warn("applied {} event sides that reached only the old owner of a moved "
                           "partition",
                           late);
          },
          [=](caf::error& err) {
            auto& st = self->state;
            st.catching_up = false;
            st.known_user.clear();
            st.known_item.clear();
            spdlog::warn("catching up moved partitions failed: {}", describe(err));
          });
  return caf::unit;
}

} // namespace recd::shard_detail
