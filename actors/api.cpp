#include "actors/api.hpp"
#include "actors/api_state.hpp"
#include "actors/census.hpp"

#include <charconv>
#include <chrono>
#include <map>
#include <unordered_map>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/deadlines.hpp"
#include "actors/near_cache.hpp"
#include "actors/ranking.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/limits.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace {

using namespace api_detail;

// The catalog routes come from this node's HTTP gateway only.
caf::error check_local(api_self* self, const char* what) {
  const auto& src = self->current_sender();
  if (src && src->node() == self->node())
    return {};
  return refuse(self, what, "only this node's gateway sends catalog requests");
}

// A pushed map (or the map of a move) comes from the coordinator's node and is
// well formed: every partition's owner is a listed shard (or no_shard).
caf::error check_map(api_self* self, const char* what, const partition_map& map) {
  const auto& [epoch, shards, owner, replica] = map;
  const auto& coordinator = self->state.deps.coordinator;
  if (auto err = check_control(self, coordinator ? coordinator.node() : caf::node_id{}, what))
    return err;
  if (auto err = limits::check_partition_count(static_cast<std::uint32_t>(owner.size())))
    return refuse(self, what, describe(err));
  for (auto o : owner)
    if (o != no_shard && o >= shards.size())
      return refuse(self, what, "a partition owned by an unlisted shard");
  if (!replica.empty() && replica.size() != owner.size())
    return refuse(self, what, "replicas of another partition count");
  for (std::size_t p = 0; p < replica.size(); ++p)
    if (replica[p] != no_shard && (replica[p] >= shards.size() || replica[p] == owner[p]))
      return refuse(self, what, "a partition replicated by an unlisted shard or by its owner");
  for (const auto& shard : shards)
    if (!shard)
      return refuse(self, what, "an invalid shard handle");
  return {};
}

