#include "store/job_inputs.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

#include "store/database.hpp"
#include "store/job_tables.hpp"

namespace recd::store {

namespace {

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// " AND timestamp > now() - N days", or nothing for the whole history.
std::string since(std::int32_t days) {
  return days > 0 ? " AND timestamp > now() - interval '1 day' * " + std::to_string(days) : "";
}

// "'buy','cart'": names of behavior kinds, never text from a setting or a message.
std::string kinds_list(const std::vector<behavior_kind>& kinds) {
  std::string out;
  for (auto k : kinds)
    out += (out.empty() ? "'" : ",'") + std::string{to_string(k)} + "'";
  return out;
}

} // namespace

std::vector<std::pair<std::int32_t, std::int32_t>>
read_similarity_input(pqxx::connection& c, const similarity_input_spec& spec, std::int64_t run_id) {
  const auto kind = spec.kind;
  const bool items = item_side(kind);
  const auto staging = staging_table(kind, run_id);
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  pqxx::work tx{c};
  tx.exec("CREATE TABLE " + staging + " (LIKE " + similarity_table(kind) + " INCLUDING DEFAULTS)");
  std::unordered_set<std::int32_t> eligible;
  bool every_row = false;
  std::vector<std::string_view> f;
  if (items) {
    // Candidates: the best sellers, ties broken by id so runs are reproducible.
    auto rows = tx.exec_params("SELECT item_id FROM items WHERE sales_count > $1 "
                               "ORDER BY sales_count DESC, item_id LIMIT $2",
                               spec.min_sales, spec.max_items);
    for (const auto& r : rows)
      eligible.insert(r[0].as<std::int32_t>());
  } else if (spec.active_days > 0) {
    copy_out(
        tx, "SELECT DISTINCT user_id FROM user_behavior WHERE true" + since(spec.active_days),
        [&](std::string_view line) { eligible.insert(static_cast<std::int32_t>(to_i64(line))); });
  } else {
    every_row = true;
  }
  // Item side: only the candidates' events leave PostgreSQL (the same
  // ids as `eligible`, sent as an array literal built from integers): the
  // best 3,000 of 100k items would otherwise ship every event to be
  // dropped here.
  std::string only_eligible;
  if (items) {
    only_eligible = " AND item_id = ANY('{";
    bool first = true;
    for (auto id : eligible) {
      only_eligible += (first ? "" : ",") + std::to_string(id);
      first = false;
    }
    only_eligible += "}'::int[])";
  }
  copy_out(tx,
           "SELECT " + std::string{items ? "item_id, user_id" : "user_id, item_id"} +
               " FROM user_behavior WHERE behavior_type IN (" + kinds_list(spec.behaviors) + ")" +
               since(spec.window_days) + only_eligible,
           [&](std::string_view line) {
             split_copy_line(line, f);
             auto row = static_cast<std::int32_t>(to_i64(f[0]));
             if (every_row || eligible.count(row) != 0)
               pairs.emplace_back(row, static_cast<std::int32_t>(to_i64(f[1])));
           });
  tx.commit();
  return pairs;
}

weighted_interactions read_embedding_input(pqxx::connection& c, const embedding_settings& e,
                                           const recommend_settings& w) {
  weighted_interactions out;
  pqxx::work tx{c};
  char weights[256];
  std::snprintf(weights, sizeof weights,
                "CASE behavior_type WHEN 'view' THEN %.6g WHEN 'click' THEN %.6g "
                "WHEN 'cart' THEN %.6g ELSE %.6g END",
                w.view_weight, w.click_weight, w.cart_weight, w.buy_weight);
  // Age decay: weight x 2^(-age / half_life), so years of history
  // count without the newest months being drowned. The exponent stops at
  // -1000: PostgreSQL raises an error where pow() underflows to 0.
  std::string decay;
  if (e.half_life_days > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  " * power(2.0, greatest(extract(epoch from (timestamp - now())) / %.9g, -1000))",
                  e.half_life_days * 86400.0);
    decay = buf;
  }
  std::vector<std::string_view> f;
  copy_out(tx,
           std::string{"SELECT user_id, item_id, sum(("} + weights + ")" + decay +
               ") FROM user_behavior WHERE true" + since(e.window_days) +
               " GROUP BY user_id, item_id ORDER BY user_id, item_id",
           [&](std::string_view line) {
             split_copy_line(line, f);
             out.users.push_back(static_cast<std::int32_t>(to_i64(f[0])));
             out.items.push_back(static_cast<std::int32_t>(to_i64(f[1])));
             out.weights.push_back(std::strtof(std::string{f[2]}.c_str(), nullptr));
           });
  tx.commit();
  return out;
}

} // namespace recd::store
