#include "store/catalog.hpp"

#include <nlohmann/json.hpp>

#include "protocol/errors.hpp"
#include "store/database.hpp"

namespace recd::store {

const char* const item_columns =
  "item_id, title, price::float8, rating::float8, sales_count, "
  "array_to_json(categories)::text, array_to_json(labels)::text, hidden, "
  "coalesce(extract(epoch from available_from)::bigint, 0), "
  "coalesce(extract(epoch from available_until)::bigint, 0), "
  "extract(epoch from created_at)::bigint, catalog_epoch";

std::vector<std::string> parse_text_array_json(const char* json) {
  std::vector<std::string> out;
  auto parsed = nlohmann::json::parse(json, nullptr, false);
  if (!parsed.is_array())
    return out;
  out.reserve(parsed.size());
  for (const auto& v : parsed)
    if (v.is_string())
      out.push_back(v.get<std::string>());
  return out;
}

item_details read_item(const pqxx::row& row, int first) {
  item_details d;
  d.item = row[first].as<item_id>();
  d.title = row[first + 1].c_str();
  d.price = row[first + 2].as<double>();
  d.rating = row[first + 3].as<double>();
  d.sales = row[first + 4].as<std::int32_t>();
  d.categories = parse_text_array_json(row[first + 5].c_str());
  d.labels = parse_text_array_json(row[first + 6].c_str());
  d.hidden = row[first + 7].as<bool>();
  d.available_from = row[first + 8].as<std::int64_t>();
  d.available_until = row[first + 9].as<std::int64_t>();
  d.created = row[first + 10].as<std::int64_t>();
  d.epoch = row[first + 11].as<std::uint64_t>();
  return d;
}

std::unordered_map<item_id, std::pair<serving_window, std::uint64_t>>
read_restricted(pqxx::transaction_base& tx) {
  std::unordered_map<item_id, std::pair<serving_window, std::uint64_t>> out;
  for (const auto& row : tx.exec(
         "SELECT item_id, hidden, coalesce(extract(epoch from available_from)::bigint, 0), "
         "coalesce(extract(epoch from available_until)::bigint, 0), catalog_epoch FROM items "
         "WHERE hidden OR available_from IS NOT NULL OR available_until IS NOT NULL"))
    out[row[0].as<item_id>()] = {
      serving_window{row[1].as<bool>(), row[2].as<std::int64_t>(), row[3].as<std::int64_t>()},
      row[4].as<std::uint64_t>()};
  return out;
}

std::uint64_t read_catalog_epoch(pqxx::transaction_base& tx) {
  auto r = tx.exec("SELECT epoch FROM catalog_epoch");
  return r.empty() ? 0 : r[0][0].as<std::uint64_t>();
}

} // namespace recd::store

