#include "support/shop_data.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include <pqxx/pqxx>

#include "engine/synthetic.hpp"
#include "protocol/errors.hpp"
#include "store/importer.hpp"

namespace recd::test {

void import_shop(const test_database& db, const shop_spec& spec, unix_seconds now) {
  engine::synthetic_options opt;
  opt.users = spec.users;
  opt.items = spec.items;
  opt.events = spec.events;
  opt.seed = spec.seed;
  opt.now = now;
  opt.days = 80;
  auto c = db.connect();
  auto report = store::import_synthetic(c, opt);
  if (!report)
    throw std::runtime_error("import_synthetic: " + describe(report.error()));
  pqxx::nontransaction tx{c};
  auto t = std::to_string(now);
  tx.exec("UPDATE user_behavior SET timestamp = timestamp + interval '2 hours' WHERE "
          "timestamp > to_timestamp(" + t + ") - interval '30 days' - interval '1 hour' AND "
          "timestamp <= to_timestamp(" + t + ") - interval '30 days' + interval '1 hour'");
  tx.exec("ANALYZE");
}

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? -1 : std::stoll(s);
}

std::vector<std::int64_t> column(const test_database& db, const std::string& sql) {
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  std::vector<std::int64_t> out;
  for (const auto& row : tx.exec(sql))
    out.push_back(row[0].as<std::int64_t>());
  return out;
}

std::map<std::pair<int, int>, double> similarity_rows(const test_database& db,
                                                      const std::string& table,
                                                      const std::string& a,
                                                      const std::string& b) {
  std::map<std::pair<int, int>, double> out;
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  for (const auto& row : tx.exec("SELECT " + a + ", " + b + ", similarity_score::float8 FROM " +
                                 table))
    out[{row[0].as<int>(), row[1].as<int>()}] = row[2].as<double>();
  return out;
}

rows_diff compare_rows(const std::map<std::pair<int, int>, double>& cluster_rows,
                       const std::map<std::pair<int, int>, double>& single_rows) {
  rows_diff d;
  auto example = [&](const std::pair<int, int>& k, const std::string& what) {
    if (d.examples.size() < 800)
      d.examples += "  (" + std::to_string(k.first) + ", " + std::to_string(k.second) + ") " +
                    what + "\n";
  };
  for (const auto& [k, v] : cluster_rows) {
    auto it = single_rows.find(k);
    if (it == single_rows.end()) {
      ++d.only_cluster;
      example(k, "only in the cluster run");
    } else if (std::abs(it->second - v) > 1e-9) {
      ++d.score_differs;
      example(k, "cluster " + std::to_string(v) + " vs one node " + std::to_string(it->second));
    }
  }
  for (const auto& [k, v] : single_rows)
    if (!cluster_rows.count(k)) {
      ++d.only_single;
      example(k, "only in the one-node run");
    }
  return d;
}

std::map<int, std::vector<float>> item_vectors(const test_database& db) {
  std::map<int, std::vector<float>> out;
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  for (const auto& row : tx.exec("SELECT item_id, embedding FROM items WHERE embedding IS NOT NULL")) {
    std::string s = row[1].c_str();
    for (char& ch : s)
      if (ch == '{' || ch == '}' || ch == ',')
        ch = ' ';
    std::istringstream in{s};
    auto& v = out[row[0].as<int>()];
    for (std::string tok; in >> tok;)
      v.push_back(std::strtof(tok.c_str(), nullptr));
  }
  return out;
}

} // namespace recd::test
