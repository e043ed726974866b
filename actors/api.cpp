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

void finish(api_self* self, reply_promise rp, user_id user, std::uint64_t version,
            std::int32_t limit, bool use_cache, std::vector<merged_item> ranked, bool degraded,
            clock::time_point t0) {
  auto& st = self->state;
  // Step 3: details from the owning shards.
  std::map<shard_actor, std::vector<item_id>> by_shard;
  for (const auto& m : ranked)
    by_shard[st.shard_of(m.item)].push_back(m.item);
  auto details = std::make_shared<std::unordered_map<item_id, item_details>>();
  auto remaining = std::make_shared<std::size_t>(by_shard.size());
  auto incomplete = std::make_shared<bool>(degraded);
  auto shared_ranked = std::make_shared<std::vector<merged_item>>(std::move(ranked));
  auto respond = [=]() mutable {
    // The body is written directly (no JSON tree): this is the hot path.
    std::string body = "{\"user_id\":" + std::to_string(user) + ",\"recommendations\":[";
    std::size_t count = 0;
    for (const auto& m : *shared_ranked) {
      auto it = details->find(m.item);
      if (it == details->end())
        continue; // item vanished or its shard was late
      const auto& d = it->second;
      body += count++ == 0 ? "{\"item_id\":" : ",{\"item_id\":";
      body += std::to_string(m.item);
      body += ",\"title\":";
      append_string(body, d.title);
      body += ",\"price\":";
      append_number(body, d.price);
      body += ",\"rating\":";
      append_number(body, d.rating);
      body += ",\"sales\":" + std::to_string(d.sales) + ",\"score\":";
      append_number(body, m.score);
      body += ",\"reasons\":";
      append_reasons(body, m);
      body += '}';
      auto& metrics = *self->state.deps.metrics;
      ++metrics.recommend_items;
      for (std::size_t r = 0; r < recall_route_count; ++r)
        if (m.routes[r].score > 0) // as in its reasons
          metrics.route_items[r].fetch_add(1, std::memory_order_relaxed);
    }
    body += "],\"count\":" + std::to_string(count);
    if (use_cache && !*incomplete) {
      auto entry = std::to_string(version) + "\n" + std::to_string(limit) + "\n" + body + "}";
      self->state.near.put(user, std::make_shared<const std::string>(entry));
      caf::anon_send(self->state.deps.cache, cache_put_atom_v, user, std::move(entry));
    }
    body += ",\"from_cache\":false";
    if (*incomplete)
      body += ",\"degraded\":true";
    body += ",\"latency_ms\":";
    append_number(body, ms_since(t0));
    body += '}';
    auto& metrics = *self->state.deps.metrics;
    if (*incomplete)
      ++metrics.recommend_degraded;
    metrics.recommend_latency.record(ms_since(t0) * 1000);
    rp.deliver(std::move(body));
  };
  if (by_shard.empty()) {
    respond();
    return;
  }
  for (auto& [shard, items] : by_shard)
    ask(self, shard, st.shard_timeout(), details_atom_v, items)
      .then(
        [=](const std::vector<item_details>& found) mutable {
          for (const auto& d : found)
            (*details)[d.item] = d;
          if (--*remaining == 0)
            respond();
        },
        [=](caf::error&) mutable {
          *incomplete = true;
          if (--*remaining == 0)
            respond();
        });
}

