#include "actors/coordinator.hpp"

#include <set>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/job_driver.hpp"
#include "actors/run_watcher.hpp"
#include "protocol/errors.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"

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

namespace {

constexpr auto load_timeout = std::chrono::seconds{7200};
constexpr auto job_timeout = std::chrono::seconds{86400};
// After all API actors confirmed a new map: time for requests sent by the old
// map to arrive before the old owners forget the moved partitions.
constexpr auto drop_grace = std::chrono::milliseconds{500};

struct member {
  std::string name;
  caf::actor shard;     // invalid once the shard is gone
  std::string address;  // host:port where API nodes dial it ("" for local shards)
  bool leaving = false; // stopping: its partitions move to the others first
  std::vector<caf::typed_response_promise<bool>> left; // answered once it owns nothing
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordinator_options opt;
  std::vector<member> members;
  std::vector<std::int32_t> owner;       // partition -> member index, -1 unassigned
  std::uint64_t epoch = 0;
  bool moving = false;                   // a rebalance is loading partitions
  bool again = false;                    // membership changed during the move
  bool deferred = false;                 // a rebalance waits for the running job
  // After a restart: the shard names of the persisted map, awaited until the deadline.
  std::vector<std::string> rejoin_expected;
  std::chrono::steady_clock::time_point rejoin_deadline{};
  // Drops due once every API actor routes by the map of an epoch: per shard,
  // the partitions that map gives to others.
  std::map<std::uint64_t, std::vector<std::pair<caf::actor, std::vector<std::uint32_t>>>> drops;
  // Run when that actor goes down: fails requests it may never answer.
  std::map<std::uint64_t, std::pair<caf::actor_addr, std::function<void()>>> on_down;
  std::uint64_t next_watch = 0;
  std::vector<caf::actor> subscribers;   // API actors
  caf::actor watcher;
  caf::actor driver;
  std::vector<std::int64_t> published;   // newest run id per kind, as served
  bool job_running = false;
  bool polling = false;
  std::vector<std::function<void()>> ready_waiters; // run at the next flip that leaves the map ready
  std::vector<std::function<void()>> after_move;    // run when no move is in progress

  std::vector<std::int32_t> alive() const {
    std::vector<std::int32_t> out;
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].shard)
        out.push_back(static_cast<std::int32_t>(m));
    return out;
  }

  // The members partitions may move to: alive and not leaving.
  std::vector<std::int32_t> targets() const {
    auto out = alive();
    std::erase_if(out, [&](std::int32_t m) { return members[static_cast<std::size_t>(m)].leaving; });
    return out;
  }

  // Answers the leave requests of members that own nothing any more.
  void release_leavers() {
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].leaving && partitions_of_member(static_cast<std::int32_t>(m)).empty())
        for (auto& rp : std::exchange(members[m].left, {}))
          rp.deliver(true);
  }

  // Every partition has a live, loaded owner (a move may be under way).
  bool ready() const {
    if (owner.empty())
      return false;
    for (auto m : owner)
      if (m < 0 || !members[static_cast<std::size_t>(m)].shard)
        return false;
    return true;
  }

  bool in_rejoin_grace() const {
    if (std::chrono::steady_clock::now() >= rejoin_deadline)
      return false;
    for (const auto& name : rejoin_expected)
      if (std::none_of(members.begin(), members.end(),
                       [&](const member& m) { return m.name == name && m.shard; }))
        return true;
    return false;
  }

  // A map as API actors see it: live shards and an index per partition.
  std::pair<std::vector<caf::actor>, std::vector<std::uint32_t>>
  routing(const std::vector<std::int32_t>& assignment) const {
    std::vector<caf::actor> shards;
    std::vector<std::int32_t> slot(members.size(), -1);
    for (std::size_t m = 0; m < members.size(); ++m)
      if (members[m].shard) {
        slot[m] = static_cast<std::int32_t>(shards.size());
        shards.push_back(members[m].shard);
      }
    std::vector<std::uint32_t> index(assignment.size(), no_shard);
    for (std::size_t p = 0; p < assignment.size(); ++p)
      if (assignment[p] >= 0 && slot[static_cast<std::size_t>(assignment[p])] >= 0)
        index[p] = static_cast<std::uint32_t>(slot[static_cast<std::size_t>(assignment[p])]);
    return {std::move(shards), std::move(index)};
  }

  caf::message map_message() const {
    auto [shards, index] = routing(owner);
    return caf::make_message(map_atom_v, epoch, std::move(shards), std::move(index));
  }

  std::vector<caf::actor> live_shards() const {
    std::vector<caf::actor> out;
    for (const auto& m : members)
      if (m.shard)
        out.push_back(m.shard);
    return out;
  }

  std::vector<std::uint32_t> partitions_of_member(std::int32_t m) const {
    std::vector<std::uint32_t> out;
    for (std::size_t p = 0; p < owner.size(); ++p)
      if (owner[p] == m)
        out.push_back(static_cast<std::uint32_t>(p));
    return out;
  }
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

