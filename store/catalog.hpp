#pragma once
// The catalog's SQL (sql/005_catalog.sql): reading items as item_details and,
// for the catalog routes, writing items and users and erasing users. All
// calls BLOCK (libpqxx): only detached actors and CLI code call them.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/pqxx>

#include "protocol/messages.hpp"

namespace recd::store {

// The SELECT list that read_item() expects, in this order, over `items`.
extern const char* const item_columns;

// One row selected with item_columns (starting at column `first`).
item_details read_item(const pqxx::row& row, int first = 0);

// A PostgreSQL text[] written as JSON by array_to_json(...)::text -> strings.
std::vector<std::string> parse_text_array_json(const char* json);

// The serving window and catalog epoch of every restricted item (hidden or
// with an availability window), of every partition.
std::unordered_map<item_id, std::pair<serving_window, std::uint64_t>>
read_restricted(pqxx::transaction_base& tx);

// The cluster-wide catalog epoch as the transaction sees it.
std::uint64_t read_catalog_epoch(pqxx::transaction_base& tx);

// A text[] literal for a bind parameter: {"a","b\"c"} (tags are bounded and
// hold no control characters: limits::check_tag).
std::string text_array_literal(const std::vector<std::string>& xs);

// ---- Writes (the catalog writer, actors/catalog_writer.hpp) -------------------

// Applies `writes` in one transaction at one new catalog epoch -> the stored
// rows, in order. A patch or hide of an unknown item is ec::not_found and an
// inverted window ec::invalid_argument, each naming the write's index
// ("items[3]"), and nothing is stored.
caf::expected<std::vector<item_details>> write_items(pqxx::connection& c,
                                                     const std::vector<item_write>& writes);

// The stored item; ec::not_found.
caf::expected<item_details> find_item(pqxx::connection& c, item_id item);

// Creates the user or replaces its labels -> the user's JSON (find_user's).
caf::expected<std::string> put_user(pqxx::connection& c, user_id user,
                                    const std::vector<std::string>& labels);

// {"user_id","labels","created","behaviors"}; ec::not_found without a users row.
caf::expected<std::string> find_user(pqxx::connection& c, user_id user);

// Erases the user in one transaction at a new catalog epoch: its behaviors
// (their event ids with them; the sales they counted are taken back), its
// rows in user_similarity and user_neighbours on either side, its users row
// (labels, embedding), and records it in erased_users so a job run that read
// its input before now drops it before publishing -> (epoch, JSON counts).
// Idempotent: erasing an unknown user deletes nothing and succeeds.
caf::expected<std::pair<std::uint64_t, std::string>> erase_user(pqxx::connection& c, user_id user);

} // namespace recd::store
