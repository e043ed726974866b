#pragma once
// The also-bought counts as PostgreSQL gives them (a shard loads them with its
// partitions; actors/shard_widgets.cpp keeps them live). A pair (x, y) counts
// the distinct users who bought both with the first buy of one among the
// `recent` first buys just before the other's: per user, items ordered by the
// row id of their first buy, positions at most `recent` apart. This is what
// the live path counts when events are applied in row order.

#include <cstdint>
#include <functional>
#include <vector>

#include <pqxx/pqxx>

#include "engine/types.hpp"

namespace recd::store {

// Calls `row(item, partner, buyers)` for the items of `partitions` (of
// `count`), their at most `cap` most co-bought partners each, by item, then
// buyers descending, then partner; over buy rows with id <= max_row.
void read_co_bought(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                    std::uint32_t count, std::int64_t max_row, std::int32_t recent,
                    std::int32_t cap,
                    const std::function<void(item_id, item_id, std::uint32_t)>& row);

} // namespace recd::store
