#include "support/load_generator.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/api_client.hpp"
#include "support/shop_data.hpp"

namespace recd::test {

// ---- the load ------------------------------------------------------------------------------

std::string load_report::summary() const {
  return std::to_string(recommends) + " recommends (" + std::to_string(degraded) +
         " degraded, " + std::to_string(recommend_failures) + " failed), " +
         std::to_string(behaviors) + " behaviors (" + std::to_string(behavior_failures) +
         " failed) in " + fmt(seconds, 1) + " s, slowest " + fmt(max_latency_ms, 0) + " ms";
}

std::string load_report::first_failures() const {
  std::string out;
  for (const auto& f : failures)
    out += "  t=" + fmt(f.at) + " s  " + f.what + "\n";
  return out;
}

load_generator::load_generator(options opt) : opt_(std::move(opt)), t0_(steady::now()) {
  for (int t = 0; t < opt_.threads; ++t)
    threads_.emplace_back([this, t] { run(t); });
}

load_report load_generator::finish() {
  stop_ = true;
  for (auto& th : threads_)
    if (th.joinable())
      th.join();
  if (!finished_) {
    finished_ = true;
    report_.seconds = elapsed();
    std::sort(report_.acked.begin(), report_.acked.end(),
              [](const acked_behavior& a, const acked_behavior& b) { return a.id < b.id; });
  }
  return report_;
}

void load_generator::set_ports(std::vector<std::uint16_t> ports) {
  std::lock_guard lock{mutex_};
  opt_.ports = std::move(ports);
}

void load_generator::failure(bool is_behavior, const std::string& what) {
  std::lock_guard lock{mutex_};
  ++(is_behavior ? report_.behavior_failures : report_.recommend_failures);
  if (report_.failures.size() < 12)
    report_.failures.push_back({elapsed(), what});
}

void load_generator::run(int t) {
  std::mt19937_64 rng{opt_.seed * 1000 + static_cast<std::uint64_t>(t)};
  auto pick = [&](std::int64_t n) { return static_cast<std::int64_t>(rng() % std::uint64_t(n)); };
  std::uniform_real_distribution<double> coin{0, 1};
  const auto deadline = t0_ + opt_.max_duration;
  static const char* kinds[] = {"view", "click", "cart"};
  for (int round = 0; round < opt_.max_rounds && !stop_ && steady::now() < deadline; ++round) {
    ++rounds_;
    const auto ports = [&] {
      std::lock_guard lock{mutex_};
      return opt_.ports;
    }();
    auto node = static_cast<std::size_t>(pick(static_cast<std::int64_t>(ports.size())));
    auto port = ports[node];
    auto user = 1 + pick(opt_.users);
    auto r = recommend(port, user, 10, coin(rng) < 0.5);
    bool ok = r.status == 200 && r.json.is_object() && r.json.contains("recommendations");
    {
      std::lock_guard lock{mutex_};
      ++report_.recommends;
      report_.degraded += ok && is_degraded(r);
      report_.max_latency_ms = std::max(report_.max_latency_ms, r.elapsed_ms);
    }
    if (!ok)
      failure(false, "GET /api/recommend/" + std::to_string(user) + " on :" +
                       std::to_string(port) + " -> " + show(r));
    if (coin(rng) >= opt_.behavior_share)
      continue;
    auto other = ports[(node + 1) % ports.size()];
    auto recs = item_ids(r);
    std::int64_t item = 1 + pick(opt_.items);
    std::string kind = kinds[pick(3)];
    if (!recs.empty() && coin(rng) < 0.5) {
      item = recs.front();
      kind = "buy";
    }
    auto b = behave(other, user, item, kind);
    {
      std::lock_guard lock{mutex_};
      ++report_.behaviors;
      report_.max_latency_ms = std::max(report_.max_latency_ms, b.elapsed_ms);
    }
    if (b.status == 200 && b.json.is_object() && b.json.contains("behavior_id") &&
        b.json["behavior_id"].is_number_integer()) {
      std::lock_guard lock{mutex_};
      report_.acked.push_back(
        {b.json["behavior_id"].get<std::int64_t>(), user, item, kind, elapsed()});
    } else {
      {
        std::lock_guard lock{mutex_};
        report_.failed_behaviors.push_back({0, user, item, kind, elapsed()});
      }
      failure(true, "POST /api/behavior {" + std::to_string(user) + ", " +
                      std::to_string(item) + ", " + kind + "} on :" + std::to_string(other) +
                      " -> " + show(b));
    }
  }
}

// ---- what it leaves behind -----------------------------------------------------------------

void expect_acked_behaviors_stored(const test_database& db,
                                   const std::vector<acked_behavior>& acked) {
  if (acked.empty())
    return;
  std::map<std::int64_t, const acked_behavior*> by_id;
  std::string ids;
  for (const auto& a : acked) {
    by_id[a.id] = &a;
    ids += (ids.empty() ? "" : ",") + std::to_string(a.id);
  }
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  auto rows = tx.exec("SELECT id, user_id, item_id, behavior_type FROM user_behavior WHERE id IN (" +
                      ids + ")");
  std::set<std::int64_t> found;
  std::size_t mismatched = 0;
  for (const auto& row : rows) {
    auto id = row[0].as<std::int64_t>();
    found.insert(id);
    const auto& a = *by_id.at(id);
    if (row[1].as<std::int64_t>() != a.user || row[2].as<std::int64_t>() != a.item ||
        row[3].as<std::string>() != a.kind) {
      ++mismatched;
      ADD_FAILURE() << "behavior " << id << " is stored as (" << row[1].c_str() << ", "
                    << row[2].c_str() << ", " << row[3].c_str() << "), acknowledged as ("
                    << a.user << ", " << a.item << ", " << a.kind << ")";
    }
  }
  std::vector<std::int64_t> missing;
  for (const auto& a : acked)
    if (!found.count(a.id))
      missing.push_back(a.id);
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << acked.size()
                               << " acknowledged behaviors are not in user_behavior, e.g. ids "
                               << join(std::vector<std::int64_t>(
                                    missing.begin(),
                                    missing.begin() + std::min<long>(10, long(missing.size()))));
  EXPECT_EQ(mismatched, 0u);
}

std::string committed_failures(const test_database& db, const load_report& report,
                               std::int64_t id_before) {
  if (report.failed_behaviors.empty())
    return "";
  std::string acked = "0";
  for (const auto& a : report.acked)
    acked += "," + std::to_string(a.id);
  std::size_t committed = 0;
  for (const auto& f : report.failed_behaviors)
    committed += count(db, "SELECT count(*) FROM user_behavior WHERE id > " +
                             std::to_string(id_before) + " AND id NOT IN (" + acked +
                             ") AND user_id = " + std::to_string(f.user) +
                             " AND item_id = " + std::to_string(f.item) +
                             " AND behavior_type = '" + f.kind + "'") > 0;
  return std::to_string(committed) + " of the " + std::to_string(report.failed_behaviors.size()) +
         " failed behaviors have a matching unacknowledged row in user_behavior (committed, "
         "answered as failed)";
}

void expect_bought_items_not_recommended(const std::vector<std::uint16_t>& ports,
                                         const std::vector<acked_behavior>& acked,
                                         std::size_t max_users, int partitions,
                                         const std::string& timeline) {
  std::map<std::int64_t, std::map<std::int64_t, double>> bought; // user -> item -> acked at
  for (const auto& a : acked)
    if (a.kind == "buy" && (bought.size() < max_users || bought.count(a.user)))
      bought[a.user].emplace(a.item, a.at);
  std::size_t offenders = 0, k = 0;
  std::string examples;
  for (const auto& [user, items] : bought) {
    auto port = ports[k++ % ports.size()];
    auto r = recommend(port, user, 10, false);
    if (r.status != 200) {
      ADD_FAILURE() << "GET /api/recommend/" << user << " after the load: " << show(r);
      continue;
    }
    for (auto item : item_ids(r))
      if (auto it = items.find(item); it != items.end()) {
        ++offenders;
        if (examples.size() < 2000)
          examples += "  user " + std::to_string(user) + " (partition " +
                      std::to_string(user % partitions) + ") bought item " +
                      std::to_string(item) + " (acknowledged at t=" + fmt(it->second) +
                      " s) and gets it recommended again on :" + std::to_string(port) + "\n";
      }
  }
  info("read-your-writes check: " + std::to_string(bought.size()) + " users with buys, " +
       std::to_string(offenders) + " see a bought item again");
  EXPECT_EQ(offenders, 0u) << "acknowledged buys missing from the serving shards' memory:\n"
                           << examples << "timeline:\n"
                           << timeline;
}

std::string timeline_text(std::vector<std::string> lines) {
  auto at = [](const std::string& l) { return std::strtod(l.c_str() + 2, nullptr); };
  std::stable_sort(lines.begin(), lines.end(),
                   [&](const std::string& a, const std::string& b) { return at(a) < at(b); });
  std::string out;
  for (const auto& l : lines)
    out += "  " + l + "\n";
  return out;
}

} // namespace recd::test