// Errors that mean a shard went away during a request (its node died or
// was cut off), as opposed to a failure of the job itself.
bool lost_shard(const caf::error& err) {
  if (err == caf::sec::request_receiver_down || err == caf::sec::request_timeout ||
      err.category() == caf::atom("exit")) // e.g. exit_reason::remote_link_unreachable
    return true;
  return err.category() == error_category &&
         err.code() == static_cast<std::uint8_t>(ec::shard_unavailable);
}

void poll(coordinator_actor* self) {
  auto& st = self->state;
  if (st.polling)
    return;
  st.polling = true;
  self->request(st.watcher, std::chrono::seconds{30}, poll_atom_v)
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

// Sends `msg` to every subscribed API actor and calls `done` once all have
// answered (or failed to within a few seconds: a node that is gone or cut off
// must not hold the cluster up).
void tell_apis(coordinator_actor* self, const caf::message& msg, std::function<void()> done) {
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
  for (auto& api : st.subscribers)
    self->request(api, std::chrono::seconds{3}, msg)
      .then([=](bool) mutable { one(); },
            [=](caf::error& err) mutable {
              spdlog::warn("an API actor did not confirm a map change: {}", describe(err));
              one();
            });
}

void persist_map(coordinator_actor* self) {
  auto& st = self->state;
  if (!st.opt.persist_map)
    return;
  std::vector<std::string> names;
  for (auto m : st.owner)
    names.push_back(m >= 0 ? st.members[static_cast<std::size_t>(m)].name : "");
  self->request(st.watcher, std::chrono::seconds{30}, map_atom_v, st.epoch, names)
    .then([](bool) {},
          [](caf::error& err) { spdlog::error("persisting the map failed: {}", describe(err)); });
}

// The map changed: a new epoch goes to PostgreSQL, to every live shard (what it
// owns now) and to every API actor. Once all API actors route by it, after a
// grace period for requests still in flight, shards drop what they do not own.
void flip_map(coordinator_actor* self) {
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
  tell_apis(self, st.map_message(), [=] {
    self->delayed_send(self, drop_grace, drop_atom_v, epoch);
  });
  if (st.ready())
    for (auto& waiter : std::exchange(st.ready_waiters, {}))
      waiter();
}

// Moves partitions to the balanced assignment without stopping service:
//  1. announce the next map to the API actors, which from then on apply each
//     committed event on the old and the new owner of its partition;
//  2. once all have confirmed, the new owners load what they gain: their
//     snapshot holds every event the old owner alone received;
//  3. flip the map at a new epoch (flip_map), then drop.
void start_rebalance(coordinator_actor* self) {
  auto& st = self->state;
  if (!st.opt.serving) {
    // Jobs only: assign and hand out partitions, nothing to load.
    st.owner = rebalance(st.owner, st.targets());
    ++st.epoch;
    for (auto m : st.alive())
      self->send(st.members[static_cast<std::size_t>(m)].shard, map_atom_v,
                 st.partitions_of_member(m), st.opt.partitions);
    return;
  }
  if (st.moving) {
    st.again = true;
    return;
  }
  // No move starts: jobs waiting for the map to settle may run.
  auto settled = [&] {
    for (auto& waiter : std::exchange(st.after_move, {}))
      waiter();
  };
  if (st.job_running && st.ready()) {
    // A job computes on the current owners; moves that nothing needs wait for it.
    st.deferred = true;
    settled();
    return;
  }
  if (st.in_rejoin_grace()) {
    // A restarted coordinator waits for the shards of its last map to rejoin.
    settled();
    return;
  }
  auto next = rebalance(st.owner, st.targets());
  std::map<std::int32_t, std::vector<std::uint32_t>> gains;
  bool changed = false;
  for (std::size_t p = 0; p < next.size(); ++p)
    if (next[p] != st.owner[p]) {
      changed = true;
      if (next[p] >= 0)
        gains[next[p]].push_back(static_cast<std::uint32_t>(p));
    }
  if (!changed) {
    settled();
    return;
  }
  st.moving = true;
  const auto target = st.epoch + 1;
  auto failed = std::make_shared<bool>(false);
  auto finish = [=]() {
    auto& st = self->state;
    st.moving = false;
    if (!*failed) {
      // Only the moved partitions: a claim (a rejoining shard) may have
      // settled others meanwhile.
      for (auto& [m, parts] : gains)
        for (auto p : parts)
          st.owner[p] = m;
      for (std::size_t p = 0; p < next.size(); ++p)
        if (next[p] < 0)
          st.owner[p] = -1;
      flip_map(self);
    }
    if (std::exchange(st.again, false) || *failed)
      self->delayed_send(self, std::chrono::seconds{*failed ? 1 : 0}, rebalance_atom_v,
                         caf::unit); // the internal trigger: no reply
    else
      for (auto& waiter : std::exchange(st.after_move, {}))
        waiter();
  };
  auto load = [=]() {
    auto& st = self->state;
    if (gains.empty()) {
      finish();
      return;
    }
    auto remaining = std::make_shared<std::size_t>(gains.size());
    for (auto& [m, parts] : gains) {
      auto& shard = st.members[static_cast<std::size_t>(m)].shard;
      auto name = st.members[static_cast<std::size_t>(m)].name;
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
  auto [shards, index] = st.routing(next);
  tell_apis(self, caf::make_message(move_atom_v, target, std::move(shards), std::move(index)), load);
}

void job_finished(coordinator_actor* self) {
  auto& st = self->state;
  st.job_running = false;
  if (std::exchange(st.deferred, false))
    start_rebalance(self);
}

caf::behavior coordinator(coordinator_actor* self, coordinator_options opt,
                          std::vector<caf::actor> shards) {
  self->set_default_handler(log_and_drop);
  auto& st = self->state;
  st.opt = std::move(opt);
  st.owner.assign(st.opt.partitions, -1);
  st.watcher = spawn_run_watcher(self->system(), store::conninfo(st.opt.cfg.postgres, store::session::serving));
  st.driver = spawn_job_driver(self->system(), store::conninfo(st.opt.cfg.postgres, store::session::job), st.opt.cfg);
  self->link_to(st.watcher);
  self->link_to(st.driver);
  // A shard that dies leaves the map; its partitions move to the others.
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    bool was_member = false;
    for (auto& m : st.members)
      if (m.shard && m.shard.address() == dm.source) {
        spdlog::warn("shard {} is down ({}): reassigning its partitions", m.name,
                     caf::to_string(dm.reason));
        m.shard = caf::actor{};
        m.left.clear();
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
    std::erase_if(st.subscribers, [&](const caf::actor& a) { return a.address() == dm.source; });
  });
  // Local shards (one process) join at once, partition p on shard p mod N,
  // exactly the balanced assignment.
  for (std::size_t i = 0; i < shards.size(); ++i) {
    st.members.push_back({"local-" + std::to_string(i), shards[i], "", false, {}});
    self->monitor(shards[i]);
  }
  if (st.opt.serving) {
    poll(self);
    self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.poll_seconds}, poll_atom_v);
    if (st.opt.cfg.jobs.interval_seconds > 0)
      self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.interval_seconds},
                         compute_atom_v);
  }
  if (st.opt.persist_map) {
    // Resume the epoch of the persisted map and wait for its shards to rejoin
    // (they keep serving meanwhile). Awaited: joins wait for it.
    self->request(st.watcher, std::chrono::seconds{30}, map_atom_v)
      .await(
        [=](std::uint64_t epoch, const std::vector<std::string>& names) {
          auto& st = self->state;
          // Epochs only grow, across coordinator restarts too.
          st.epoch = std::max(st.epoch, epoch);
          std::set<std::string> distinct;
          for (const auto& n : names)
            if (!n.empty())
              distinct.insert(n);
          st.rejoin_expected.assign(distinct.begin(), distinct.end());
          auto grace = std::chrono::milliseconds{st.opt.cfg.cluster.rejoin_grace_ms};
          st.rejoin_deadline = std::chrono::steady_clock::now() + grace;
          if (!distinct.empty())
            self->delayed_send(self, grace, rebalance_atom_v, caf::unit);
          spdlog::info("resuming the partition map after epoch {} ({} shards expected)", epoch,
                       distinct.size());
        },
        [=](caf::error& err) { spdlog::warn("no persisted map: {}", describe(err)); });
  }
  if (!shards.empty())
    start_rebalance(self);
  return {
    [=](join_atom, const std::string& name, const caf::actor& shard,
        const std::string& address) -> std::uint32_t {
      auto& st = self->state;
      self->monitor(shard);
      std::size_t index = st.members.size();
      for (std::size_t m = 0; m < st.members.size(); ++m)
        if (st.members[m].name == name)
          index = m; // a restarted shard node takes its old slot
      if (index == st.members.size()) {
        st.members.push_back({name, shard, address, false, {}});
      } else {
        st.members[index].shard = shard;
        st.members[index].address = address;
        st.members[index].leaving = false;
      }
      spdlog::info("shard {} joined", name);
      // A shard that still holds partitions (the coordinator restarted) keeps
      // those nobody else serves; then the map is balanced as usual.
      self->request(shard, std::chrono::seconds{5}, map_atom_v)
        .then(
          [=](const std::vector<std::uint32_t>& held) {
            auto& st = self->state;
            if (!st.moving && st.members[index].shard == shard) {
              std::size_t claimed = 0;
              for (auto p : held)
                if (p < st.owner.size()) {
                  auto& o = st.owner[p];
                  if (o < 0 || !st.members[static_cast<std::size_t>(o)].shard) {
                    o = static_cast<std::int32_t>(index);
                    ++claimed;
                  }
                }
              if (claimed > 0) {
                spdlog::info("shard {} still serves {} partitions", name, claimed);
                if (st.ready())
                  flip_map(self);
              }
            }
            start_rebalance(self);
          },
          [=](caf::error& err) {
            spdlog::warn("shard {} did not say what it holds: {}", name, describe(err));
            start_rebalance(self);
          });
      return st.opt.partitions;
    },
    [=](subscribe_atom, const caf::actor& api) {
      auto& st = self->state;
      self->monitor(api);
      st.subscribers.push_back(api);
      // Only a complete map: a restarted coordinator pushes nothing until every
      // partition is served again, and the API keeps routing by its last map.
      if (st.ready())
        self->request(api, std::chrono::seconds{3}, st.map_message())
          .then([](bool) {}, [](caf::error&) {}); // else: the next flip pushes it
    },
    [=](drop_atom, std::uint64_t epoch) {
      // Every API actor routes by the map of `epoch` (or did not answer in time).
      auto& st = self->state;
      auto it = st.drops.find(epoch);
      if (it == st.drops.end())
        return;
      for (auto& [shard, foreign] : it->second)
        self->request(shard, std::chrono::seconds{60}, drop_atom_v, foreign, epoch)
          .then([](bool) {}, [](caf::error&) {});
      st.drops.erase(it);
      // A leaving shard that owns nothing now is no longer asked for anything.
      st.release_leavers();
    },
    [=](leave_atom, const std::string& name) {
      // A shard node stops (SIGTERM, a scale-down): its partitions move to the
      // others first; the answer comes once no API actor routes to it.
      auto rp = self->make_response_promise<bool>();
      auto& st = self->state;
      auto it = std::find_if(st.members.begin(), st.members.end(),
                             [&](const member& m) { return m.name == name && m.shard; });
      if (it == st.members.end() || st.targets().size() <= (it->leaving ? 0u : 1u)) {
        rp.deliver(true); // unknown, or nobody to hand its partitions to
        return rp;
      }
      spdlog::info("shard {} is leaving: moving its partitions", name);
      it->leaving = true;
      it->left.push_back(rp);
      st.release_leavers();
      start_rebalance(self);
      return rp;
    },
    [=](ready_atom) { return self->state.ready(); },
    [=](map_atom) {
      auto& st = self->state;
      nlohmann::json shards = nlohmann::json::array();
      for (std::size_t m = 0; m < st.members.size(); ++m) {
        auto parts = st.partitions_of_member(static_cast<std::int32_t>(m));
        shards.push_back({{"name", st.members[m].name},
                          {"address", st.members[m].address},
                          {"alive", static_cast<bool>(st.members[m].shard)},
                          {"partitions", parts}});
      }
      nlohmann::json j = {{"epoch", st.epoch},
                          {"partitions", st.opt.partitions},
                          {"ready", st.ready()},
                          {"moving", st.moving},
                          {"shards", shards}};
      return j.dump();
    },
    [=](rebalance_atom) {
      start_rebalance(self);
      return self->state.epoch;
    },
    [=](rebalance_atom, caf::unit_t) { start_rebalance(self); },
    [=](poll_atom) {
      poll(self);
      self->delayed_send(self, std::chrono::seconds{self->state.opt.cfg.jobs.poll_seconds},
                         poll_atom_v);
    },
    [=](compute_atom, std::vector<job_kind> kinds, caf::actor listener) {
      auto rp = self->make_response_promise<std::vector<job_summary>>();
      auto& st = self->state;
      if (st.job_running) {
        rp.deliver(make_error(ec::job_running, "a job is already running in this cluster"));
        return rp;
      }
      if (st.alive().empty() || (st.opt.serving && !st.ready())) {
        rp.deliver(make_error(ec::not_ready, "the shards are not ready"));
        return rp;
      }
      st.job_running = true;
      auto summaries = std::make_shared<std::vector<job_summary>>();
      auto queue = std::make_shared<std::vector<job_kind>>(kinds.rbegin(), kinds.rend());
      auto next = std::make_shared<std::function<void()>>();
      auto attempts = std::make_shared<int>(0);
      *next = [=]() mutable {
        if (queue->empty()) {
          job_finished(self);
          if (self->state.opt.serving)
            poll(self);
          rp.deliver(*summaries);
          *next = nullptr; // break the self-reference
          return;
        }
        auto kind = queue->back();
        queue->pop_back();
        self->request(self->state.driver, job_timeout, compute_atom_v, kind, listener,
                      self->state.live_shards())
          .then(
            [=](const job_summary& s) mutable {
              summaries->push_back(s);
              *attempts = 0;
              (*next)();
            },
            [=](caf::error& err) mutable {
              // A shard lost mid-run: the run was not published; once its
              // partitions have a live owner again the whole run is redone,
              // so the result is the same as without the failure.
              if (lost_shard(err) && ++*attempts <= 3 && self->state.opt.serving) {
                spdlog::warn("{} lost a shard ({}): redoing it when the map is ready",
                             to_string(kind), describe(err));
                queue->push_back(kind);
                auto& st = self->state;
                if (st.ready() && !st.alive().empty())
                  self->delayed_send(self, std::chrono::seconds{1}, compute_atom_v, caf::unit);
                st.ready_waiters.push_back([=] { (*next)(); });
                return;
              }
              job_finished(self);
              rp.deliver(std::move(err));
              *next = nullptr;
            });
      };
      // Jobs run on a settled map: one that starts during a move waits for it.
      if (st.moving)
        st.after_move.push_back([=] { (*next)(); });
      else
        (*next)();
      return rp;
    },
    [=](compute_atom, caf::unit_t) {
      // A redo waiting for a ready map, when no flip is coming.
      auto& st = self->state;
      if (st.ready())
        for (auto& waiter : std::exchange(st.ready_waiters, {}))
          waiter();
    },
    [=](compute_atom) {
      // Scheduled runs (jobs.interval_seconds).
      std::vector<job_kind> all{job_kind::item_similarity, job_kind::user_similarity,
                                job_kind::embeddings};
      self->request(caf::actor_cast<caf::actor>(self), job_timeout, compute_atom_v, all,
                    caf::actor{})
        .then([](const std::vector<job_summary>&) { spdlog::info("scheduled jobs done"); },
              [](caf::error& err) { spdlog::warn("scheduled jobs: {}", describe(err)); });
      self->delayed_send(self, std::chrono::seconds{self->state.opt.cfg.jobs.interval_seconds},
                         compute_atom_v);
    },
    [=](stats_atom) {
      auto rp = self->make_response_promise<std::string>();
      self->request(self->state.watcher, std::chrono::seconds{10}, stats_atom_v)
        .then(
          [=](const std::string& db) mutable {
            auto& st = self->state;
            auto j = nlohmann::json::parse(db);
            j["ready"] = st.ready();
            j["shards"] = st.alive().size();
            j["partitions"] = st.opt.partitions;
            j["epoch"] = st.epoch;
            j["job_running"] = st.job_running;
            rp.deliver(j.dump());
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_coordinator(caf::actor_system& sys, coordinator_options opt,
                             std::vector<caf::actor> shards) {
  return sys.spawn(coordinator, std::move(opt), std::move(shards));
}

} // namespace recd
