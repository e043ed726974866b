// recd: the one binary. Subcommands: migrate, import, compute, serve, eval, admin, config.
// Settings: --config FILE, then RECD_<SECTION>_<KEY> variables, then
// --set section.key=value flags (and the shortcuts each subcommand offers).

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "nodes/cli_eval.hpp"
#include "nodes/commands.hpp"
#include "nodes/logging.hpp"
#include "protocol/version.hpp"

namespace {

int fail(const std::string& reason) {
  std::fprintf(stderr, "recd: %s\n", reason.c_str());
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"recd: a real-time recommendation engine on an actor cluster"};
  app.require_subcommand(1);
  // The image test (scripts/image) runs it inside the image's root file system.
  app.set_version_flag("--version", std::string{"recd "} + RECD_VERSION + " (wire protocol " +
                                      std::to_string(recd::wire_version()) + ")");
  app.fallthrough(); // global options may follow the subcommand
  // Usage errors are one line on stderr, like every other failure.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string{"recd: "} + e.what() + " (see --help)\n";
  });
  std::string config_file;
  std::vector<std::string> overrides;
  app.add_option("--config", config_file, "INI config file (see config/recd.conf.example)");
  app.add_option("--set", overrides, "override a setting: --set section.key=value (repeatable)");
  std::string postgres_url, redis_url, http_addr;
  app.add_option("--postgres-url", postgres_url, "same as --set postgres.url=...");
  app.add_option("--redis-url", redis_url, "same as --set redis.url=...");

  auto* migrate = app.add_subcommand("migrate", "create or upgrade the database schema");
  std::uint32_t partitions = 0;
  migrate->add_option("--partitions", partitions,
                      "virtual partitions (first migrate only; default cluster.partitions)");
  std::string app_role;
  migrate->add_option("--app-role", app_role,
                      "create/update this LOGIN role (password from env RECD_APP_ROLE_PASSWORD) "
                      "and make it own recd's tables; then run recd as that role");

  auto* import = app.add_subcommand("import", "load behavior data (all or nothing)");
  import->require_subcommand(1);
  import->fallthrough();
  auto* synthetic = import->add_subcommand("synthetic", "generate a realistic shop");
  recd::engine::synthetic_options syn;
  synthetic->add_option("--users", syn.users, "number of users")->check(CLI::PositiveNumber);
  synthetic->add_option("--items", syn.items, "number of items")->check(CLI::PositiveNumber);
  synthetic->add_option("--events", syn.events, "number of behavior events")
    ->check(CLI::PositiveNumber);
  synthetic->add_option("--seed", syn.seed, "random seed (same seed, same shop)");
  synthetic->add_option("--now", syn.now,
                        "newest possible event time, Unix seconds (default: today's 00:00 UTC, so "
                        "the same seed gives the same shop relative to it on any day)")
    ->check(CLI::PositiveNumber);
  auto* movielens = import->add_subcommand("movielens", "MovieLens u.data+u.item or ratings.csv+movies.csv");
  std::string ml_dir;
  bool rebase = false;
  movielens->add_option("DIR", ml_dir, "directory holding the files")->required();
  movielens->add_flag("--rebase-time", rebase, "shift timestamps so the newest is now");
  auto* csv = import->add_subcommand("csv", "user_id,item_id,behavior_type[,timestamp] rows");
  std::string csv_file;
  csv->add_option("FILE", csv_file, "CSV file, or - for stdin")->required();

  auto* compute = app.add_subcommand("compute", "run the offline jobs now and wait");
  // The seed's two tables, then what recall reads (docs/quality.md).
  std::vector<std::string> jobs{"item_similarity", "user_similarity", "item_weights",
                                "user_neighbours", "embeddings"};
  compute->add_option("--jobs", jobs, "jobs to run: the similarity kinds in this order, embeddings beside them")
    ->delimiter(',')
    ->check(CLI::IsMember({"item_similarity", "user_similarity", "item_weights",
                           "user_neighbours", "embeddings"}));
  std::int32_t shards = 0;
  compute->add_option("--shards", shards, "shard actors doing the work (default cluster.shards)");
  std::string coordinator_addr;
  compute->add_option("--coordinator", coordinator_addr,
                      "run on a cluster: the coordinator's host:port (default: in this process)");

  auto* serve = app.add_subcommand("serve", "run the service");
  std::string role = "all";
  serve->add_option("--role", role, "node role: all (one process), coordinator, shard or api")
    ->check(CLI::IsMember({"all", "coordinator", "shard", "api"}));
  serve->add_option("--shards", shards, "shard actors (default cluster.shards)");
  serve->add_option("--addr", http_addr, "HTTP listen address (default http.addr)");

  auto* admin = app.add_subcommand(
    "admin", "operate recd through a node's admin port (token: RECD_ADMIN_TOKEN or admin.token_file)");
  admin->require_subcommand(1);
  admin->fallthrough();
  recd::admin_command admin_cmd;
  auto* admin_cluster = admin->add_subcommand("cluster", "show the partition map (JSON)");
  auto* admin_rebalance = admin->add_subcommand("rebalance", "force a rebalance of the partitions");
  for (auto* leaf : {admin_cluster, admin_rebalance}) {
    leaf->fallthrough();
    leaf->add_option("--coordinator", coordinator_addr,
                     "ask the coordinator over its actor port at host:port (without it: the admin port)");
  }
  auto* admin_jobs = admin->add_subcommand("jobs", "recent job runs and the running one's progress");
  auto* admin_run = admin->add_subcommand("run-job", "start a job run now (answers once it started)");
  admin_run->add_option("KIND", admin_cmd.argument, "item_similarity, user_similarity, embeddings, item_weights or user_neighbours")
    ->required()
    ->check(CLI::IsMember({"item_similarity", "user_similarity", "embeddings"}));
  auto* admin_drain = admin->add_subcommand("drain", "move every partition off a shard node");
  admin_drain->add_option("SHARD", admin_cmd.argument, "the shard node's name (recd admin cluster)")
    ->required();
  admin_drain->add_option("--wait", admin_cmd.wait_seconds,
                          "seconds to wait until it holds nothing (0: return at once)");
  auto* admin_cache = admin->add_subcommand("cache", "the cache of recommendations");
  admin_cache->require_subcommand(1);
  admin_cache->fallthrough();
  auto* admin_flush = admin_cache->add_subcommand("flush", "forget cached answers (all, or one user's)");
  admin_flush->add_option("USER", admin_cmd.argument, "a user id (default: every user)");
  auto* admin_check =
    admin->add_subcommand("check", "compare each shard's users and items in memory with PostgreSQL");
  auto* admin_rules = admin->add_subcommand("rules", "the API node's business rules (docs/rules.md)");
  admin_rules->require_subcommand(1);
  admin_rules->fallthrough();
  auto* admin_rules_show = admin_rules->add_subcommand("show", "print the rules in force");
  auto* admin_rules_reload =
    admin_rules->add_subcommand("reload", "read rules.file again (a bad file is refused, naming the line)");
  for (auto* leaf : {admin_cluster, admin_rebalance, admin_jobs, admin_run, admin_drain, admin_flush,
                     admin_check, admin_rules_show, admin_rules_reload}) {
    leaf->fallthrough();
    leaf->add_option("--admin", admin_cmd.admin_addr, "the admin port host:port (default admin.addr)");
  }
  for (auto* leaf : {admin_jobs, admin_check, admin_rules_show})
    leaf->add_flag("--json", admin_cmd.json, "print the JSON answer");

  auto* eval = app.add_subcommand("eval", "offline quality of the served recommendations vs baselines");
  eval->require_subcommand(1);
  eval->fallthrough();
  recd::eval_options ev;
  auto* eval_ml = eval->add_subcommand("movielens", "evaluate on MovieLens (u.data or ratings.csv)");
  eval_ml->add_option("DIR", ev.movielens_dir, "directory holding the files")->required();
  auto* eval_syn = eval->add_subcommand("synthetic", "evaluate on a generated shop");
  eval_syn->add_option("--users", ev.shop.users, "number of users")->check(CLI::PositiveNumber);
  eval_syn->add_option("--items", ev.shop.items, "number of items")->check(CLI::PositiveNumber);
  eval_syn->add_option("--events", ev.shop.events, "number of behavior events")->check(CLI::PositiveNumber);
  eval_syn->add_option("--shop-seed", ev.shop.seed, "generator seed");
  for (auto* leaf : {eval_ml, eval_syn}) {
    leaf->fallthrough();
    leaf->add_option("--split", ev.split, "random (per-user ratio) or temporal (each user's newest items)")
      ->check(CLI::IsMember({"random", "temporal"}));
    leaf->add_option("--ratio", ev.ratio, "share of each user's items in train (temporal: the oldest)")
      ->check(CLI::Range(0.0, 1.0));
    leaf->add_option("--seed", ev.seed, "random split seed");
    leaf->add_option("--validation", ev.validation_seed,
                     "tune on a validation split: split the train part again the same way (random: with this seed, "
                     "choose one unlike the test seeds), learn on the rest, score on its held-out train pairs; the test part is not read")
      ->check(CLI::PositiveNumber);
    leaf->add_option("--leave-last", ev.leave_last, "temporal split: exactly N newest items per user in test instead of a share")
      ->check(CLI::PositiveNumber);
    leaf->add_option("--limit", ev.limit, "items asked of /api/recommend per user; train items are dropped, the first 20 scored")
      ->check(CLI::Range(20, 100));
    leaf->add_flag("!--no-baselines", ev.baselines, "skip the built-in baselines");
    leaf->add_option("--json", ev.json_file, "write the figures as JSON to FILE (- = stdout, the table then goes to stderr)");
    leaf->add_option("--report", ev.report_file, "write an HTML page with charts to FILE");
    leaf->add_option("--export-recs", ev.export_file, "write recd's lists as 'user item rank' lines");
    leaf->add_option("--export-train", ev.export_train_file,
                     "write the train part as imported (user,item,behavior,unix time; newest = now) for `recd import csv`");
  }

  auto* config = app.add_subcommand("config", "print every setting with its value and docs");

  CLI11_PARSE(app, argc, argv);

  if (!postgres_url.empty())
    overrides.push_back("postgres.url=" + postgres_url);
  if (!redis_url.empty())
    overrides.push_back("redis.url=" + redis_url);
  if (!http_addr.empty())
    overrides.push_back("http.addr=" + http_addr);
  if (shards > 0)
    overrides.push_back("cluster.shards=" + std::to_string(shards));
  recd::settings cfg;
  if (auto err = recd::load_settings(cfg, config_file, overrides))
    return fail(*err);
  recd::configure_logging(cfg.log);

  if (*config) {
    std::cout << recd::render_settings(cfg);
    return 0;
  }
  if (*migrate)
    return recd::run_migrate(cfg, partitions, app_role);
  if (*synthetic) {
    return recd::run_import_synthetic(cfg, syn);
  }
  if (*movielens)
    return recd::run_import_movielens(cfg, ml_dir, rebase);
  if (*csv)
    return recd::run_import_csv(cfg, csv_file);
  if (*compute)
    return recd::run_compute(cfg, jobs, coordinator_addr);
  if ((*admin_cluster || *admin_rebalance) && !coordinator_addr.empty())
    return recd::run_admin(cfg, *admin_cluster ? "cluster" : "rebalance", coordinator_addr);
  if (*admin) {
    admin_cmd.name = *admin_cluster   ? "cluster"
                     : *admin_rebalance ? "rebalance"
                     : *admin_jobs      ? "jobs"
                     : *admin_run       ? "run-job"
                     : *admin_drain     ? "drain"
                     : *admin_flush     ? "cache-flush"
                     : *admin_rules_show   ? "rules-show"
                     : *admin_rules_reload ? "rules-reload"
                                        : "check";
    return recd::run_admin_http(cfg, admin_cmd);
  }
  if (*serve)
    return recd::run_serve(cfg, role);
  if (*eval_ml || *eval_syn) {
    ev.source = *eval_ml ? "movielens" : "synthetic";
    return recd::run_eval(cfg, ev);
  }
  return fail("no command");
}
