// `recd eval`: see nodes/cli_eval.hpp for the protocol.
#include "nodes/cli_eval.hpp"
#include "nodes/local_cluster.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/api.hpp"
#include "actors/api_metrics.hpp"
#include "actors/coordinator.hpp"
#include "actors/shard.hpp"
#include "engine/baselines.hpp"
#include "engine/split.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/commands.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "config/secrets.hpp"
#include "store/database.hpp"
#include "store/importer.hpp"
#include "store/operations.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;
using json = nlohmann::json;
constexpr std::size_t max_k = 20;
const std::size_t cutoffs[] = {10, 20};

double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

// Ratings map to behaviors as `recd import movielens` does.
behavior_kind kind_of_rating(double rating) {
  return rating >= 5 ? behavior_kind::buy
         : rating >= 4 ? behavior_kind::cart
         : rating >= 3 ? behavior_kind::click
                       : behavior_kind::view;
}

// MovieLens u.data (tab-separated) or ratings.csv (with a header); an error
// names the file and line.
std::optional<std::string> read_movielens(const std::string& dir,
                                          std::vector<behavior_event>& out) {
  std::string path = dir + "/u.data";
  char sep = '\t';
  std::ifstream in{path};
  if (!in) {
    path = dir + "/ratings.csv";
    sep = ',';
    in.open(path);
  }
  if (!in)
    return "no u.data or ratings.csv in " + dir;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty() || (number == 1 && sep == ',' && !std::isdigit(static_cast<unsigned char>(line[0]))))
      continue;
    std::stringstream ss{line};
    std::string user, item, rating, ts;
    if (!std::getline(ss, user, sep) || !std::getline(ss, item, sep) ||
        !std::getline(ss, rating, sep) || !std::getline(ss, ts, sep))
      return path + " line " + std::to_string(number) + ": expected user, item, rating, timestamp";
    try {
      out.push_back({std::stoi(user), std::stoi(item), kind_of_rating(std::stod(rating)),
                     std::stoll(ts)});
    } catch (const std::exception&) {
      return path + " line " + std::to_string(number) + ": not a number";
    }
  }
  if (out.empty())
    return path + " holds no ratings";
  return std::nullopt;
}

// `recd import csv` rows: user,item,behavior,unix seconds.
std::string train_csv(const std::vector<behavior_event>& train) {
  std::string out;
  for (const auto& e : train)
    out += std::to_string(e.user) + ',' + std::to_string(e.item) + ',' + std::string{to_string(e.kind)} + ',' +
           std::to_string(e.ts) + '\n';
  return out;
}

// Refuses a database that already holds behaviors (eval imports into it),
// then migrates it and imports `train` through the CSV importer.
std::optional<std::string> import_train(const settings& cfg, const std::vector<behavior_event>& train) {
  auto conn = store::connect(store::conninfo(cfg.postgres, store::session::job));
  if (!conn)
    return describe(conn.error());
  std::int64_t existing = 0;
  auto err = store::guard([&] { existing = store::stored_behaviors(**conn); });
  if (err)
    return describe(err);
  if (existing > 0)
    return "eval imports the train split into an empty database, but " + redact_url(cfg.postgres.url) +
           " already holds " + std::to_string(existing) + " behaviors";
  // An already migrated (empty) database keeps its partition count.
  auto partitions = static_cast<std::uint32_t>(cfg.cluster.partitions);
  if (auto fixed = store::read_partitions(**conn))
    partitions = *fixed;
  auto migrated = store::migrate(**conn, partitions);
  if (!migrated)
    return describe(migrated.error());
  char path[] = "/tmp/recd-eval-train-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0)
    return std::string{"cannot create a temporary file in /tmp"};
  ::close(fd);
  {
    std::ofstream csv{path};
    csv << train_csv(train);
  }
  auto imported = store::import_csv(**conn, path);
  std::remove(path);
  if (!imported)
    return describe(imported.error());
  return std::nullopt;
}

