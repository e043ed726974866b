#pragma once
// `recd eval`: offline quality of the served recommendations.
//
// Protocol (docs/quality.md): load a data set, split it per user (random
// ratio, newest share, or leave-last-n), import the train part into an EMPTY
// database with the newest event at now, run `recd compute`'s default jobs
// with the settings as given (no protocol overrides: what a user of these
// settings gets), start the serving actors in-process and ask the API actor
// (the code behind /api/recommend, cache off) for each test user's top
// `limit`; the user's train items are dropped from that list (as a client
// scoring unseen items would) and the first 20 are scored. The same lists
// come from the built-in baselines on the same split; the report gives NDCG,
// precision, recall, hit rate and MAP at 10 and 20, catalogue coverage, route
// shares, and every setting that differs from its default.
//
// Tuning: with --validation S the train part is split again the same way and
// the run is scored on the held-out train pairs, so settings can be chosen
// without looking at the test pairs (docs/quality.md, "Tuning on a
// validation split").
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "engine/metrics.hpp"
#include "engine/synthetic.hpp"

namespace recd {

struct eval_options {
  std::string source;              // "movielens" or "synthetic"
  std::string movielens_dir;       // u.data, or ratings.csv
  engine::synthetic_options shop;  // source "synthetic"
  std::string split = "random";    // random | temporal
  double ratio = 0.75;             // share of each user's items in train (random: drawn; temporal: oldest)
  std::uint64_t seed = 1;          // random: split seed
  std::int32_t leave_last = 0;     // temporal: > 0 = exactly this many newest items per user in test
  // > 0: tune without touching the test part. The train part of the split
  // above is split again the same way (random: with this seed; temporal: its
  // newest share), the jobs learn on the inner train part and the served
  // lists are scored against the held-out train pairs. The test pairs are
  // dropped unread.
  std::uint64_t validation_seed = 0;
  std::int32_t limit = 50;         // items asked of the API per user (1..100)
  bool baselines = true;
  std::string json_file;           // "" = none, "-" = stdout
  std::string report_file;         // HTML page with charts
  std::string export_file;         // "user item rank" lines of recd's lists
  std::string export_train_file;   // the imported train part as `recd import csv` reads it
};

// One model's figures at one cutoff.
struct model_figures {
  engine::ranking_scores scores;
  double coverage = 0;
  std::map<std::string, double> route_share; // recd only: share of slots whose strongest route it is
  std::map<std::string, double> route_reach; // recd only: share of slots the route proposed
};

struct model_result {
  std::string name;
  std::map<std::size_t, model_figures> at; // k -> figures
};

struct eval_result {
  std::string dataset;
  std::string split;
  std::size_t events = 0, train_events = 0, test_users = 0, catalogue = 0;
  std::size_t degraded = 0;        // served answers marked degraded (should be 0)
  std::size_t short_lists = 0;     // users with fewer than 20 unseen items among the `limit` asked
  std::string protocol;            // how the served lists were asked and filtered
  std::vector<std::string> changed_settings; // "section.key=value" that differ from the defaults
  double train_seconds = 0, serve_seconds = 0, baseline_seconds = 0, total_seconds = 0;
  std::vector<model_result> models;
};

int run_eval(const settings& cfg, const eval_options& opt);

// Rendering (cli_eval_report.cpp).
std::string eval_table(const eval_result& r);
std::string eval_json(const eval_result& r);
std::string eval_html(const eval_result& r);

} // namespace recd
