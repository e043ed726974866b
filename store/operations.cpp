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

} // namespace recd::store
