#include "store/operations.hpp"

namespace recd::store {

std::vector<job_run_row> recent_job_runs(pqxx::connection& c, int limit) {
  pqxx::read_transaction tx{c};
  std::vector<job_run_row> out;
  for (const auto& r : tx.exec_params(
         "SELECT run_id, kind, status, started_at::text, coalesce(finished_at::text, ''), rows, "
         "extract(epoch from (coalesce(finished_at, now()) - started_at))::float8, "
         "coalesce(error, '') FROM job_runs ORDER BY run_id DESC LIMIT $1",
         limit))
    out.push_back({r[0].as<std::int64_t>(), r[1].c_str(), r[2].c_str(), r[3].c_str(),
                   r[4].c_str(), r[5].as<std::int64_t>(), r[6].as<double>(), r[7].c_str()});
  return out;
}

std::vector<job_run_count> job_run_counts(pqxx::connection& c) {
  pqxx::read_transaction tx{c};
  std::vector<job_run_count> out;
  for (const auto& r :
       tx.exec("SELECT kind, status, count(*) FROM job_runs GROUP BY kind, status ORDER BY 1, 2"))
    out.push_back({r[0].c_str(), r[1].c_str(), r[2].as<std::int64_t>()});
  return out;
}

partition_counts count_by_partition(pqxx::connection& c, std::uint32_t partitions) {
  partition_counts out;
  out.users.assign(partitions, 0);
  out.items.assign(partitions, 0);
  pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx{c};
  // One snapshot for both counts. Ids are non-negative (engine/types.hpp).
  for (const auto& r : tx.exec_params(
         "SELECT user_id % $1, count(*) FROM (SELECT user_id FROM user_behavior UNION "
         "SELECT user_id FROM user_similarity) u GROUP BY 1",
         static_cast<std::int64_t>(partitions))) {
    auto p = r[0].as<std::int64_t>();
    if (p >= 0 && p < static_cast<std::int64_t>(partitions))
      out.users[static_cast<std::size_t>(p)] = r[1].as<std::uint64_t>();
  }
  for (const auto& r : tx.exec_params("SELECT item_id % $1, count(*) FROM items GROUP BY 1",
                                      static_cast<std::int64_t>(partitions))) {
    auto p = r[0].as<std::int64_t>();
    if (p >= 0 && p < static_cast<std::int64_t>(partitions))
      out.items[static_cast<std::size_t>(p)] = r[1].as<std::uint64_t>();
  }
  return out;
}

shop_stats read_shop_stats(pqxx::connection& c) {
  shop_stats out;
  pqxx::read_transaction tx{c};
  auto r = tx.exec(
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items), "
    "(SELECT count(*) FROM user_behavior WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '1 day'), "
    "(SELECT count(*) FROM item_similarity), (SELECT count(*) FROM user_similarity)");
  out.users = r[0][0].as<std::int64_t>();
  out.items = r[0][1].as<std::int64_t>();
  out.behaviors_24h = r[0][2].as<std::int64_t>();
  out.item_pairs = r[0][3].as<std::int64_t>();
  out.user_pairs = r[0][4].as<std::int64_t>();
  auto runs = tx.exec(
    "SELECT DISTINCT ON (kind) kind, run_id, status, started_at::text, "
    "coalesce(finished_at::text, ''), rows, extract(epoch from (coalesce(finished_at, now()) - "
    "started_at))::float8, coalesce(error, ''), "
    "coalesce(extract(epoch from finished_at), 0)::float8 FROM job_runs "
    "ORDER BY kind, run_id DESC");
  for (const auto& run : runs)
    out.last_runs.push_back({{run[1].as<std::int64_t>(), run[0].c_str(), run[2].c_str(),
                              run[3].c_str(), run[4].c_str(), run[5].as<std::int64_t>(),
                              run[6].as<double>(), run[7].c_str()},
                             run[8].as<double>()});
  return out;
}

std::int64_t stored_behaviors(pqxx::connection& c) {
  pqxx::work tx{c};
  std::int64_t existing = 0;
  auto exists = tx.exec1("SELECT to_regclass('user_behavior') IS NOT NULL")[0].as<bool>();
  if (exists)
    existing = tx.exec1("SELECT count(*) FROM user_behavior")[0].as<std::int64_t>();
  return existing;
}

} // namespace recd::store
