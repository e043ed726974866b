#pragma once
// The tables a similarity run writes: the live table of its kind and the
// run's staging table. Names are built only from the job kind and the run id
// (a positive integer), never taken from a message, so they are safe to place
// in SQL; callers still quote them (pqxx::transaction_base::quote_name).

#include <cstdint>
#include <string>

#include "protocol/messages.hpp"

namespace recd::store {

inline const char* similarity_table(job_kind k) {
  return k == job_kind::item_similarity ? "item_similarity" : "user_similarity";
}

inline std::string staging_table(job_kind k, std::int64_t run_id) {
  return std::string{similarity_table(k)} + "_run_" + std::to_string(run_id);
}

} // namespace recd::store