// Runs every job the serving path uses, with in-process shards (`recd compute`).
std::optional<std::string> run_jobs(const settings& cfg, std::uint32_t partitions) {
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  caf::actor_system sys{acfg};
  auto local = spawn_local_cluster(sys, cfg, partitions, false);
  const auto& coordinator = local.coordinator;
  std::optional<std::string> failure;
  {
    caf::scoped_actor self{sys};
    std::vector<job_kind> kinds; // `recd compute`'s default: every job
    for (std::uint8_t k = 0; k < job_kind_count; ++k)
      kinds.push_back(static_cast<job_kind>(k));
    self->request(coordinator, caf::infinite, compute_atom_v, kinds, run_progress_sink{})
      .receive(
        [&](const std::vector<job_summary>& summaries) {
          for (const auto& s : summaries)
            std::fprintf(stderr, "eval: %-16s %8llu inputs %10llu rows %7.2f s\n", to_string(s.kind),
                         static_cast<unsigned long long>(s.inputs),
                         static_cast<unsigned long long>(s.rows), s.seconds);
        },
        [&](caf::error& e) { failure = describe(e); });
  }
  local.stop();
  return failure;
}

struct served_list {
  std::vector<item_id> items;
  std::vector<std::string> routes;              // strongest route of each item
  std::vector<std::vector<std::string>> proposed; // every route behind each item
};

