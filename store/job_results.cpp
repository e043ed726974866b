#include "store/job_results.hpp"

#include <bit>
#include <span>
#include <stdexcept>

#include <postgresql/libpq-fe.h>

#include "store/job_runs.hpp"
#include "store/job_tables.hpp"
#include "store/leadership.hpp"

namespace recd::store {

namespace {

std::vector<std::string> staging_columns(job_kind kind) {
  if (kind == job_kind::embeddings)
    return {"is_item", "id", "embedding"};
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
  // Usually nobody was erased during the run, and the DELETE would still
  // scan the whole staging table (user_neighbours has no index: 4.8 s at
  // 19M rows), so it runs only when someone was.
  const std::string erased =
    " erased_users e WHERE e.erased_at >= (SELECT started_at FROM job_runs WHERE run_id = $1)";
  if (!tx.exec_params("SELECT EXISTS (SELECT 1 FROM" + erased + ")", run_id)[0][0].as<bool>())
    return;
  tx.exec_params("DELETE FROM " + user_staging + " s USING" + erased +
                   " AND (s.user_id = e.user_id OR s.similar_user_id = e.user_id)",
                 run_id);
}

// Rows of staging_rows are sent in blocks of about this many bytes.
constexpr std::size_t block_bytes = 1 << 16;

// libpq's last error on `c`, on one line.
std::string last_error(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  for (auto& ch : m)
    if (ch == '\n' || ch == '\r')
      ch = ' ';
  while (!m.empty() && m.back() == ' ')
    m.pop_back();
  return m;
}

void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}

void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  put_u32(out, static_cast<std::uint32_t>(v >> 32));
  put_u32(out, static_cast<std::uint32_t>(v));
}

} // namespace

// The table name is derived here from checked values, never taken from a
// message, and quoted.
staging_rows::staging_rows(const std::string& url, job_kind kind, std::int64_t run_id)
    : conn_{PQconnectdb(url.c_str()), &PQfinish} {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK)
    // libpq's messages name the host, never the password.
    throw pqxx::broken_connection{"cannot connect for the staging rows: " +
                                  last_error(conn_.get())};
  const auto columns = staging_columns(kind);
  const std::string copy = "COPY \"" + staging_table(kind, run_id) + "\" (" + columns[0] + ", " +
                           columns[1] + ", " + columns[2] + ") FROM STDIN (FORMAT binary)";
  command("BEGIN");
  PGresult* r = PQexec(conn_.get(), copy.c_str());
  const bool ready = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!ready)
    throw std::runtime_error("COPY into the staging table refused: " + last_error(conn_.get()));
  // The binary format's header: signature, flags, header extension length.
  block_.append("PGCOPY\n\377\r\n\0", 11);
  put_u32(block_, 0);
  put_u32(block_, 0);
}

void staging_rows::command(const char* sql) {
  PGresult* r = PQexec(conn_.get(), sql);
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok)
    throw std::runtime_error(std::string{sql} + " failed: " + last_error(conn_.get()));
}

void staging_rows::add(std::int32_t id, std::int32_t other, double score) {
  // A tuple: field count, then each field's length and big-endian bytes.
  put_u16(block_, 3);
  put_u32(block_, 4);
  put_u32(block_, static_cast<std::uint32_t>(id));
  put_u32(block_, 4);
  put_u32(block_, static_cast<std::uint32_t>(other));
  put_u32(block_, 8);
  put_u64(block_, std::bit_cast<std::uint64_t>(score));
  if (block_.size() >= block_bytes)
    send();
}

void staging_rows::add_vector(bool item, std::int32_t id, std::span<const float> factors) {
  // A float4[] in the binary array format: dimensions, null flag, element
  // type (float4's OID 700), then the one dimension's length and lower bound.
  const auto n = static_cast<std::uint32_t>(factors.size());
  put_u16(block_, 3);
  put_u32(block_, 1);
  block_ += item ? '\1' : '\0';
  put_u32(block_, 4);
  put_u32(block_, static_cast<std::uint32_t>(id));
  put_u32(block_, 20 + 8 * n);
  put_u32(block_, 1);
  put_u32(block_, 0);
  put_u32(block_, 700);
  put_u32(block_, n);
  put_u32(block_, 1);
  for (float v : factors) {
    put_u32(block_, 4);
    put_u32(block_, std::bit_cast<std::uint32_t>(v));
  }
  if (block_.size() >= block_bytes)
    send();
}

