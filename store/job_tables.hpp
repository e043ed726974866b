#pragma once
// The tables a job run writes: a similarity run's live table of its kind,
// and the staging table of a similarity or embeddings run. Names are built only from the job kind and the run id
// (a positive integer), never taken from a message, so they are safe to place
// in SQL; callers still quote them (pqxx::transaction_base::quote_name).

#include <cstdint>
#include <string>

#include "protocol/messages.hpp"

namespace recd::store {

// Every similarity kind has a table of its own name (sql/004_learned_tables.sql).
inline const char* similarity_table(job_kind k) {
  return to_string(k);
}

// The key columns of a similarity table: (item_id, similar_item_id) on the
// item side, (user_id, similar_user_id) on the user side.
inline const char* similarity_id_column(job_kind k) {
  return item_side(k) ? "item_id" : "user_id";
}
inline const char* similarity_other_column(job_kind k) {
  return item_side(k) ? "similar_item_id" : "similar_user_id";
}

inline std::string staging_table(job_kind k, std::int64_t run_id) {
  return std::string{similarity_table(k)} + "_run_" + std::to_string(run_id);
}

} // namespace recd::store
