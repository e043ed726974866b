#pragma once
// The schema migrations compiled from sql/*.sql (see cmake/EmbedSql.cmake).
#include <string>
#include <vector>

namespace recd::store {

struct migration {
  int version;
  std::string name;
  std::string sql;
};

// All migrations in version order.
const std::vector<migration>& migrations();

} // namespace recd::store
