#include "store/behavior_rows.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

#include <pqxx/tablewriter>

#include "store/database.hpp"

namespace recd::store {

namespace {

// Row ids for a COPY: `$1` values of the table's sequence, ascending. The
// sequence is looked up once per statement (the scalar subquery is an
// InitPlan), not per row.
constexpr const char* draw_ids_sql =
    "SELECT nextval((SELECT pg_get_serial_sequence('user_behavior', 'id')::regclass)) "
    "FROM generate_series(1, $1::int)";

// Stores a batch with event ids: $1 users, $2 items, $3 kinds, $4 unix
// seconds, $5 event ids (NULL for none; unique within the batch). Row ids are
// drawn first, in input order, so that each input row finds its own row; an
// event id already stored (`old`, or committed meanwhile by another writer:
// the ON CONFLICT) inserts nothing. `old` probes the event id index once per
// id (a correlated subquery): as `event_id = ANY($5)` the planner chose a
// sequential scan of the whole table for 10,000 ids (0.9 s on 1M rows). Rows are inserted in event id order, so
// two writers with overlapping ids wait for each other rather than deadlock.
// Answers one row per input row in order: the row id (NULL only after a
// conflict with a concurrent writer) and whether it is new.
constexpr const char* insert_sql =
    "WITH e AS (SELECT u, i, k, t, d, n, "
    "             nextval((SELECT pg_get_serial_sequence('user_behavior', 'id')::regclass)) AS id "
    "           FROM unnest($1::int[], $2::int[], $3::text[], $4::bigint[], $5::text[]) "
    "           WITH ORDINALITY AS x(u, i, k, t, d, n)), "
    "old AS (SELECT d AS event_id, id FROM (SELECT q.d, (SELECT b.id FROM user_behavior b "
    "                                              WHERE b.event_id = q.d) AS id "
    "                        FROM unnest($5::text[]) AS q(d) WHERE q.d IS NOT NULL) s "
    "        WHERE id IS NOT NULL), "
    "ins AS (INSERT INTO user_behavior (id, user_id, item_id, behavior_type, timestamp, event_id) "
    "        SELECT id, u, i, k, to_timestamp(t), d FROM e "
    "        WHERE d IS NULL OR d NOT IN (SELECT event_id FROM old) ORDER BY d, n "
    "        ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING "
    "        RETURNING id) "
    "SELECT coalesce(ins.id, old.id), ins.id IS NOT NULL FROM e "
    "LEFT JOIN ins ON ins.id = e.id LEFT JOIN old ON old.event_id = e.d ORDER BY e.n";

constexpr const char* lookup_event_ids_sql =
    "SELECT event_id, id FROM user_behavior WHERE event_id = ANY($1::text[])";

// The new rows' users, ascending ($1 distinct, sorted): concurrent writers
// insert shared new users in the same order.
constexpr const char* add_users_sql =
    "INSERT INTO users (user_id) SELECT u FROM unnest($1::int[]) AS x(u) ORDER BY u "
    "ON CONFLICT DO NOTHING";

// The items whose sales counts change, locked in ascending order first: the
// UPDATE's own order is the plan's, and two writers locking the same items in
// different orders would deadlock.
constexpr const char* lock_items_sql =
    "SELECT item_id FROM items WHERE item_id = ANY($1::int[]) ORDER BY item_id FOR UPDATE";
constexpr const char* add_sales_sql =
    "UPDATE items SET sales_count = sales_count + x.c "
    "FROM unnest($1::int[], $2::int[]) AS x(i, c) WHERE items.item_id = x.i";

constexpr const char* known_items_sql = "SELECT item_id FROM items WHERE item_id = ANY($1::int[])";

// Registers the statements on this connection (a new one after a reset);
// libpqxx ignores a repeat with the same text.
void prepare_all(pqxx::connection& c) {
  c.prepare("recd_draw_behavior_ids", draw_ids_sql);
  c.prepare("recd_insert_behaviors", insert_sql);
  c.prepare("recd_lookup_event_ids", lookup_event_ids_sql);
  c.prepare("recd_add_users", add_users_sql);
  c.prepare("recd_lock_sold_items", lock_items_sql);
  c.prepare("recd_add_sales", add_sales_sql);
}

// A SQL text[] literal element: quoted, with " and \ escaped.
void append_quoted(std::string& out, const std::string& text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
}

template <class Int> void append_int(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_2(std::string& out, unsigned v) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

// No event ids: ids drawn in one statement (in the events' order), then the
// rows COPied ordered by (item, kind): the (item_id, behavior_type, timestamp)
// index, the costliest of the table's, then inserts into neighbouring pages.
void copy_rows(pqxx::work& tx, const std::vector<const behavior_event*>& events,
               std::vector<written_behavior>& out) {
  const auto n = events.size();
  auto ids = tx.exec_prepared("recd_draw_behavior_ids", static_cast<int>(n));
  if (ids.size() != n)
    throw std::runtime_error{"the sequence gave the wrong number of row ids"};
  for (std::size_t k = 0; k < n; ++k)
    out[k] = {ids[static_cast<pqxx::result::size_type>(k)][0].as<std::int64_t>(), true};

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = *events[a];
    const auto& y = *events[b];
    return std::tie(x.item, x.kind, a) < std::tie(y.item, y.kind, b);
  });
  // libpqxx 6.4's tablewriter (deprecated for stream_to, whose raw write is
  // private) sends each write_raw_line with a newline appended; COPY data is
  // a byte stream, so a chunk of lines joined by newlines (none after the
  // last) is a valid write. Only numbers, the four kind words and timestamps
  // are written: nothing needs COPY escaping, and all of it is ASCII.
  static const std::vector<std::string> columns{"id", "user_id", "item_id", "behavior_type",
                                                "timestamp"};
  pqxx::tablewriter stream{tx, "user_behavior", columns.begin(), columns.end()};
  std::string chunk;
  chunk.reserve(1 << 16);
  for (std::size_t j = 0; j < n; ++j) {
    const auto k = order[j];
    const auto& e = *events[k];
    if (!chunk.empty())
      chunk += '\n';
    append_int(chunk, out[k].id);
    chunk += '\t';
    append_int(chunk, e.user);
    chunk += '\t';
    append_int(chunk, e.item);
    chunk += '\t';
    chunk += to_string(e.kind);
    chunk += '\t';
    append_copy_timestamp(chunk, e.ts);
    if (chunk.size() >= (1 << 16) - 128) {
      stream.write_raw_line(chunk);
      chunk.clear();
    }
  }
  if (!chunk.empty())
    stream.write_raw_line(chunk);
  stream.complete();
}

// Event ids present (or a small batch): the one statement, then the rows
// that conflicted with a concurrent writer looked up (committed by now).
void insert_rows(pqxx::work& tx, const std::vector<const behavior_event*>& events,
                 const std::vector<const std::string*>& event_ids,
                 std::vector<written_behavior>& out) {
  const auto n = events.size();
  std::string kinds = "{", times = "{", ids = "{";
  std::vector<std::int32_t> users, items;
  users.reserve(n);
  items.reserve(n);
  for (std::size_t j = 0; j < n; ++j) {
    const auto& e = *events[j];
    users.push_back(e.user);
    items.push_back(e.item);
    auto sep = j ? "," : "";
    kinds += sep;
    kinds += to_string(e.kind);
    times += sep;
    append_int(times, e.ts);
    ids += sep;
    if (event_ids[j]->empty())
      ids += "NULL";
    else
      append_quoted(ids, *event_ids[j]);
  }
  kinds += "}";
  times += "}";
  ids += "}";
  auto result = tx.exec_prepared("recd_insert_behaviors", int_array_literal(users),
                                 int_array_literal(items), kinds, times, ids);
  if (result.size() != n)
    throw std::runtime_error{"the insert returned the wrong number of rows"};
  std::vector<std::size_t> lookup;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& r = result[static_cast<pqxx::result::size_type>(k)];
    out[k] = {r[0].is_null() ? 0 : r[0].as<std::int64_t>(), r[1].as<bool>()};
    if (r[0].is_null())
      lookup.push_back(k);
  }
  if (lookup.empty())
    return;
  // Conflicts with a writer that committed the same event ids while this
  // statement ran: a new statement's snapshot sees their rows.
  std::string list = "{";
  for (std::size_t j = 0; j < lookup.size(); ++j) {
    list += j ? "," : "";
    append_quoted(list, *event_ids[lookup[j]]);
  }
  list += "}";
  std::unordered_map<std::string, std::int64_t> found;
  for (const auto& r : tx.exec_prepared("recd_lookup_event_ids", list))
    found.emplace(r[0].c_str(), r[1].as<std::int64_t>());
  for (auto k : lookup) {
    auto it = found.find(*event_ids[k]);
    if (it == found.end())
      throw std::runtime_error{"a conflicting event id has no row"};
    out[k].id = it->second;
  }
}