void staging_rows::send() {
  if (block_.empty())
    return;
  if (PQputCopyData(conn_.get(), block_.data(), static_cast<int>(block_.size())) != 1)
    throw std::runtime_error("sending the staging rows failed: " + last_error(conn_.get()));
  block_.clear();
}

void staging_rows::commit() {
  put_u16(block_, 0xffff); // the trailer
  send();
  if (PQputCopyEnd(conn_.get(), nullptr) != 1)
    throw std::runtime_error("ending the COPY failed: " + last_error(conn_.get()));
  bool ok = true;
  std::string why;
  while (PGresult* r = PQgetResult(conn_.get())) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      ok = false;
      why = PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  if (!ok)
    throw std::runtime_error("COPY into the staging table failed: " + why);
  command("COMMIT");
}

void publish_similarity_run(pqxx::connection& c, job_kind kind, std::int64_t run_id,
                            std::int64_t rows, std::int64_t term) {
  const std::string staging = staging_table(kind, run_id);
  const std::string live = similarity_table(kind);
  const std::string key =
      std::string{similarity_id_column(kind)} + ", " + similarity_other_column(kind);
  bool keyed = false; // as the live table, read below
  {
    pqxx::nontransaction tx{c};
    // The run gets the key its live table has: the schema decides
    // (user_neighbours has none since sql/008).
    keyed = tx.exec("SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '" + live +
                    "'::regclass AND contype = 'p')")[0][0]
              .as<bool>();
    if (keyed)
      tx.exec("ALTER TABLE " + staging + " ADD CONSTRAINT " + staging + "_pkey PRIMARY KEY (" +
              key + ")");
    tx.exec("ANALYZE " + staging);
  }
  pqxx::work tx{c};
  forget_erased(tx, run_id, item_side(kind) ? std::string{} : staging);
  tx.exec("LOCK TABLE " + live + " IN ACCESS EXCLUSIVE MODE");
  tx.exec("ALTER TABLE " + live + " RENAME TO " + live + "_old_" + std::to_string(run_id));
  tx.exec("ALTER TABLE " + staging + " RENAME TO " + live);
  tx.exec("DROP TABLE " + live + "_old_" + std::to_string(run_id));
  if (keyed)
    tx.exec("ALTER TABLE " + live + " RENAME CONSTRAINT " + staging + "_pkey TO " + live +
            "_pkey");
  record_run_published(tx, run_id, rows);
  fence(tx, term); // last: a deposed leader publishes nothing (store/leadership.hpp)
  tx.commit();
}

void publish_embeddings_run(pqxx::connection& c, std::int64_t run_id, std::int64_t term,
                            std::int64_t items) {
  const std::string staging = staging_table(job_kind::embeddings, run_id);
  {
    pqxx::nontransaction tx{c};
    tx.exec("ANALYZE " + staging);
  }
  pqxx::work tx{c};
  forget_erased(tx, run_id, {});
  for (int side = 0; side < 2; ++side) {
    const bool item_rows = side == 0;
    const std::string table = item_rows ? "items" : "users";
    const std::string col = item_rows ? "item_id" : "user_id";
    const std::string mine = std::string{item_rows ? "" : "NOT "} + "n.is_item";
    tx.exec("UPDATE " + table + " t SET embedding = n.embedding FROM " + staging + " n WHERE " +
            mine + " AND t." + col + " = n.id");
    // Rows that no longer have behavior in the window lose their stale vector.
    tx.exec("UPDATE " + table + " t SET embedding = NULL WHERE embedding IS NOT NULL AND NOT " +
            "EXISTS (SELECT 1 FROM " + staging + " n WHERE " + mine + " AND n.id = t." + col + ")");
  }
  tx.exec("DROP TABLE " + staging);
  record_run_published(tx, run_id, items);
  fence(tx, term); // last: a deposed leader publishes nothing (store/leadership.hpp)
  tx.commit();
}

} // namespace recd::store
