#pragma once
// Bulk importers into the recd schema: a synthetic shop, MovieLens and plain
// behavior CSV files. All calls BLOCK (see store/database.hpp).
//
// Contract shared by the three importers:
//  - All or nothing: one transaction. Any error (a bad row, I/O, the
//    database) rolls everything back and returns ec::import_failed with one
//    line naming the file and line of the first bad row, e.g.
//    "ratings.csv line 17: behavior_type 'buyy' is not one of view, click, cart, buy".
//    Ids must be non-negative 32-bit integers.
//  - Rows are validated while they are streamed by COPY into TEMP staging
//    tables (dropped at commit); SQL then inserts the users and items seen
//    for the first time (items with their catalog row when the importer has
//    one, else title 'item <id>', price 0, rating 0), adds each item's
//    imported buy + cart events to items.sales_count (the seed loader's
//    definition) and appends the events to user_behavior. Existing users and
//    items are never modified except for sales_count, so importing twice
//    appends the events again and sales_count accumulates.
//  - ANALYZE runs on the touched tables after the commit.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>
#include <pqxx/pqxx>

#include "engine/synthetic.hpp"
#include "engine/types.hpp"
#include "protocol/errors.hpp"
#include "store/import_readers.hpp" // the pure readers, movielens_genres

namespace recd::store {

struct import_report {
  std::int64_t events = 0;        // rows appended to user_behavior
  std::int64_t users_created = 0; // users that did not exist before
  std::int64_t items_created = 0; // items that did not exist before
};

// Generates engine::generate_shop(opt) and imports its whole catalog (title,
// price, rating, category_id, brand_id) and its events. opt.now == 0 means
// the current time. Invalid options (engine::check_options) are refused.
caf::expected<import_report> import_synthetic(pqxx::connection& c,
                                              const engine::synthetic_options& opt);

struct movielens_options {
  std::string dir;          // holds u.data + u.item, or ratings.csv + movies.csv
  bool rebase_time = false; // shift all timestamps so the newest is at `now`
  unix_seconds now = 0;     // 0 = the current time
};

// MovieLens in either layout:
//  - u.data (tab-separated: user item rating unix_ts) and u.item ('|'-separated,
//    latin-1: id|title|...|19 genre flags), as in ml-100k;
//  - ratings.csv (userId,movieId,rating,timestamp; ratings may be halves) and
//    movies.csv (movieId,title,genres; CSV quoting), as in ml-latest.
// Ratings map to behaviors: >= 5 buy, >= 4 cart, >= 3 click, else view.
// Every listed movie becomes an item: its title (as UTF-8), price
// 1 + (id * 37 % 500) like the seed, rating = mean rating (2 decimals, at
// most 5; 0 when unrated), category_id = index of its first genre in
// movielens_genres (u.item: its first set flag; NULL if none), no brand.
// Rated movies missing from the list get the generic item row.
caf::expected<import_report> import_movielens(pqxx::connection& c, const movielens_options& opt);

// A behavior CSV: user_id,item_id,behavior_type[,timestamp] per line.
//  - An optional header: a first line whose first field is text (not empty,
//    not an integer); if it names known columns, they must be in this order.
//  - Blank lines are skipped, fields are trimmed, CRLF and a UTF-8 BOM are
//    tolerated, fields may be double-quoted.
//  - timestamp: Unix seconds or ISO-8601 (engine::parse_timestamp); a missing
//    or empty one means the time the import started.
// path "-" reads standard input.
caf::expected<import_report> import_csv(pqxx::connection& c, const std::string& path);

} // namespace recd::store
