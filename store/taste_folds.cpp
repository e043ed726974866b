#include "store/taste_folds.hpp"

#include "store/database.hpp"

namespace recd::store {

void read_unpublished_behaviors(
  pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions, std::uint32_t count,
  std::int64_t max_row,
  const std::function<void(item_id, behavior_kind, user_id, std::string_view)>& row) {
  // Few rows after an embeddings run: only items the run did not embed (new
  // since its snapshot, or left out) have a NULL embedding.
  auto rows = tx.exec_params(
    "SELECT b.item_id, b.behavior_type, b.user_id, u.embedding::text FROM user_behavior b "
    "JOIN items i ON i.item_id = b.item_id JOIN users u ON u.user_id = b.user_id "
    "WHERE b.item_id % $1 = ANY($2::int[]) AND ($3::bigint < 0 OR b.id <= $3::bigint) "
    "AND i.embedding IS NULL AND u.embedding IS NOT NULL ORDER BY b.id",
    static_cast<std::int64_t>(count), int_array_literal(partitions), max_row);
  for (const auto& r : rows)
    row(r[0].as<item_id>(), parse_behavior_kind(r[1].c_str()).value_or(behavior_kind::view),
        r[2].as<user_id>(), std::string_view{r[3].c_str(), r[3].size()});
}

} // namespace recd::store
