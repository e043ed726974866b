#include "store/job_results.hpp"

#include <charconv>
#include <span>

#include "store/job_runs.hpp"
#include "store/job_tables.hpp"
#include "store/leadership.hpp"

namespace recd::store {

namespace {

std::vector<std::string> staging_columns(job_kind kind) {
  return item_side(kind)
             ? std::vector<std::string>{"item_id", "similar_item_id", "similarity_score"}
             : std::vector<std::string>{"user_id", "similar_user_id", "similarity_score"};
}

// Locks the catalog epoch row until the publishing transaction ends, and
// drops from `user_staging` ("" = none) the rows of users erased since run
// `run_id` started (see the contract in job_results.hpp).
void forget_erased(pqxx::work& tx, std::int64_t run_id, const std::string& user_staging) {
  tx.exec("SELECT epoch FROM catalog_epoch FOR UPDATE");
  if (user_staging.empty())
    return;
  tx.exec_params(
      "DELETE FROM " + user_staging +
          " s USING erased_users e WHERE e.erased_at >= "
          "(SELECT started_at FROM job_runs WHERE run_id = $1) AND (s.user_id = e.user_id "
          "OR s.similar_user_id = e.user_id)",
      run_id);
}

// PostgreSQL's real[] text of a vector ("{0.5,-1.25}"), each value with
// enough digits to round-trip a float.
// Each float in its shortest form that reads back as the same float
// (std::to_chars), so PostgreSQL's REAL gets exactly the factor, as it did
// from printf's "%.9g", at a fraction of the cost (printf was about 7% of the
// embeddings job's CPU: 30M floats at 1M users, docs/benchmarks.md).
std::string array_text(std::span<const float> v) {
  std::string out;
  out.reserve(2 + v.size() * 16);
  out += '{';
  char buf[32];
  for (std::size_t d = 0; d < v.size(); ++d) {
    if (d)
      out += ',';
    const auto written = std::to_chars(buf, buf + sizeof buf, v[d]);
    out.append(buf, written.ptr);
  }
  out += '}';
  return out;
}

} // namespace

// The table name is derived here from checked values, never taken from a
// message, and quoted (libpqxx 6.4 pastes it into COPY as is).
staging_rows::staging_rows(pqxx::connection& c, job_kind kind, std::int64_t run_id)
    : tx_{c}, out_{tx_, tx_.quote_name(staging_table(kind, run_id)), staging_columns(kind)} {}

void staging_rows::commit() {
  out_.complete();
  tx_.commit();
}

void publish_similarity_run(pqxx::connection& c, job_kind kind, std::int64_t run_id,
                            std::int64_t rows, std::int64_t term) {
  const std::string staging = staging_table(kind, run_id);
  const std::string live = similarity_table(kind);
  const std::string key =
      std::string{similarity_id_column(kind)} + ", " + similarity_other_column(kind);
  {
    pqxx::nontransaction tx{c};
    tx.exec("ALTER TABLE " + staging + " ADD CONSTRAINT " + staging + "_pkey PRIMARY KEY (" + key +
            ")");
    tx.exec("ANALYZE " + staging);
  }
  pqxx::work tx{c};
  fence(tx, term); // a deposed leader publishes nothing
  forget_erased(tx, run_id, item_side(kind) ? std::string{} : staging);
  tx.exec("LOCK TABLE " + live + " IN ACCESS EXCLUSIVE MODE");
  tx.exec("ALTER TABLE " + live + " RENAME TO " + live + "_old_" + std::to_string(run_id));
  tx.exec("ALTER TABLE " + staging + " RENAME TO " + live);
  tx.exec("DROP TABLE " + live + "_old_" + std::to_string(run_id));
  tx.exec("ALTER TABLE " + live + " RENAME CONSTRAINT " + staging + "_pkey TO " + live + "_pkey");
  record_run_published(tx, run_id, rows);
  tx.commit();
}

void publish_embeddings_run(pqxx::connection& c, std::int64_t run_id, std::int64_t term,
                            embedding_factors items, embedding_factors users) {
  pqxx::work tx{c};
  fence(tx, term); // a deposed leader publishes nothing
  forget_erased(tx, run_id, {});
  for (int side = 0; side < 2; ++side) {
    const bool item_rows = side == 0;
    const auto& ids = item_rows ? items.ids : users.ids;
    const auto& m = item_rows ? items.factors : users.factors;
    std::string table = item_rows ? "items" : "users";
    std::string col = item_rows ? "item_id" : "user_id";
    tx.exec("CREATE TEMP TABLE new_" + table +
            "_embedding (id INT PRIMARY KEY, embedding "
            "REAL[] NOT NULL) ON COMMIT DROP");
    {
      pqxx::stream_to out{tx, "new_" + table + "_embedding",
                          std::vector<std::string>{"id", "embedding"}};
      for (std::size_t r = 0; r < ids.size(); ++r)
        out << std::make_tuple(ids[r], array_text(m.row(r)));
      out.complete();
    }
    tx.exec("UPDATE " + table + " t SET embedding = n.embedding FROM new_" + table +
            "_embedding n WHERE t." + col + " = n.id");
    // Rows that no longer have behavior in the window lose their stale vector.
    tx.exec("UPDATE " + table +
            " t SET embedding = NULL WHERE embedding IS NOT NULL AND NOT "
            "EXISTS (SELECT 1 FROM new_" +
            table + "_embedding n WHERE n.id = t." + col + ")");
  }
  record_run_published(tx, run_id, static_cast<std::int64_t>(items.ids.size()));
  tx.commit();
}

} // namespace recd::store