api_actor::behavior_type api(api_self* self, settings cfg, api_deps deps) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.cfg = std::move(cfg);
  self->state.deps = std::move(deps);
  self->state.near = near_cache{
    static_cast<std::size_t>(self->state.cfg.redis.near_cache_mb) << 20,
    std::chrono::seconds{self->state.cfg.redis.ttl_seconds}};
  // Linked: it ends with this actor (an actor nobody stops keeps the actor
  // system, and so the node's shutdown, waiting for ever).
  auto dead = self->spawn<caf::linked>([](caf::event_based_actor* dead) {
    dead->set_default_handler([](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      return make_error(ec::shard_unavailable, "no shard serves this partition right now");
    });
    return caf::behavior{[](caf::unit_t) {}};
  });
  self->state.unavailable = caf::actor_cast<shard_actor>(dead);
  // A shard that dies is answered for at once: by the replicas of its
  // partitions, else degraded, until the next map; and what was in flight to
  // it fails at once instead of at its deadline.
  self->set_down_handler([=](caf::down_msg& dm) {
    bool lost = false;
    for (auto* list : {&self->state.shards, &self->state.next_shards})
      for (auto& shard : *list)
        if (shard && shard.address() == dm.source) {
          shard = self->state.unavailable;
          lost = true;
        }
    if (lost)
      reroute(self->state);
    // After the reroute: a read failed here is asked again of the other holder.
    self->state.fail_in_flight(dm.source);
  });
  // The coordinator pushes the partition map now and whenever it changes.
  self->send(self->state.deps.coordinator, subscribe_atom_v, caf::actor_cast<map_subscriber>(self));
  return {
    [=](recommend_atom, user_id user, std::int32_t limit, bool use_cache,
        recommend_filter& filter) {
      auto rp = self->make_response_promise<std::string>();
      recommend(self, reply_promise{rp}, user, limit, use_cache, std::move(filter));
      return rp;
    },
    [=](recommend_local_atom, user_id user, std::int32_t limit, bool use_cache,
        recommend_filter& filter, local_reply<std::string> reply) {
      recommend(self, reply_promise{std::move(reply)}, user, limit, use_cache, std::move(filter));
    },
    [=](behavior_atom, behavior_event e, std::string event_id) {
      auto rp = self->make_response_promise<std::int64_t>();
      record(self, responder<std::int64_t>{rp}, e, std::move(event_id));
      return rp;
    },
    [=](behavior_local_atom, behavior_event e, std::string event_id,
        local_reply<std::int64_t> reply) {
      record(self, responder<std::int64_t>{std::move(reply)}, e, std::move(event_id));
    },
    [=](stats_atom) {
      auto rp = self->make_response_promise<std::string>();
      auto& st = self->state;
      self->request(st.deps.coordinator, std::chrono::seconds{10}, stats_atom_v)
        .then(
          [=](const std::string& db) mutable {
            self->request(self->state.deps.cache, std::chrono::seconds{2}, stats_atom_v)
              .then(
                [=](const std::string& cache) mutable {
                  auto j = json::parse(db);
                  const auto& m = *self->state.deps.metrics;
                  j["cache"] = json::parse(cache);
                  j["cache_hit_ratio"] = j["cache"]["hit_ratio"];
                  j["requests"] = {{"recommend", m.recommend_requests.load()},
                                   {"recommend_from_cache", m.recommend_from_cache.load()},
                                   {"recommend_from_near_cache",
                                    m.recommend_from_near_cache.load()},
                                   {"recommend_from_local_answers",
                                    m.recommend_from_local_answers.load()},
                                   {"recommend_degraded", m.recommend_degraded.load()},
                                   {"behavior", m.behavior_requests.load()},
                                   {"behavior_failed", m.behavior_failed.load()},
                                   {"client_errors", m.client_errors.load()}};
                  j["latency_ms"] = {{"recommend", m.recommend_latency.to_json()},
                                     {"behavior", m.behavior_latency.to_json()}};
                  // This node's behavior writer: events waiting to be committed.
                  if (const auto& gate = self->state.deps.gate)
                    j["behavior_queue"] = {{"queued", gate->queued()}, {"max", gate->max()}};
                  rp.deliver(j.dump());
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](forget_atom, std::int32_t user) -> caf::result<std::uint64_t> {
      // recd admin cache flush [USER]: forget cached answers (all: user < 0),
      // here and in Redis. From the coordinator's node or this one.
      auto& st = self->state;
      const auto& coordinator = st.deps.coordinator;
      if (auto err = check_control(self, coordinator ? coordinator.node() : caf::node_id{}, "forget"))
        return err;
      auto rp = self->make_response_promise<std::uint64_t>();
      auto failed = [=](caf::error& err) mutable { rp.deliver(std::move(err)); };
      if (user >= 0) {
        st.near.erase(user);
        if (st.deps.answers)
          st.deps.answers->erase(user);
        self->request(st.deps.cache, std::chrono::seconds{5}, cache_del_atom_v, user)
          .then([=](bool done) mutable {
                  if (done)
                    rp.deliver(std::uint64_t{1});
                  else
                    rp.deliver(make_error(ec::cache_unavailable, "redis did not answer DEL"));
                },
                failed);
      } else {
        st.near.clear();
        if (st.deps.answers)
          st.deps.answers->clear();
        self->request(st.deps.cache, std::chrono::seconds{30}, cache_clear_atom_v)
          .then([=](std::uint64_t deleted) mutable { rp.deliver(deleted); }, failed);
      }
      return rp;
    },
    [=](deadline_atom) {
      if (check_self(self, "deadline"))
        return;
      auto next = self->state.timers.expire(deadline_granularity);
      if (next != deadlines::clock::duration::zero())
        self->delayed_send(self, next, deadline_atom_v);
    },
    [=](items_write_atom, std::vector<item_write>& writes) -> caf::result<std::vector<item_details>> {
      if (auto err = check_local(self, "items_write"))
        return err;
      auto rp = self->make_response_promise<std::vector<item_details>>();
      write_items(self, rp, std::move(writes));
      return rp;
    },
    [=](item_get_atom, item_id item) -> caf::result<item_details> {
      if (auto err = check_local(self, "item_get"))
        return err;
      auto rp = self->make_response_promise<item_details>();
      ask(self, self->state.deps.catalog, std::chrono::seconds{10}, item_get_atom_v, item)
        .then([=](item_details& d) mutable { rp.deliver(std::move(d)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](user_put_atom, user_id user, std::vector<std::string>& labels) -> caf::result<std::string> {
      if (auto err = check_local(self, "user_put"))
        return err;
      auto rp = self->make_response_promise<std::string>();
      ask(self, self->state.deps.catalog, std::chrono::seconds{10}, user_put_atom_v, user,
          std::move(labels))
        .then([=](std::string& out) mutable { rp.deliver(std::move(out)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](user_get_atom, user_id user) -> caf::result<std::string> {
      if (auto err = check_local(self, "user_get"))
        return err;
      auto rp = self->make_response_promise<std::string>();
      ask(self, self->state.deps.catalog, std::chrono::seconds{10}, user_get_atom_v, user)
        .then([=](std::string& out) mutable { rp.deliver(std::move(out)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](user_erase_atom, user_id user) -> caf::result<std::string> {
      if (auto err = check_local(self, "user_erase"))
        return err;
      auto rp = self->make_response_promise<std::string>();
      erase_user(self, rp, user);
      return rp;
    },
    [=](follow_atom, const coordinator_actor& coordinator) -> caf::result<void> {
      // The node reconnected to a (restarted) coordinator: follow its map.
      // Keep routing by the last map until the coordinator pushes a newer one.
      const auto& src = self->current_sender();
      if (!coordinator || !src || src->node() != self->node())
        return refuse(self, "follow", "only the API node itself names its coordinator");
      self->state.deps.coordinator = coordinator;
      self->send(coordinator, subscribe_atom_v, caf::actor_cast<map_subscriber>(self));
      return caf::unit;
    },
    [=](behaviors_local_atom, std::vector<behavior_event>& events,
        std::vector<std::string>& event_ids, local_reply<std::string> reply) {
      record_batch(self, reply_promise{std::move(reply)}, std::move(events),
                   std::move(event_ids));
    },
    [=](move_atom, partition_map& map) -> caf::result<bool> {
      // A move starts: until the map of `epoch` arrives, committed events are
      // applied on their partition's next owner too. The reply tells the
      // coordinator that no event is routed by the old map alone any more.
      auto& st = self->state;
      if (auto err = check_map(self, "move", map))
        return err;
      auto& [epoch, shards, owner, replica] = map;
      if (epoch <= st.epoch)
        return true; // that map is already in use
      st.next_epoch = epoch;
      st.next_shards = std::move(shards);
      st.next_owner = std::move(owner);
      st.next_replica = std::move(replica);
      for (auto& shard : st.next_shards)
        self->monitor(shard);
      return true;
    },
    [=](map_atom, partition_map& map) -> caf::result<bool> {
      // The reply tells the coordinator that this node routes by this map.
      auto& st = self->state;
      if (auto err = check_map(self, "map", map))
        return err;
      auto& [epoch, shards, owner, replica] = map;
      if (epoch < st.epoch)
        return true; // a late push of an older map
      st.epoch = epoch;
      st.shards = std::move(shards);
      st.owner = std::move(owner);
      st.replica = std::move(replica);
      for (auto& shard : st.shards)
        self->monitor(shard);
      reroute(st);
      if (st.next_epoch <= epoch) {
        st.next_shards.clear();
        st.next_owner.clear();
        st.next_replica.clear();
      }
      return true;
    },
    // Item pages and sessions (api_widgets.cpp).
    [=](similar_local_atom, item_query q, local_reply<std::string> reply) {
      similar(self, reply_promise{std::move(reply)}, std::move(q));
    },
    [=](also_bought_local_atom, item_query q, local_reply<std::string> reply) {
      also_bought(self, reply_promise{std::move(reply)}, std::move(q));
    },
    [=](session_local_atom, session_query q, local_reply<std::string> reply) {
      session(self, reply_promise{std::move(reply)}, std::move(q));
    },
  };
}

} // namespace

api_actor spawn_api(caf::actor_system& sys, settings cfg, api_deps deps) {
  return sys.spawn(api, std::move(cfg), std::move(deps));
}

} // namespace recd