void compute(api_self* self, reply_promise rp, user_id user, std::int32_t limit, bool use_cache,
             clock::time_point t0) {
  auto& st = self->state;
  const auto& rc = st.cfg.recommend;
  // Step 1: the user's context from its shard.
  ask(self, st.shard_of(user), st.shard_timeout(), context_atom_v, user, rc.recent_items,
                rc.similar_users)
    .then(
      [=](user_context& ctx) mutable {
        // Step 2: recall on every shard.
        auto& st = self->state;
        recall_request req;
        req.user = user;
        req.recent = ctx.recent;
        req.similar = ctx.similar;
        req.vector = ctx.vector;
        // A heavy buyer's whole set would make every recall request large:
        // shards block at most limits::max_exclude items (the smallest ids);
        // the merge still drops every bought item (ranking uses ctx.bought).
        req.exclude.assign(ctx.bought.begin(),
                           ctx.bought.begin() + static_cast<long>(std::min(
                                                  ctx.bought.size(), limits::max_exclude)));
        req.per_route = std::max(st.cfg.recommend.per_route, limit);
        req.now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
        auto all = std::make_shared<std::vector<candidate>>();
        auto remaining = std::make_shared<std::size_t>(st.recall_shards.size());
        auto degraded = std::make_shared<bool>(false);
        auto shared_ctx = std::make_shared<user_context>(std::move(ctx));
        auto done = [=]() mutable {
          auto ranked = merge(*all, *shared_ctx, self->state.cfg.recommend,
                              static_cast<std::size_t>(limit), self->state.merging);
          finish(self, rp, user, shared_ctx->version, limit, use_cache, std::move(ranked), *degraded, t0);
        };
        if (st.recall_shards.empty()) {
          *degraded = true;
          done();
          return;
        }
        for (auto& shard : st.recall_shards)
          ask(self, shard, st.shard_timeout(), recall_atom_v, req)
            .then(
              [=](const std::vector<candidate>& found) mutable {
                all->insert(all->end(), found.begin(), found.end());
                if (--*remaining == 0)
                  done();
              },
              [=](caf::error&) mutable {
                *degraded = true;
                if (--*remaining == 0)
                  done();
              });
      },
      [=](caf::error& err) mutable {
        // The user's shard is unavailable: answer from the other routes as a cold user.
        spdlog::warn("context of user {} unavailable: {}", user, describe(err));
        user_context cold;
        cold.user = user;
        auto& st = self->state;
        recall_request req;
        req.user = user;
        req.per_route = std::max(st.cfg.recommend.per_route, limit);
        req.now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
        auto all = std::make_shared<std::vector<candidate>>();
        auto remaining = std::make_shared<std::size_t>(st.recall_shards.size());
        if (st.recall_shards.empty()) {
          finish(self, rp, user, 0, limit, false, {}, true, t0);
          return;
        }
        for (auto& shard : st.recall_shards)
          ask(self, shard, st.shard_timeout(), recall_atom_v, req)
            .then(
              [=](const std::vector<candidate>& found) mutable {
                all->insert(all->end(), found.begin(), found.end());
                if (--*remaining == 0)
                  finish(self, rp, user, 0, limit, false,
                         merge(*all, cold, self->state.cfg.recommend,
                               static_cast<std::size_t>(limit), self->state.merging),
                         true, t0);
              },
              [=](caf::error&) mutable {
                if (--*remaining == 0)
                  finish(self, rp, user, 0, limit, false,
                         merge(*all, cold, self->state.cfg.recommend,
                               static_cast<std::size_t>(limit), self->state.merging),
                         true, t0);
              });
      });
}

// Answers from a cache entry ("<version>\n<limit>\n<body>", from the near
// cache or Redis) if the user has done nothing since it was stored; else
// computes. A valid Redis entry is kept in the near cache.
void serve_cached(api_self* self, reply_promise rp, user_id user, std::int32_t limit,
                  near_cache::value_ptr entry, bool from_redis, clock::time_point t0) {
  const auto& cached = *entry;
  auto nl1 = cached.find('\n');
  auto nl = nl1 == std::string::npos ? nl1 : cached.find('\n', nl1 + 1);
  if (nl == std::string::npos || std::atoi(cached.c_str() + nl1 + 1) < limit) {
    compute(self, rp, user, limit, true, t0);
    return;
  }
  auto version = std::strtoull(cached.c_str(), nullptr, 10);
  auto cached_limit = std::atoi(cached.c_str() + nl1 + 1);
  ask(self, self->state.shard_of(user), self->state.shard_timeout(), version_atom_v, user)
    .then(
      [=](std::uint64_t current) mutable {
        const auto& cached = *entry;
        if (current != version) {
          self->state.near.erase(user);
          compute(self, rp, user, limit, true, t0);
          return;
        }
        if (from_redis)
          self->state.near.put(user, entry);
        auto& m = *self->state.deps.metrics;
        ++m.recommend_from_cache;
        if (!from_redis)
          ++m.recommend_from_near_cache;
        if (cached_limit == limit && cached.back() == '}') {
          // Same request: splice the per-answer fields into the stored body.
          std::string body = cached.substr(nl + 1, cached.size() - nl - 2);
          body += ",\"from_cache\":true,\"latency_ms\":";
          append_number(body, ms_since(t0));
          body += '}';
          m.recommend_latency.record(ms_since(t0) * 1000);
          rp.deliver(std::move(body));
          return;
        }
        auto body = json::parse(cached.substr(nl + 1), nullptr, false);
        if (body.is_discarded()) {
          compute(self, rp, user, limit, true, t0);
          return;
        }
        auto& recs = body["recommendations"];
        if (recs.size() > static_cast<std::size_t>(limit)) {
          recs.erase(recs.begin() + limit, recs.end());
          body["count"] = recs.size();
        }
        body["from_cache"] = true;
        body["latency_ms"] = ms_since(t0);
        m.recommend_latency.record(ms_since(t0) * 1000);
        rp.deliver(body.dump());
      },
      [=](caf::error&) mutable { compute(self, rp, user, limit, true, t0); });
}