// Starts the serving actors (as `serve --role all`, without HTTP and Redis),
// waits until every partition is loaded, and asks the API actor for each
// user's top `limit` with the cache off; drops the user's train items from
// each answer (`seen`) and keeps the first max_k.
std::optional<std::string> ask_served(const settings& cfg, std::uint32_t partitions,
                                      const std::vector<user_id>& users, std::int32_t limit,
                                      const std::map<user_id, std::set<item_id>>& seen,
                                      std::map<user_id, served_list>& out, std::size_t& degraded) {
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  caf::actor_system sys{acfg};
  auto local = spawn_local_cluster(sys, cfg, partitions, true);
  const auto& coordinator = local.coordinator;
  // Cache and writer are never reached with use_cache = false and no behaviors.
  // No writer: eval never posts behaviors, nor writes the catalog. A shard
  // late with a user's context: the user's training rows are read as served.
  auto history = spawn_history_reader(sys, store::conninfo(cfg.postgres, store::session::serving));
  auto api = spawn_api(sys, cfg,
                       {coordinator, cache_actor{}, behavior_writer_actor{},
                        std::make_shared<writer_gate>(1),
                        std::make_shared<api_metrics>(), catalog_writer_actor{},
                        nullptr, // no business rules
                        history,
                        nullptr}); // nothing served from the HTTP threads: eval has none
  std::optional<std::string> failure;
  auto stop = [&] {
    caf::anon_send_exit(api, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(history, caf::exit_reason::user_shutdown);
    local.stop();
  };
  caf::scoped_actor self{sys};
  auto deadline = clock::now() + std::chrono::minutes{5};
  for (bool ready = false; !ready;) {
    self->request(coordinator, std::chrono::seconds{10}, ready_atom_v)
      .receive([&](bool r) { ready = r; }, [&](caf::error& e) { failure = describe(e); });
    if (failure || clock::now() > deadline) {
      stop();
      return failure ? failure : std::string{"the shards did not load within 5 minutes"};
    }
    if (!ready)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  // Sequential requests: the answers do not depend on their order, and a
  // single in-flight request keeps the shards' timing out of the figures.
  // The API actor learns the partition map by a push: retry while not_ready.
  for (std::size_t next = 0; next < users.size() && !failure; ++next) {
    auto u = users[next];
    for (int attempt = 0;; ++attempt) {
      bool retry = false;
      self->request(api, std::chrono::seconds{60}, recommend_atom_v, u, limit, false, recommend_filter{})
        .receive(
          [&](const std::string& body) {
            auto j = json::parse(body);
            auto& list = out[u];
            auto known = seen.find(u);
            for (const auto& r : j["recommendations"]) {
              auto item = r["item_id"].get<item_id>();
              if (list.items.size() >= max_k ||
                  (known != seen.end() && known->second.count(item) != 0))
                continue;
              list.items.push_back(item);
              const auto& reasons = r["reasons"];
              list.routes.push_back(reasons.empty() ? "none" : reasons[0]["route"].get<std::string>());
              auto& all = list.proposed.emplace_back();
              for (const auto& reason : reasons)
                all.push_back(reason["route"].get<std::string>());
            }
            if (j.contains("degraded"))
              ++degraded;
          },
          [&](caf::error& e) {
            if (e.category() == error_category && e.code() == static_cast<std::uint8_t>(ec::not_ready) && attempt < 100)
              retry = true;
            else
              failure = "recommend for user " + std::to_string(u) + ": " + describe(e);
          });
      if (!retry)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }
  stop();
  return failure;
}

model_result score_model(const std::string& name, const engine::data_split& split,
                         const std::map<user_id, std::vector<item_id>>& lists,
                         std::size_t catalogue,
                         const std::map<user_id, served_list>* served = nullptr) {
  model_result m;
  m.name = name;
  for (auto k : cutoffs) {
    engine::ranking_mean mean;
    std::vector<std::vector<item_id>> all;
    std::map<std::string, double> routes, reach;
    double slots = 0;
    for (const auto& [user, relevant] : split.test) {
      auto it = lists.find(user);
      static const std::vector<item_id> none;
      const auto& list = it == lists.end() ? none : it->second;
      mean.add(engine::score_ranking(list, relevant, k));
      all.push_back(list);
      if (served)
        if (auto s = served->find(user); s != served->end())
          for (std::size_t r = 0; r < s->second.routes.size() && r < k; ++r) {
            routes[s->second.routes[r]] += 1;
            for (const auto& route : s->second.proposed[r])
              reach[route] += 1;
            slots += 1;
          }
    }
    auto& f = m.at[k];
    f.scores = mean.mean();
    f.coverage = engine::catalogue_coverage(all, k, catalogue);
    for (auto& [route, count] : routes)
      f.route_share[route] = slots > 0 ? count / slots : 0;
    for (auto& [route, count] : reach)
      f.route_reach[route] = slots > 0 ? count / slots : 0;
  }
  return m;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "recd: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int fail(const std::string& reason) {
  std::fprintf(stderr, "recd: eval: %s\n", reason.c_str());
  return 1;
}

} // namespace

int run_eval(const settings& base, const eval_options& opt) {
  auto t0 = clock::now();
  // stdout carries the results (table, or JSON with --json -): logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("eval"));
  if (opt.split == "random" && !(opt.ratio > 0 && opt.ratio < 1))
    return fail("--ratio must lie strictly between 0 and 1");
  if (opt.split == "temporal" && opt.leave_last < 1 && !(opt.ratio > 0 && opt.ratio < 1))
    return fail("--ratio must lie strictly between 0 and 1");
  if (opt.limit < static_cast<std::int32_t>(max_k) || opt.limit > 100)
    return fail("--limit must lie between 20 and 100");
  eval_result result;
  std::vector<behavior_event> events;
  auto now = static_cast<unix_seconds>(std::time(nullptr));
  if (opt.source == "movielens") {
    if (auto err = read_movielens(opt.movielens_dir, events))
      return fail(*err);
    result.dataset = "movielens " + opt.movielens_dir;
  } else {
    // A fixed clock, so that the same options give the same shop on every
    // run (the train part is rebased to the present below anyway).
    auto shop = opt.shop;
    shop.now = 1767225600; // 2026-01-01T00:00:00Z
    if (auto err = engine::check_options(shop))
      return fail(*err);
    events = engine::generate_shop(shop).events;
    result.dataset = "synthetic users=" + std::to_string(shop.users) + " items=" +
                     std::to_string(shop.items) + " events=" + std::to_string(shop.events) +
                     " seed=" + std::to_string(shop.seed);
  }
  auto split = opt.split == "random" ? engine::split_random(events, opt.ratio, opt.seed)
               : opt.leave_last > 0
                 ? engine::split_leave_last(events, static_cast<std::size_t>(opt.leave_last))
                 : engine::split_temporal(events, opt.ratio);
  result.split = opt.split == "random"
                   ? "random ratio=" + std::to_string(opt.ratio).substr(0, 4) + " seed=" + std::to_string(opt.seed)
                 : opt.leave_last > 0 ? "temporal leave_last=" + std::to_string(opt.leave_last)
                                      : "temporal ratio=" + std::to_string(opt.ratio).substr(0, 4);
  if (opt.validation_seed > 0) {
    // The validation split: the same kind of split of the train part; the
    // test pairs go no further than this line.
    auto outer = std::move(split.train);
    split = opt.split == "random" ? engine::split_random(outer, opt.ratio, opt.validation_seed)
            : opt.leave_last > 0
              ? engine::split_leave_last(outer, static_cast<std::size_t>(opt.leave_last))
              : engine::split_temporal(outer, opt.ratio);
    result.split += " validation (the train part split again" +
                    (opt.split == "random" ? " with seed " + std::to_string(opt.validation_seed) : std::string{}) +
                    ", scored on its held-out pairs)";
  }
  result.events = events.size();
  result.train_events = split.train.size();
  result.test_users = split.test.size();
  if (split.train.empty() || split.test.empty())
    return fail("the split left no train events or no test users");
  // Rebase: the newest train event happens now, as if the shop were live.
  unix_seconds newest = 0;
  std::map<user_id, std::set<item_id>> train_items;
  std::set<item_id> catalogue;
  for (const auto& e : split.train) {
    newest = std::max(newest, e.ts);
    train_items[e.user].insert(e.item);
    catalogue.insert(e.item);
  }
  for (auto& e : split.train)
    e.ts += now - newest;
  result.catalogue = catalogue.size();
  // No protocol settings: the jobs and the API run with the settings as
  // given, so the figures are what `recd compute` + `recd serve` with the
  // same settings serve. The report names every setting that differs from
  // its default (connection settings and secrets aside).
  const settings& cfg = base;
  {
    const settings defaults;
    for (const auto& info : setting_table()) {
      if (info.secret || info.name.rfind("postgres.", 0) == 0 || info.name.rfind("redis.", 0) == 0 ||
          info.name.rfind("admin.", 0) == 0 || info.name.rfind("http.", 0) == 0)
        continue;
      auto value = info.get(cfg);
      if (value != info.get(defaults))
        result.changed_settings.push_back(info.name + "=" + value);
    }
  }
  result.protocol = "top " + std::to_string(opt.limit) + " asked, train items dropped, first " +
                    std::to_string(max_k) + " scored";
  std::fprintf(stderr, "eval: %s, %zu events, split %s: %zu train events, %zu test users\n",
               result.dataset.c_str(), events.size(), result.split.c_str(), split.train.size(),
               split.test.size());

  auto t_train = clock::now();
  if (auto err = import_train(cfg, split.train))
    return fail(*err);
  // The same rows the eval imported: `recd import csv` of this file into an
  // empty database, `recd compute`, `recd serve` serve the same lists.
  if (!opt.export_train_file.empty() && !write_file(opt.export_train_file, train_csv(split.train)))
    return 1;
  auto partitions = partition_count(cfg);
  if (!partitions)
    return 1;
  if (auto err = run_jobs(cfg, *partitions))
    return fail(*err);
  result.train_seconds = seconds_since(t_train);

  auto t_serve = clock::now();
  std::vector<user_id> users;
  for (const auto& [u, items] : split.test)
    users.push_back(u);
  std::map<user_id, served_list> served;
  if (auto err = ask_served(cfg, *partitions, users, opt.limit, train_items, served, result.degraded))
    return fail(*err);
  for (const auto& u : users)
    if (served[u].items.size() < max_k)
      ++result.short_lists;
  result.serve_seconds = seconds_since(t_serve);
  std::map<user_id, std::vector<item_id>> recd_lists;
  for (const auto& [u, list] : served)
    recd_lists[u] = list.items;
  result.models.push_back(score_model("recd", split, recd_lists, catalogue.size(), &served));

  auto t_base = clock::now();
  if (opt.baselines)
    for (auto model : engine::all_baselines) {
      engine::baseline_recommender rec{split.train, model};
      std::map<user_id, std::vector<item_id>> lists;
      for (auto u : users)
        lists[u] = rec.recommend(u, max_k);
      result.models.push_back(score_model(engine::to_string(model), split, lists, catalogue.size()));
    }
  result.baseline_seconds = seconds_since(t_base);
  result.total_seconds = seconds_since(t0);

  // With --json - the JSON alone goes to stdout (for pipes), the table to stderr.
  std::fputs(eval_table(result).c_str(), opt.json_file == "-" ? stderr : stdout);
  if (opt.json_file == "-")
    std::printf("%s\n", eval_json(result).c_str());
  else if (!opt.json_file.empty() && !write_file(opt.json_file, eval_json(result)))
    return 1;
  if (!opt.report_file.empty() && !write_file(opt.report_file, eval_html(result)))
    return 1;
  if (!opt.export_file.empty()) {
    std::string lines;
    for (const auto& [u, list] : recd_lists)
      for (std::size_t r = 0; r < list.size(); ++r)
        lines += std::to_string(u) + ' ' + std::to_string(list[r]) + ' ' + std::to_string(r + 1) + '\n';
    if (!write_file(opt.export_file, lines))
      return 1;
  }
  return 0;
}

} // namespace recd
