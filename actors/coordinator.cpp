#include "actors/coordinator.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/job_driver.hpp"
#include "actors/run_watcher.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

std::vector<std::uint32_t> partitions_of(std::uint32_t index, std::uint32_t shards,
                                         std::uint32_t partitions) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t p = index; p < partitions; p += shards)
    out.push_back(p);
  return out;
}

namespace {

constexpr auto load_timeout = std::chrono::seconds{7200};
constexpr auto job_timeout = std::chrono::seconds{86400};

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordinator_options opt;
  std::vector<caf::actor> shards;
  std::vector<std::uint32_t> owner;        // partition -> shard index
  std::size_t loaded = 0;
  caf::actor watcher;
  caf::actor driver;
  std::vector<std::int64_t> published;     // newest run id per kind, as served
  bool job_running = false;
  bool polling = false;
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

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
          for (auto& shard : st.shards)
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

caf::behavior coordinator(coordinator_actor* self, coordinator_options opt,
                          std::vector<caf::actor> shards) {
  self->set_default_handler(caf::print_and_drop);
  auto& st = self->state;
  st.opt = std::move(opt);
  st.shards = std::move(shards);
  auto n = static_cast<std::uint32_t>(st.shards.size());
  for (std::uint32_t p = 0; p < st.opt.partitions; ++p)
    st.owner.push_back(p % n);
  st.watcher = spawn_run_watcher(self->system(), st.opt.cfg.postgres.url);
  st.driver = spawn_job_driver(self->system(), st.opt.cfg.postgres.url, st.opt.cfg, st.shards);
  self->link_to(st.watcher);
  self->link_to(st.driver);
  if (!st.opt.serving)
    for (std::uint32_t i = 0; i < n; ++i)
      self->send(st.shards[i], map_atom_v, partitions_of(i, n, st.opt.partitions), st.opt.partitions);
  if (st.opt.serving) {
    // Record what is published before loading, so a run published during the
    // load is reloaded afterwards rather than missed.
    poll(self);
    for (std::uint32_t i = 0; i < n; ++i)
      self->request(st.shards[i], load_timeout, load_atom_v, partitions_of(i, n, st.opt.partitions),
                    st.opt.partitions)
        .then(
          [=](std::uint64_t users, std::uint64_t items) {
            spdlog::info("shard {} ready: {} users, {} items", i, users, items);
            ++self->state.loaded;
          },
          [=](caf::error& err) {
            spdlog::critical("shard {} failed to load: {}", i, describe(err));
            self->quit(err);
          });
    self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.poll_seconds}, poll_atom_v);
    if (st.opt.cfg.jobs.interval_seconds > 0)
      self->delayed_send(self, std::chrono::seconds{st.opt.cfg.jobs.interval_seconds},
                         compute_atom_v);
  }
  return {
    [=](ready_atom) { return self->state.loaded == self->state.shards.size(); },
    [=](map_atom) { return caf::make_message(self->state.shards, self->state.owner); },
    [=](poll_atom) {
      poll(self);
      self->delayed_send(self, std::chrono::seconds{self->state.opt.cfg.jobs.poll_seconds},
                         poll_atom_v);
    },
    [=](compute_atom, std::vector<job_kind> kinds, caf::actor listener) {
      auto rp = self->make_response_promise<std::vector<job_summary>>();
      if (self->state.job_running) {
        rp.deliver(make_error(ec::job_running, "a job is already running in this process"));
        return rp;
      }
      self->state.job_running = true;
      auto summaries = std::make_shared<std::vector<job_summary>>();
      auto queue = std::make_shared<std::vector<job_kind>>(kinds.rbegin(), kinds.rend());
      auto next = std::make_shared<std::function<void()>>();
      *next = [=]() mutable {
        if (queue->empty()) {
          self->state.job_running = false;
          if (self->state.opt.serving)
            poll(self);
          rp.deliver(*summaries);
          *next = nullptr; // break the self-reference
          return;
        }
        auto kind = queue->back();
        queue->pop_back();
        self->request(self->state.driver, job_timeout, compute_atom_v, kind, listener)
          .then(
            [=](const job_summary& s) mutable {
              summaries->push_back(s);
              (*next)();
            },
            [=](caf::error& err) mutable {
              self->state.job_running = false;
              rp.deliver(std::move(err));
              *next = nullptr;
            });
      };
      (*next)();
      return rp;
    },
    [=](compute_atom) {
      // Scheduled runs (jobs.interval_seconds).
      std::vector<job_kind> all{job_kind::item_similarity, job_kind::user_similarity,
                                job_kind::embeddings};
      self->request(caf::actor_cast<caf::actor>(self), job_timeout, compute_atom_v, all, caf::actor{})
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
            auto j = nlohmann::json::parse(db);
            j["ready"] = self->state.loaded == self->state.shards.size();
            j["shards"] = self->state.shards.size();
            j["partitions"] = self->state.opt.partitions;
            j["job_running"] = self->state.job_running;
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
