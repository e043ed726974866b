#include "support/job_reference.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"

namespace recd::test {

std::int64_t keep_one_node_user_neighbours(const test_database& db) {
  auto single = run_cli({"compute", "--shards", "1", "--jobs", "user_neighbours"},
                        {{"RECD_POSTGRES_URL", db.url()}}, std::chrono::seconds{120});
  if (single.status != 0)
    throw std::runtime_error("the one-node run failed: " + show(single));
  auto conn = db.connect();
  pqxx::nontransaction tx{conn};
  tx.exec("CREATE TABLE reference_user_neighbours AS SELECT * FROM user_neighbours");
  return count(db, "SELECT count(*) FROM reference_user_neighbours");
}

std::int64_t user_neighbours_differences(const test_database& db) {
  return count(db, "SELECT count(*) FROM user_neighbours l FULL JOIN reference_user_neighbours r "
                   "USING (user_id, similar_user_id) WHERE l.user_id IS NULL OR r.user_id IS NULL "
                   "OR abs(l.similarity_score::float8 - r.similarity_score::float8) > 1e-9");
}

const char* const similarity_kinds[4] = {"item_similarity", "user_similarity", "item_weights",
                                          "user_neighbours"};

std::vector<std::int64_t> keep_one_node_similarity(const test_database& db) {
  auto single = run_cli({"compute", "--shards", "1", "--jobs",
                         "item_similarity,user_similarity,item_weights,user_neighbours"},
                        {{"RECD_POSTGRES_URL", db.url()}}, std::chrono::seconds{120});
  if (single.status != 0)
    throw std::runtime_error("the one-node run failed: " + show(single));
  std::vector<std::int64_t> rows;
  auto conn = db.connect();
  pqxx::nontransaction tx{conn};
  for (const char* table : similarity_kinds) {
    tx.exec(std::string{"DROP TABLE IF EXISTS reference_"} + table);
    tx.exec(std::string{"CREATE TABLE reference_"} + table + " AS SELECT * FROM " + table);
    rows.push_back(count(db, std::string{"SELECT count(*) FROM reference_"} + table));
  }
  return rows;
}

std::int64_t similarity_differences(const test_database& db, const std::string& table) {
  const bool items = table.rfind("item", 0) == 0;
  const std::string id = items ? "item_id" : "user_id";
  const std::string other = items ? "similar_item_id" : "similar_user_id";
  return count(db, "SELECT count(*) FROM " + table + " l FULL JOIN reference_" + table +
                     " r USING (" + id + ", " + other + ") WHERE l." + id + " IS NULL OR r." + id +
                     " IS NULL OR abs(l.similarity_score::float8 - r.similarity_score::float8) "
                     "> 1e-9");
}

std::int64_t keep_one_node_embeddings(const test_database& db) {
  auto single = run_cli({"compute", "--shards", "1", "--jobs", "embeddings"},
                        {{"RECD_POSTGRES_URL", db.url()}}, std::chrono::seconds{120});
  if (single.status != 0)
    throw std::runtime_error("the one-node run failed: " + show(single));
  auto conn = db.connect();
  pqxx::nontransaction tx{conn};
  for (const char* side : {"item", "user"}) {
    const std::string s = side;
    tx.exec("DROP TABLE IF EXISTS reference_" + s + "_embeddings");
    tx.exec("CREATE TABLE reference_" + s + "_embeddings AS SELECT " + s + "_id, embedding FROM " +
            s + "s WHERE embedding IS NOT NULL");
  }
  return count(db, "SELECT count(*) FROM reference_item_embeddings");
}

embedding_difference embeddings_differences(const test_database& db) {
  embedding_difference out;
  auto conn = db.connect();
  pqxx::nontransaction tx{conn};
  for (const char* side : {"item", "user"}) {
    const std::string s = side;
    const std::string live = "(SELECT " + s + "_id, embedding FROM " + s +
                             "s WHERE embedding IS NOT NULL)";
    out.mismatched += tx.exec("SELECT count(*) FROM " + live + " l FULL JOIN reference_" + s +
                              "_embeddings r USING (" + s + "_id) WHERE l." + s +
                              "_id IS NULL OR r." + s + "_id IS NULL OR "
                              "array_length(l.embedding, 1) <> array_length(r.embedding, 1)")[0][0]
                        .as<std::int64_t>();
    out.largest = std::max(
      out.largest, tx.exec("SELECT coalesce(max(abs(u.a::float8 - u.b::float8)), 0) FROM " + live +
                           " l JOIN reference_" + s + "_embeddings r USING (" + s +
                           "_id), unnest(l.embedding, r.embedding) AS u(a, b)")[0][0]
                     .as<double>());
  }
  return out;
}

} // namespace recd::test
