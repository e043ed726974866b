#include "actors/coordinator.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/coordinator_state.hpp"
#include "actors/job_driver.hpp"
#include "actors/run_watcher.hpp"
#include "protocol/errors.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/leadership.hpp"

namespace recd {

namespace coordination {

bool lost_shard(const caf::error& err) {
  if (err == caf::sec::request_receiver_down || err == caf::sec::request_timeout ||
      err.category() == caf::atom("exit")) // e.g. exit_reason::remote_link_unreachable
    return true;
  return err.category() == error_category &&
         err.code() == static_cast<std::uint8_t>(ec::shard_unavailable);
}

void poll(coordinator_self* self) {
  auto& st = self->state;
  if (st.polling)
    return;
  st.polling = true;
  self->request(st.watcher, std::chrono::seconds{30}, published_atom_v)
    .then(
      [=](const std::vector<std::int64_t>& latest) {
        auto& st = self->state;
        st.polling = false;
        if (st.published.empty()) {
          st.published = latest;
          return;
        }
        for (std::size_t k = 0; k < latest.size() && k < st.published.size(); ++k) {
          if (latest[k] == st.published[k])
            continue;
          st.published[k] = latest[k];
          auto kind = static_cast<job_kind>(k);
          spdlog::info("run {} of {} published: shards reload it", latest[k], to_string(kind));
          for (auto& shard : st.live_shards())
            self->request(shard, load_timeout, reload_atom_v, kind)
              .then([](bool) {},
                    [kind](caf::error& err) {
                      spdlog::error("reload of {} failed: {}", to_string(kind), describe(err));
                    });
        }
      },
      [=](caf::error& err) {
        self->state.polling = false;
        spdlog::warn("polling job_runs failed: {}", describe(err));
      });
}

void job_finished(coordinator_self* self) {
  auto& st = self->state;
  st.job_running = false;
  if (std::exchange(st.deferred, false))
    start_rebalance(self);
}

} // namespace coordination

namespace {

using namespace coordination;

coordinator_actor::behavior_type coordinator(coordinator_self* self, coordinator_options opt,
                                             std::vector<shard_actor> shards) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  auto& st = self->state;
  st.opt = std::move(opt);
  // Replicas serve; a jobs-only coordinator (`recd compute`) hands each
  // partition to one shard.
  st.table = partition_table{st.opt.partitions,
                             st.opt.serving
                               ? static_cast<std::uint32_t>(st.opt.cfg.cluster.replicas)
                               : 1U};
  st.watcher = spawn_run_watcher(self->system(),
                                 store::conninfo(st.opt.cfg.postgres, store::session::serving),
                                 st.opt.term);
  // A replica's job sessions carry its term: a later leader ends them if
  // this one is deposed while frozen (store::end_job_sessions_of_older_terms).
  const auto job_session = store::conninfo(
    st.opt.cfg.postgres, store::session::job,
    st.opt.term > 0 ? store::job_session_name(st.opt.term) : "");
  st.driver = spawn_job_driver(self->system(), job_session, st.opt.cfg, st.opt.term);
  st.embedding_driver = spawn_job_driver(self->system(), job_session, st.opt.cfg, st.opt.term);
  self->link_to(st.watcher);
  self->link_to(st.driver);
  self->link_to(st.embedding_driver);
  // A shard that dies leaves the map; its partitions move to the others.
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    bool was_member = false;
    for (auto m : st.table.alive())
      if (st.shard_of(m).address() == dm.source) {
        spdlog::warn("shard {} is down ({}): reassigning its partitions", st.table.member(m).name,
                     caf::to_string(dm.reason));
        st.lose_shard(m);
        was_member = true;
      }
    std::vector<std::function<void()>> due;
    for (auto& [watch, entry] : st.on_down)
      if (entry.first == dm.source)
        due.push_back(entry.second);
    for (auto& fn : due)
      fn(); // each erases its own entry
    if (was_member) {
      start_rebalance(self);
      return;
    }
    std::erase_if(st.subscribers,
                  [&](const map_subscriber& a) { return a.address() == dm.source; });
  });
  // Local shards (one process) join at once, partition p on shard p mod N,
  // exactly the balanced assignment.
  for (std::size_t i = 0; i < shards.size(); ++i) {
    st.join_shard("local-" + std::to_string(i), "", shards[i]);
    self->monitor(shards[i]);
  }
  if (st.opt.serving) {
    poll(self);
    self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.poll_seconds}, poll_atom_v);
    if (st.opt.cfg.jobs.interval_seconds > 0)
      self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.interval_seconds},
                         scheduled_atom_v);
  }
  if (st.opt.persist_map) {
    // Resume the epoch of the persisted map and wait for its shards to rejoin
    // (they keep serving meanwhile). Awaited: joins wait for it.
    self->request(st.watcher, std::chrono::seconds{30}, load_map_atom_v)
      .await(
        [=](std::uint64_t epoch, const std::vector<std::string>& names) {
          auto& st = self->state;
          auto grace = std::chrono::milliseconds{st.opt.cfg.cluster.rejoin_grace_ms};
          auto expected = st.table.resume(epoch, names, std::chrono::steady_clock::now() + grace);
          if (expected > 0)
            self->delayed_send(self, grace, regroup_atom_v);
          spdlog::info("resuming the partition map after epoch {} ({} shards expected)", epoch,
                       expected);
        },
        [=](caf::error& err) { spdlog::warn("no persisted map: {}", describe(err)); });
  }
  if (!shards.empty())
    start_rebalance(self);
  if (!st.opt.redo.empty()) {
    // A new leader redoes the runs its predecessor left unfinished, on the
    // map its shards rejoin.
    auto kinds = st.opt.redo;
    st.ready_waiters.push_back([=] {
      spdlog::info("redoing {} run(s) the previous leader left running", kinds.size());
      self->request(caf::actor_cast<coordinator_actor>(self), job_timeout, compute_atom_v, kinds,
                    run_progress_sink{})
        .then([](const std::vector<job_summary>&) { spdlog::info("redone runs published"); },
              [](caf::error& err) { spdlog::warn("redoing runs failed: {}", describe(err)); });
    });
  }
  return {
    [=](join_atom, const shard_join& join) -> caf::result<std::uint32_t> {
      auto& st = self->state;
      const auto name = join.name;
      const auto shard = join.shard;
      const auto address = join.address;
      // A node joins with a shard of its own, under a name no live shard of
      // another node holds: nobody takes over a live shard's place in the map.
      if (auto err = limits::check_node_name(name))
        return refuse(self, "join", describe(err));
      if (auto err = limits::check_address(address))
        return refuse(self, "join", describe(err));
      const auto& src = self->current_sender();
      if (!shard || !src || shard.node() != src->node())
        return refuse(self, "join", "a node joins with its own shard only");
      // A restarted shard node takes its old place.
      if (auto old = st.table.find(name);
          old != no_member && st.shard_of(old) && st.shard_of(old).node() != shard.node())
        return refuse(self, "join", "shard " + name + " is alive on another node");
      self->monitor(shard);
      // The nodes of the API actors it will serve (before anything else is sent to it).
      for (const auto& api : st.subscribers)
        self->send(shard, admit_atom_v, api.node());
      const auto index = st.join_shard(name, address, shard);
      spdlog::info("shard {} joined", name);
      // A shard that still holds partitions (the coordinator restarted) keeps
      // those nobody else serves; then the map is balanced as usual.
      ++st.claims_pending;
      self->request(shard, std::chrono::seconds{5}, held_atom_v)
        .then(
          [=](const std::vector<std::uint32_t>& held) {
            auto& st = self->state;
            --st.claims_pending;
            if (!st.moving && st.shard_of(index) == shard) {
              if (auto claimed = st.table.claim(index, held); claimed > 0) {
                spdlog::info("shard {} still serves {} partitions", name, claimed);
                if (st.table.ready())
                  flip_map(self);
              }
            }
            start_rebalance(self);
          },
          [=](caf::error& err) {
            --self->state.claims_pending;
            spdlog::warn("shard {} did not say what it holds: {}", name, describe(err));
            start_rebalance(self);
          });
      return st.opt.partitions;
    },
    [=](subscribe_atom, const map_subscriber& api) -> caf::result<void> {
      auto& st = self->state;
      const auto& src = self->current_sender();
      if (!api || !src || api.node() != src->node())
        return refuse(self, "subscribe", "a node subscribes its own API actors only");
      self->monitor(api);
      st.subscribers.push_back(api);
      // Shards take serving requests only from subscribed API nodes.
      for (const auto& shard : st.live_shards())
        self->send(shard, admit_atom_v, api.node());
      // Only a complete map: a restarted coordinator pushes nothing until every
      // partition is served again, and the API keeps routing by its last map.
      if (st.table.ready())
        self->request(api, std::chrono::seconds{3}, map_atom_v, st.current_map())
          .then([](bool) {}, [](caf::error&) {}); // else: the next flip pushes it
      return caf::unit;
    },
    [=](drop_due_atom, std::uint64_t epoch) -> caf::result<void> {
      // Every API actor routes by the map of `epoch` (or did not answer in time).
      auto& st = self->state;
      if (auto err = check_self(self, "drop_due"))
        return err;
      auto it = st.drops.find(epoch);
      if (it == st.drops.end())
        return caf::unit;
      for (auto& [shard, foreign] : it->second)
        self->request(shard, std::chrono::seconds{60}, drop_atom_v, foreign, epoch)
          .then([](bool) {}, [](caf::error&) {});
      st.drops.erase(it);
      // A leaving shard that owns nothing now is no longer asked for anything.
      st.release_leavers();
      return caf::unit;
    },
    [=](leave_atom, const std::string& name) -> caf::result<bool> {
      // A shard node stops (SIGTERM, a scale-down): its partitions move to the
      // others first; the answer comes once no API actor routes to it. Only
      // the shard's own node may say it leaves.
      auto& st = self->state;
      auto m = st.table.find(name);
      if (m != no_member && !st.table.member(m).alive)
        m = no_member;
      // Or this node: `recd admin drain` through the admin port.
      const auto& src = self->current_sender();
      if (m != no_member &&
          (!src || (src->node() != st.shard_of(m).node() && src->node() != self->node())))
        return refuse(self, "leave", "only shard " + name + "'s own node may say it leaves");
      auto rp = self->make_response_promise<bool>();
      if (m == no_member || !st.table.start_leaving(m)) {
        rp.deliver(true); // unknown, or nobody to hand its partitions to
        return rp;
      }
      spdlog::info("shard {} is leaving: moving its partitions", name);
      st.links[static_cast<std::size_t>(m)].left.push_back(rp);
      st.release_leavers();
      start_rebalance(self);
      return rp;
    },
    [=](ready_atom) { return self->state.table.ready(); },
    [=](cluster_atom) {
      auto& st = self->state;
      nlohmann::json shards = nlohmann::json::array();
      const auto& members = st.table.members();
      for (std::size_t m = 0; m < members.size(); ++m)
        shards.push_back({{"name", members[m].name},
                          {"address", members[m].address},
                          {"alive", members[m].alive},
                          {"leaving", members[m].leaving},
                          {"partitions", st.table.partitions_of(static_cast<member_index>(m))},
                          {"replicas", st.table.replicas_of(static_cast<member_index>(m))}});
      nlohmann::json j = {{"epoch", st.table.epoch()},
                          {"partitions", st.opt.partitions},
                          {"replication", st.table.replicas()},
                          {"ready", st.table.ready()},
                          {"replicated", st.table.replicated()},
                          {"moving", st.moving},
                          {"shards", shards}};
      return j.dump();
    },
    [=](rebalance_atom) {
      start_rebalance(self);
      return self->state.table.epoch();
    },
    [=](regroup_atom) -> caf::result<void> {
      if (auto err = check_self(self, "regroup"))
        return err;
      start_rebalance(self);
      return caf::unit;
    },
    [=](poll_atom) -> caf::result<void> {
      if (auto err = check_self(self, "poll"))
        return err;
      poll(self);
      reconcile(self);
      self->delayed_send(self, std::chrono::seconds{self->state.opt.cfg.jobs.poll_seconds},
                         poll_atom_v);
      return caf::unit;
    },
    [=](compute_atom, std::vector<job_kind> kinds, run_progress_sink listener) {
      auto rp = self->make_response_promise<std::vector<job_summary>>();
      auto& st = self->state;
      for (auto k : kinds)
        if (auto err = limits::check_job_kind(k); err || kinds.size() > 16) {
          rp.deliver(refuse(self, "compute", err ? describe(err) : "too many jobs"));
          return rp;
        }
      if (st.job_running) {
        rp.deliver(make_error(ec::job_running, "a job is already running in this cluster"));
        return rp;
      }
      if (st.table.alive().empty() || (st.opt.serving && !st.table.ready())) {
        rp.deliver(make_error(ec::not_ready, "the shards are not ready"));
        return rp;
      }
      start_jobs(self, kinds, listener, rp);
      return rp;
    },
    [=](redo_atom) -> caf::result<void> {
      // A redo waiting for a ready map, when no flip is coming.
      if (auto err = check_self(self, "redo"))
        return err;
      self->state.release_ready_waiters();
      return caf::unit;
    },
    [=](scheduled_atom) -> caf::result<void> {
      // Scheduled runs (jobs.interval_seconds).
      if (auto err = check_self(self, "scheduled"))
        return err;
      std::vector<job_kind> all;
      for (std::uint8_t k = 0; k < job_kind_count; ++k)
        all.push_back(static_cast<job_kind>(k));
      self->request(caf::actor_cast<coordinator_actor>(self), job_timeout, compute_atom_v, all,
                    run_progress_sink{})
        .then([](const std::vector<job_summary>&) { spdlog::info("scheduled jobs done"); },
              [](caf::error& err) { spdlog::warn("scheduled jobs: {}", describe(err)); });
      self->delayed_send(self, std::chrono::seconds{self->state.opt.cfg.jobs.interval_seconds},
                         scheduled_atom_v);
      return caf::unit;
    },
    [=](check_atom) -> caf::result<std::string> {
      // recd admin check: what each live shard holds (partitions, users,
      // items), to be compared with PostgreSQL by the caller. Own node only.
      if (auto err = check_control(self, caf::node_id{}, "check"))
        return err;
      return shard_holdings(self);
    },
    [=](cache_flush_atom, std::int32_t user) -> caf::result<std::string> {
      // recd admin cache flush [USER]: every subscribed API actor forgets the
      // cached answers (all when user < 0). Own node only.
      if (auto err = check_control(self, caf::node_id{}, "cache_flush"))
        return err;
      return flush_caches(self, user);
    },
    [=](erased_atom, user_id user) -> caf::result<std::string> {
      // DELETE /api/users/{id} on an API node: other users' cached answers
      // may name the user (user CF reasons), so every subscribed API actor
      // forgets every cached answer. From a subscribed API node or this one.
      const auto& src = self->current_sender();
      const auto& apis = self->state.subscribers;
      bool from_api = src && (src->node() == self->node() ||
                              std::any_of(apis.begin(), apis.end(), [&](const map_subscriber& a) {
                                return a.node() == src->node();
                              }));
      if (!from_api)
        return refuse(self, "erased", "not from an API node of this cluster");
      if (user < 0)
        return refuse(self, "erased", "a user id is >= 0");
      return flush_caches(self, -1);
    },
    [=](stats_atom) {
      auto rp = self->make_response_promise<std::string>();
      self->request(self->state.watcher, std::chrono::seconds{10}, stats_atom_v)
        .then(
          [=](const std::string& db) mutable {
            auto& st = self->state;
            auto j = nlohmann::json::parse(db);
            j["ready"] = st.table.ready();
            j["shards"] = st.table.alive().size();
            j["partitions"] = st.opt.partitions;
            j["epoch"] = st.table.epoch();
            j["job_running"] = st.job_running;
            rp.deliver(j.dump());
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options opt,
                                    std::vector<shard_actor> shards) {
  return sys.spawn(coordinator, std::move(opt), std::move(shards));
}

} // namespace recd

