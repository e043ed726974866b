#include "support/job_reference.hpp"

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

} // namespace recd::test
