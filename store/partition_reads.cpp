#include "store/partition_reads.hpp"

#include <charconv>
#include <cstdlib>

#include "store/catalog.hpp"
#include "store/database.hpp"
#include "store/job_tables.hpp"

namespace recd::store {

namespace {

using read_tx = pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only>;

// "8 IN (1,2,3)", to follow "<id> % ": partition numbers are integers this
// program computed itself (COPY takes no bind parameters).
std::string partition_filter(const std::vector<std::uint32_t>& partitions, std::uint32_t count) {
  std::string in = "(";
  for (std::size_t i = 0; i < partitions.size(); ++i)
    in += (i ? "," : "") + std::to_string(partitions[i]);
  return std::to_string(count) + " IN " + (partitions.empty() ? "(-1)" : in + ")");
}

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

} // namespace

void read_in_one_snapshot(pqxx::connection& c,
                          const std::function<void(pqxx::transaction_base&)>& reads) {
  read_tx tx{c};
  reads(tx);
  tx.commit();
}

behavior_head read_behavior_head(pqxx::transaction_base& tx) {
  auto head = tx.exec("SELECT coalesce(max(id), 0), extract(epoch from now())::bigint "
                      "FROM user_behavior");
  return {head[0][0].as<std::int64_t>(), head[0][1].as<std::int64_t>()};
}

void read_tail_owners(pqxx::transaction_base& tx, std::int64_t floor,
                      const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                      const std::function<void(std::int64_t, bool, bool)>& row) {
  for (const auto& r :
       tx.exec_params("SELECT id, user_id % $2 = ANY($3::int[]), item_id % $2 = ANY($3::int[]) "
                      "FROM user_behavior "
                      "WHERE id > $1 ORDER BY id",
                      floor, static_cast<std::int64_t>(count), int_array_literal(partitions)))
    row(r[0].as<std::int64_t>(), r[1].as<bool>(), r[2].as<bool>());
}

void read_partition_items(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                          std::uint32_t count, const std::function<void(item_details&&)>& item) {
  auto rows = tx.exec_params(std::string{"SELECT "} + item_columns +
                                 " FROM items WHERE item_id % $1 = ANY($2::int[])",
                             static_cast<std::int64_t>(count), int_array_literal(partitions));
  for (const auto& r : rows)
    item(read_item(r));
}

void read_item_popularity(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                          std::uint32_t count, const recommend_settings& cfg, std::int64_t at,
                          const std::function<void(item_id, double)>& row) {
  auto rows = tx.exec_params("SELECT item_id, sum(CASE behavior_type WHEN 'view' THEN $3::float8 "
                             "WHEN 'click' THEN $4::float8 "
                             "WHEN 'cart' THEN $5::float8 ELSE $6::float8 END * power(2.0, "
                             "(extract(epoch from timestamp)::float8 - "
                             "$8::float8) / $7::float8)) FROM user_behavior WHERE item_id % $1 = "
                             "ANY($2::int[]) AND timestamp > "
                             "now() - interval '90 days' GROUP BY item_id",
                             static_cast<std::int64_t>(count), int_array_literal(partitions),
                             cfg.view_weight, cfg.click_weight, cfg.cart_weight, cfg.buy_weight,
                             cfg.popularity_half_life_days * 86400.0, static_cast<double>(at));
  for (const auto& r : rows)
    row(r[0].as<item_id>(), r[1].as<double>());
}

void read_user_histories(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                         std::uint32_t count, std::int64_t max_row,
                         const std::function<void(const behavior_event&, std::int64_t)>& row) {
  std::vector<std::string_view> f;
  copy_out(tx,
           "SELECT user_id, item_id, behavior_type, extract(epoch from timestamp)::bigint, id "
           "FROM user_behavior WHERE id <= " +
               std::to_string(max_row) + " AND user_id % " + partition_filter(partitions, count) +
               " ORDER BY user_id, timestamp, id",
           [&](std::string_view line) {
             split_copy_line(line, f);
             behavior_event e;
             e.user = static_cast<user_id>(to_i64(f[0]));
             e.item = static_cast<item_id>(to_i64(f[1]));
             e.kind = parse_behavior_kind(f[2]).value_or(behavior_kind::view);
             e.ts = to_i64(f[3]);
             row(e, to_i64(f[4]));
           });
}

void read_similarity_rows(pqxx::transaction_base& tx, job_kind kind,
                          const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                          const std::function<void(std::int32_t, std::int32_t, float)>& row) {
  const std::string table = similarity_table(kind);
  const std::string id_col = similarity_id_column(kind);
  const std::string other_col = similarity_other_column(kind);
  std::vector<std::string_view> f;
  copy_out(tx,
           "SELECT " + id_col + ", " + other_col + ", similarity_score FROM " + table + " WHERE " +
               id_col + " % " + partition_filter(partitions, count) + " ORDER BY " + id_col +
               ", similarity_score DESC, " + other_col,
           [&](std::string_view line) {
             split_copy_line(line, f);
             row(static_cast<std::int32_t>(to_i64(f[0])), static_cast<std::int32_t>(to_i64(f[1])),
                 std::strtof(std::string{f[2]}.c_str(), nullptr));
           });
}

void read_published_embeddings(pqxx::transaction_base& tx, catalog_side side,
                               const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                               const std::function<void(std::int32_t, std::string_view)>& row) {
  const bool items = side == catalog_side::items;
  const std::string table = items ? "items" : "users";
  const std::string id = items ? "item_id" : "user_id";
  std::vector<std::string_view> f;
  copy_out(tx,
           // In id order: the vector index is built in this order, so the
           // same vectors give the same index in every database.
           "SELECT " + id + ", embedding FROM " + table + " WHERE embedding IS NOT NULL AND " + id +
               " % " + partition_filter(partitions, count) + " ORDER BY " + id,
           [&](std::string_view line) {
             split_copy_line(line, f);
             row(static_cast<std::int32_t>(to_i64(f[0])), f[1]);
           });
}

std::optional<item_with_embedding> find_item_with_embedding(pqxx::connection& c, item_id item) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params(std::string{"SELECT coalesce(embedding::text, ''), "} + item_columns +
                              " FROM items WHERE item_id = $1",
                          item);
  if (r.empty())
    return std::nullopt;
  return item_with_embedding{read_item(r[0], 1), r[0][0].c_str()};
}

behavior_tail read_behaviors_after(pqxx::connection& c, std::int64_t since,
                                   const std::vector<std::uint32_t>& partitions,
                                   std::uint32_t count) {
  behavior_tail out;
  pqxx::read_transaction tx{c};
  auto rows = tx.exec_params(
      "SELECT id, user_id, item_id, behavior_type, extract(epoch from timestamp)::bigint FROM "
      "user_behavior WHERE id > $1 AND (user_id % $2 = ANY($3::int[]) OR item_id % $2 = "
      "ANY($3::int[])) ORDER BY id",
      since, static_cast<std::int64_t>(count), int_array_literal(partitions));
  for (const auto& r : rows) {
    out.ids.push_back(r[0].as<std::int64_t>());
    out.events.push_back({r[1].as<user_id>(), r[2].as<item_id>(),
                          parse_behavior_kind(r[3].c_str()).value_or(behavior_kind::view),
                          r[4].as<std::int64_t>()});
  }
  return out;
}

} // namespace recd::store
