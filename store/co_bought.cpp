#include "store/co_bought.hpp"

#include "store/database.hpp"

namespace recd::store {

void read_co_bought(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                    std::uint32_t count, std::int64_t max_row, std::int32_t recent,
                    std::int32_t cap,
                    const std::function<void(item_id, item_id, std::uint32_t)>& row) {
  // Only the buyers of the partitions' items matter; their first buys are
  // ranked per user, and pairs at most `recent` positions apart are counted
  // in both directions (the owned side is kept).
  auto rows = tx.exec_params(
    "WITH buyers AS (SELECT DISTINCT user_id FROM user_behavior WHERE behavior_type = 'buy' "
    "  AND id <= $3 AND item_id % $1 = ANY($2::int[])), "
    "firsts AS (SELECT b.user_id, b.item_id, min(b.id) AS first_row FROM user_behavior b "
    "  JOIN buyers USING (user_id) WHERE b.behavior_type = 'buy' AND b.id <= $3 "
    "  GROUP BY b.user_id, b.item_id), "
    "ranked AS (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id "
    "  ORDER BY first_row) AS pos FROM firsts), "
    "pairs AS (SELECT a.item_id AS item, b.item_id AS partner, count(*) AS buyers "
    "  FROM ranked a JOIN ranked b ON a.user_id = b.user_id AND a.item_id <> b.item_id "
    "  AND abs(a.pos - b.pos) <= $4 WHERE a.item_id % $1 = ANY($2::int[]) GROUP BY 1, 2), "
    "top AS (SELECT item, partner, buyers, row_number() OVER (PARTITION BY item "
    "  ORDER BY buyers DESC, partner) AS k FROM pairs) "
    "SELECT item, partner, buyers FROM top WHERE k <= $5 ORDER BY item, buyers DESC, partner",
    static_cast<std::int64_t>(count), int_array_literal(partitions), max_row,
    static_cast<std::int64_t>(recent), static_cast<std::int64_t>(cap));
  for (const auto& r : rows)
    row(r[0].as<item_id>(), r[1].as<item_id>(), r[2].as<std::uint32_t>());
}

} // namespace recd::store