// The users of the new rows and the buy/cart counts of their items.
void add_users_and_sales(pqxx::work& tx, const std::vector<const behavior_event*>& events,
                         const std::vector<written_behavior>& out) {
  std::vector<std::int32_t> users;
  std::unordered_map<item_id, std::int32_t> sold;
  users.reserve(events.size());
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (!out[k].fresh)
      continue;
    const auto& e = *events[k];
    users.push_back(e.user);
    if (e.kind == behavior_kind::buy || e.kind == behavior_kind::cart)
      ++sold[e.item];
  }
  if (users.empty())
    return;
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  tx.exec_prepared("recd_add_users", int_array_literal(users));
  if (sold.empty())
    return;
  std::vector<std::pair<item_id, std::int32_t>> counts(sold.begin(), sold.end());
  std::sort(counts.begin(), counts.end());
  std::vector<std::int32_t> items, amounts;
  for (const auto& [item, c] : counts) {
    items.push_back(item);
    amounts.push_back(c);
  }
  const auto item_list = int_array_literal(items);
  tx.exec_prepared("recd_lock_sold_items", item_list);
  tx.exec_prepared("recd_add_sales", item_list, int_array_literal(amounts));
}

} // namespace

void append_copy_timestamp(std::string& out, std::int64_t t) {
  using namespace std::chrono;
  const auto day = floor<days>(sys_seconds{seconds{t}});
  const year_month_day ymd{day};
  const auto in_day = t - duration_cast<seconds>(day.time_since_epoch()).count();
  append_int(out, static_cast<int>(ymd.year()));
  out += '-';
  append_2(out, static_cast<unsigned>(ymd.month()));
  out += '-';
  append_2(out, static_cast<unsigned>(ymd.day()));
  out += ' ';
  append_2(out, static_cast<unsigned>(in_day / 3600));
  out += ':';
  append_2(out, static_cast<unsigned>(in_day / 60 % 60));
  out += ':';
  append_2(out, static_cast<unsigned>(in_day % 60));
  out += "+00";
}

std::vector<written_behavior> write_behaviors(pqxx::connection& c,
                                              const std::vector<const behavior_event*>& events,
                                              const std::vector<const std::string*>& event_ids) {
  const auto n = events.size();
  std::vector<written_behavior> out(n);
  if (n == 0)
    return out;
  if (event_ids.size() != n)
    throw std::invalid_argument{"one event id per event"};
  prepare_all(c);
  const bool any_id =
    std::any_of(event_ids.begin(), event_ids.end(), [](const auto* d) { return !d->empty(); });
  pqxx::work tx{c};
  if (!any_id && n >= copy_min_events)
    copy_rows(tx, events, out);
  else
    insert_rows(tx, events, event_ids, out);
  add_users_and_sales(tx, events, out);
  tx.commit();
  return out;
}

std::vector<item_id> known_items(pqxx::connection& c, const std::vector<item_id>& asked) {
  std::vector<item_id> known;
  if (asked.empty())
    return known;
  pqxx::read_transaction tx{c};
  for (const auto& r : tx.exec_params(known_items_sql, int_array_literal(asked)))
    known.push_back(r[0].as<std::int32_t>());
  return known;
}

} // namespace recd::store
