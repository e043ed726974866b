#include "actors/census.hpp"
#include "actors/run_watcher.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/operations.hpp"
#include "store/partition_map.hpp"

namespace recd {

namespace {

struct watcher_state {
  static inline const char* name = "run_watcher";
  store::lazy_connection conn{""};
  std::int64_t term = 0; // the coordinator term whose map this writes (0: no fence)
};

run_watcher_actor::behavior_type
run_watcher(run_watcher_actor::stateful_pointer<watcher_state> self, std::string url,
            std::int64_t term) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{std::move(url)};
  self->state.term = term;
  return {
    [=](published_atom) -> caf::result<std::vector<std::int64_t>> {
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      std::vector<std::int64_t> latest(job_kind_count, 0); // by job_kind
      auto err = store::guard([&] {
        for (const auto& [name, run] : store::newest_published_runs(**conn))
          if (auto kind = parse_job_kind(name))
            latest[static_cast<std::size_t>(*kind)] = run;
      });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return latest;
    },
    [=](load_map_atom) -> caf::result<std::uint64_t, std::vector<std::string>> {
      // The persisted partition map: its epoch and each partition's shard name.
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      store::persisted_map map;
      auto err = store::guard([&] { map = store::load_partition_map(**conn); });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return {map.epoch, std::move(map.owners)};
    },
    [=](save_map_atom, std::uint64_t epoch,
        const std::vector<std::string>& owners) -> caf::result<bool> {
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      auto err = store::guard(
        [&] { store::save_partition_map(**conn, epoch, owners, self->state.term); });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return true;
    },
    [=](stats_atom) -> caf::result<std::string> {
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      nlohmann::json j;
      auto err = store::guard([&] {
        auto stats = store::read_shop_stats(**conn);
        // The seed's /api/stats counts, same names.
        j["user_count"] = stats.users;
        j["item_count"] = stats.items;
        j["behavior_24h"] = stats.behaviors_24h;
        j["item_sim_pairs"] = stats.item_pairs;
        j["user_sim_pairs"] = stats.user_pairs;
        nlohmann::json jobs = nlohmann::json::object();
        // /api/stats is on the public port: a failed run shows its error code
        // ("database_error", "job_failed", ...) only; the text (which may hold
        // SQL) stays in job_runs.error for operators.
        auto error_code = [](std::string_view text) {
          return std::string{text.substr(0, text.find(':'))};
        };
        for (const auto& [run, finished_unix] : stats.last_runs)
          jobs[run.kind] = {{"run_id", run.run_id},
                            {"status", run.status},
                            {"started_at", run.started_at},
                            {"finished_at", run.finished_at},
                            {"rows", run.rows},
                            {"seconds", run.seconds},
                            {"error", error_code(run.error)},
                            {"finished_unix", finished_unix}};
        j["last_jobs"] = jobs;
      });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return j.dump();
    },
  };
}

} // namespace

run_watcher_actor spawn_run_watcher(caf::actor_system& sys, std::string postgres_url,
                                    std::int64_t term) {
  return sys.spawn<caf::detached>(run_watcher, std::move(postgres_url), term);
}

} // namespace recd