namespace recd::store {

namespace {

std::uint64_t next_epoch(pqxx::transaction_base& tx) {
  // The row lock serialises catalog writers until commit, so epochs are
  // handed out in commit order (sql/005_catalog.sql).
  return tx.exec("UPDATE catalog_epoch SET epoch = epoch + 1 RETURNING epoch")[0][0]
    .as<std::uint64_t>();
}

std::string index_of(std::size_t k) { return "items[" + std::to_string(k) + "]"; }

} // namespace

std::string text_array_literal(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char ch : xs[i]) {
      if (ch == '"' || ch == '\\')
        out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

caf::expected<std::vector<item_details>> write_items(pqxx::connection& c,
                                                     const std::vector<item_write>& writes) {
  std::vector<item_details> stored;
  caf::error failed;
  auto err = guard([&] {
    pqxx::work tx{c};
    auto epoch = static_cast<std::int64_t>(next_epoch(tx));
    const std::string returning = std::string{" RETURNING "} + item_columns;
    for (std::size_t k = 0; k < writes.size(); ++k) {
      const auto& w = writes[k];
      const auto& d = w.item;
      pqxx::result r;
      try {
        switch (w.mode) {
          case item_write_mode::put:
            r = tx.exec_params(
              "INSERT INTO items (item_id, title, price, categories, labels, hidden, "
              "available_from, available_until, catalog_epoch, updated_at) VALUES ($1, $2, $3, "
              "$4::text[], $5::text[], $6, to_timestamp(nullif($7::bigint, 0)), "
              "to_timestamp(nullif($8::bigint, 0)), $9, now()) ON CONFLICT (item_id) DO UPDATE SET "
              "title = EXCLUDED.title, price = EXCLUDED.price, categories = EXCLUDED.categories, "
              "labels = EXCLUDED.labels, hidden = EXCLUDED.hidden, available_from = "
              "EXCLUDED.available_from, available_until = EXCLUDED.available_until, catalog_epoch = "
              "EXCLUDED.catalog_epoch, updated_at = now()" + returning,
              d.item, d.title, d.price, text_array_literal(d.categories),
              text_array_literal(d.labels), d.hidden, d.available_from, d.available_until, epoch);
            break;
          case item_write_mode::patch: {
            auto has = [&](std::uint32_t f) { return (w.fields & f) != 0; };
            r = tx.exec_params(
              "UPDATE items SET title = CASE WHEN $2 THEN $3 ELSE title END, "
              "price = CASE WHEN $4 THEN $5::numeric ELSE price END, "
              "categories = CASE WHEN $6 THEN $7::text[] ELSE categories END, "
              "labels = CASE WHEN $8 THEN $9::text[] ELSE labels END, "
              "hidden = CASE WHEN $10 THEN $11 ELSE hidden END, "
              "available_from = CASE WHEN $12 THEN to_timestamp(nullif($13::bigint, 0)) ELSE "
              "available_from END, "
              "available_until = CASE WHEN $14 THEN to_timestamp(nullif($15::bigint, 0)) ELSE "
              "available_until END, catalog_epoch = $16, updated_at = now() WHERE item_id = $1" +
                returning,
              d.item, has(item_field_title), d.title, has(item_field_price), d.price,
              has(item_field_categories), text_array_literal(d.categories), has(item_field_labels),
              text_array_literal(d.labels), has(item_field_hidden), d.hidden,
              has(item_field_from), d.available_from, has(item_field_until), d.available_until,
              epoch);
            break;
          }
          case item_write_mode::hide:
            r = tx.exec_params("UPDATE items SET hidden = true, catalog_epoch = $2, updated_at = "
                                "now() WHERE item_id = $1" + returning,
                                d.item, epoch);
            break;
        }
      } catch (const pqxx::check_violation&) {
        failed = make_error(ec::invalid_argument,
                            index_of(k) + ".available_until: must be after available_from");
        return;
      } catch (const pqxx::data_exception& e) {
        failed = make_error(ec::invalid_argument, index_of(k) + ": " + e.what());
        return;
      }
      if (r.empty()) {
        failed = make_error(ec::not_found,
                            index_of(k) + ": unknown item_id " + std::to_string(d.item));
        return;
      }
      stored.push_back(read_item(r[0]));
    }
    tx.commit();
  });
  if (failed)
    return failed;
  if (err)
    return err;
  return stored;
}

caf::expected<item_details> find_item(pqxx::connection& c, item_id item) {
  std::optional<item_details> found;
  auto err = guard([&] {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(std::string{"SELECT "} + item_columns +
                              " FROM items WHERE item_id = $1",
                            item);
    if (!r.empty())
      found = read_item(r[0]);
  });
  if (err)
    return err;
  if (!found)
    return make_error(ec::not_found, "unknown item_id " + std::to_string(item));
  return *found;
}

namespace {

const char* const user_query =
  "SELECT u.user_id, array_to_json(u.labels)::text, extract(epoch from u.created_at)::bigint, "
  "(SELECT count(*) FROM user_behavior b WHERE b.user_id = u.user_id) FROM users u "
  "WHERE u.user_id = $1";

std::string user_json(const pqxx::row& row) {
  nlohmann::json j;
  j["user_id"] = row[0].as<user_id>();
  j["labels"] = parse_text_array_json(row[1].c_str());
  j["created"] = row[2].as<std::int64_t>();
  j["behaviors"] = row[3].as<std::int64_t>();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

caf::expected<std::string> put_user(pqxx::connection& c, user_id user,
                                    const std::vector<std::string>& labels) {
  std::string out;
  auto err = guard([&] {
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO users (user_id, labels) VALUES ($1, $2::text[]) "
                   "ON CONFLICT (user_id) DO UPDATE SET labels = EXCLUDED.labels",
                   user, text_array_literal(labels));
    out = user_json(tx.exec_params(user_query, user)[0]);
    tx.commit();
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::string> find_user(pqxx::connection& c, user_id user) {
  std::optional<std::string> out;
  auto err = guard([&] {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(user_query, user);
    if (!r.empty())
      out = user_json(r[0]);
  });
  if (err)
    return err;
  if (!out)
    return make_error(ec::not_found, "unknown user_id " + std::to_string(user));
  return *out;
}

caf::expected<std::pair<std::uint64_t, std::string>> erase_user(pqxx::connection& c, user_id user) {
  std::uint64_t epoch = 0;
  nlohmann::json counts;
  auto err = guard([&] {
    pqxx::work tx{c};
    epoch = next_epoch(tx);
    // The sales this user's buys and carts counted (items.sales_count).
    tx.exec_params("UPDATE items i SET sales_count = greatest(0, i.sales_count - s.n) FROM "
                   "(SELECT item_id, count(*) AS n FROM user_behavior WHERE user_id = $1 AND "
                   "behavior_type IN ('buy', 'cart') GROUP BY item_id) s WHERE i.item_id = s.item_id",
                   user);
    counts["behaviors"] =
      tx.exec_params("DELETE FROM user_behavior WHERE user_id = $1", user).affected_rows();
    std::size_t similarity = 0;
    for (const char* table : {"user_similarity", "user_neighbours"})
      similarity += tx.exec_params(std::string{"DELETE FROM "} + table +
                                     " WHERE user_id = $1 OR similar_user_id = $1",
                                   user)
                      .affected_rows();
    counts["similarity_rows"] = similarity;
    counts["user"] = tx.exec_params("DELETE FROM users WHERE user_id = $1", user).affected_rows();
    tx.exec_params("INSERT INTO erased_users (user_id, erased_at, epoch) VALUES ($1, now(), $2) "
                   "ON CONFLICT (user_id) DO UPDATE SET erased_at = now(), epoch = EXCLUDED.epoch",
                   user, static_cast<std::int64_t>(epoch));
    tx.commit();
  });
  if (err)
    return err;
  return std::pair{epoch, counts.dump()};
}

} // namespace recd::store
