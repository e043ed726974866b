#include "store/user_history.hpp"

#include <algorithm>
#include <string>

namespace recd::store {

user_history read_user_history(pqxx::connection& c, user_id user, bool with_seen,
                               std::int32_t seen_limit, std::int64_t timeout_ms) {
  user_history out;
  pqxx::read_transaction tx{c};
  // An integer this function computed: safe in the statement text.
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(std::max<std::int64_t>(timeout_ms, 1)));
  for (const auto& row :
       tx.exec_params("SELECT DISTINCT item_id FROM user_behavior "
                      "WHERE user_id = $1 AND behavior_type = 'buy' ORDER BY item_id",
                      user))
    out.bought.push_back(row[0].as<item_id>());
  if (with_seen && seen_limit > 0) {
    for (const auto& row :
         tx.exec_params("SELECT item_id FROM user_behavior WHERE user_id = $1 GROUP BY item_id "
                        "ORDER BY max(timestamp) DESC, max(id) DESC LIMIT $2",
                        user, seen_limit))
      out.seen.push_back(row[0].as<item_id>());
    std::sort(out.seen.begin(), out.seen.end());
  }
  return out;
}

} // namespace recd::store
