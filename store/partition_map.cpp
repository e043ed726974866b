#include "store/partition_map.hpp"

#include "store/database.hpp"
#include "store/leadership.hpp"

namespace recd::store {

persisted_map load_partition_map(pqxx::connection& c) {
  persisted_map out;
  pqxx::read_transaction tx{c};
  for (const auto& r : tx.exec("SELECT partition, shard, epoch FROM partition_map ORDER BY partition")) {
    auto p = r[0].as<std::size_t>();
    if (out.owners.size() <= p)
      out.owners.resize(p + 1);
    out.owners[p] = r[1].c_str();
    out.epoch = std::max(out.epoch, r[2].as<std::uint64_t>());
  }
  return out;
}

void save_partition_map(pqxx::connection& c, std::uint64_t epoch,
                        const std::vector<std::string>& owners, std::int64_t term) {
  std::vector<std::int32_t> parts;
  std::string names = "{";
  for (std::size_t p = 0; p < owners.size(); ++p) {
    parts.push_back(static_cast<std::int32_t>(p));
    // Shard names are quoted array elements: escape quotes and backslashes.
    std::string quoted;
    for (char ch : owners[p]) {
      if (ch == '"' || ch == '\\')
        quoted += '\\';
      quoted += ch;
    }
    names += (p ? ",\"" : "\"") + quoted + "\"";
  }
  names += "}";
  pqxx::work tx{c};
  tx.exec("DELETE FROM partition_map");
  tx.exec_params("INSERT INTO partition_map (partition, shard, epoch) SELECT p, s, $3 FROM "
                 "unnest($1::int[], $2::text[]) AS x(p, s)",
                 int_array_literal(parts), names, static_cast<std::int64_t>(epoch));
  fence(tx, term); // last: a deposed leader writes no map (store/leadership.hpp)
  tx.commit();
}

std::vector<std::pair<std::string, std::int64_t>> newest_published_runs(pqxx::connection& c) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  pqxx::read_transaction tx{c};
  for (const auto& r : tx.exec("SELECT kind, max(run_id) FROM job_runs WHERE status = "
                               "'published' GROUP BY kind"))
    out.emplace_back(r[0].c_str(), r[1].as<std::int64_t>());
  return out;
}

} // namespace recd::store
