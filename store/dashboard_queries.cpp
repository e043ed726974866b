#include "store/dashboard_queries.hpp"

namespace recd::store {

nlohmann::json item_neighbours(pqxx::connection& c, std::int64_t item_id, std::int32_t limit) {
  pqxx::read_transaction tx{c};
  nlohmann::json j;
  auto item = tx.exec_params("SELECT item_id, title FROM items WHERE item_id = $1", item_id);
  j["item"] = item.empty() ? nlohmann::json(nullptr)
                           : nlohmann::json{{"item_id", item[0][0].as<std::int64_t>()},
                                            {"title", item[0][1].c_str()}};
  auto rows = tx.exec_params(
    "SELECT s.similar_item_id, coalesce(i.title, ''), s.similarity_score FROM item_similarity s "
    "LEFT JOIN items i ON i.item_id = s.similar_item_id WHERE s.item_id = $1 "
    "ORDER BY s.similarity_score DESC, s.similar_item_id LIMIT $2",
    item_id, limit);
  auto out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"item_id", r[0].as<std::int64_t>()},
                   {"title", r[1].c_str()},
                   {"score", r[2].as<double>()}});
  j["neighbours"] = std::move(out);
  return j;
}

} // namespace recd::store