// A recommendation: from the cache if the user did nothing since, else computed.
void recommend(api_self* self, reply_promise rp, user_id user, std::int32_t limit,
               bool use_cache) {
  auto t0 = clock::now();
  auto& st = self->state;
  ++st.deps.metrics->recommend_requests;
  if (!routable(st, rp))
    return;
  if (!use_cache) {
    compute(self, rp, user, limit, false, t0);
    return;
  }
  if (auto hit = st.near.find(user)) {
    serve_cached(self, rp, user, limit, std::move(hit), false, t0);
    return;
  }
  auto cache_timeout = std::chrono::milliseconds{st.cfg.redis.timeout_ms * 2 + 50};
  ask(self, st.deps.cache, cache_timeout, cache_get_atom_v, user)
    .then(
      [=](std::string& cached) mutable {
        if (cached.empty()) {
          compute(self, rp, user, limit, true, t0);
          return;
        }
        serve_cached(self, rp, user, limit, std::make_shared<const std::string>(std::move(cached)),
                     true, t0);
      },
      [=](caf::error&) mutable { compute(self, rp, user, limit, true, t0); });
}

// A pushed map (or the map of a move) comes from the coordinator's node and is
// well formed: every partition's owner is a listed shard (or no_shard).
caf::error check_map(api_self* self, const char* what, const partition_map& map) {
  const auto& [epoch, shards, owner] = map;
  const auto& coordinator = self->state.deps.coordinator;
  if (auto err = check_control(self, coordinator ? coordinator.node() : caf::node_id{}, what))
    return err;
  if (auto err = limits::check_partition_count(static_cast<std::uint32_t>(owner.size())))
    return refuse(self, what, describe(err));
  for (auto o : owner)
    if (o != no_shard && o >= shards.size())
      return refuse(self, what, "a partition owned by an unlisted shard");
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
  // A shard that dies is answered for at once (degraded) until the next map.
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto* list : {&self->state.shards, &self->state.next_shards, &self->state.recall_shards})
      for (auto& shard : *list)
        if (shard && shard.address() == dm.source)
          shard = self->state.unavailable;
  });
  // The coordinator pushes the partition map now and whenever it changes.
  self->send(self->state.deps.coordinator, subscribe_atom_v, caf::actor_cast<map_subscriber>(self));
  return {
    [=](recommend_atom, user_id user, std::int32_t limit, bool use_cache) {
      auto rp = self->make_response_promise<std::string>();
      recommend(self, reply_promise{rp}, user, limit, use_cache);
      return rp;
    },
    [=](recommend_local_atom, user_id user, std::int32_t limit, bool use_cache,
        local_reply<std::string> reply) {
      recommend(self, reply_promise{std::move(reply)}, user, limit, use_cache);
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
      auto& [epoch, shards, owner] = map;
      if (epoch <= st.epoch)
        return true; // that map is already in use
      st.next_epoch = epoch;
      st.next_shards = std::move(shards);
      st.next_owner = std::move(owner);
      for (auto& shard : st.next_shards)
        self->monitor(shard);
      return true;
    },
    [=](map_atom, partition_map& map) -> caf::result<bool> {
      // The reply tells the coordinator that this node routes by this map.
      auto& st = self->state;
      if (auto err = check_map(self, "map", map))
        return err;
      auto& [epoch, shards, owner] = map;
      if (epoch < st.epoch)
        return true; // a late push of an older map
      st.epoch = epoch;
      st.shards = std::move(shards);
      st.owner = std::move(owner);
      std::vector<bool> owns(st.shards.size());
      for (auto index : st.owner)
        if (index < owns.size())
          owns[index] = true;
      st.recall_shards.clear();
      for (std::size_t k = 0; k < st.shards.size(); ++k) {
        self->monitor(st.shards[k]);
        if (owns[k])
          st.recall_shards.push_back(st.shards[k]);
      }
      if (st.next_epoch <= epoch) {
        st.next_shards.clear();
        st.next_owner.clear();
      }
      return true;
    },
  };
}

} // namespace

api_actor spawn_api(caf::actor_system& sys, settings cfg, api_deps deps) {
  return sys.spawn(api, std::move(cfg), std::move(deps));
}

} // namespace recd
