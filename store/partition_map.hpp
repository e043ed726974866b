#pragma once
// The coordinator's persisted state (sql/002_partition_map.sql, job_runs):
// the partition map it resumes after a restart or a takeover, and the newest
// published run of each job kind. All calls BLOCK and throw on SQL errors
// (callers wrap them in store::guard).

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace recd::store {

struct persisted_map {
  std::uint64_t epoch = 0;
  std::vector<std::string> owners; // partition -> shard name ("" = unassigned)
};

persisted_map load_partition_map(pqxx::connection& c);

// Replaces the map in one transaction, only while coordinator term `term`
// leads (store::fence; 0 = no replicas, no fence).
void save_partition_map(pqxx::connection& c, std::uint64_t epoch,
                        const std::vector<std::string>& owners, std::int64_t term);

// The newest published run id per job kind name (kinds without one are absent).
std::vector<std::pair<std::string, std::int64_t>> newest_published_runs(pqxx::connection& c);

} // namespace recd::store
