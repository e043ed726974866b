#include "store/importer.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/timestamp.hpp"

namespace recd::store {

namespace {

// First line of a library message (libpq's are multi-line).
std::string first_line(std::string_view s) {
  auto end = s.find('\n');
  auto line = s.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
    line.remove_suffix(1);
  return std::string{line};
}

// ---- input files --------------------------------------------------------------

// An input for the readers: a file, or standard input for "-".
class input_file {
public:
  input_file(const std::string& path, const std::string& name) {
    if (path == "-")
      return;
    std::error_code fs_error;
    if (std::filesystem::is_directory(path, fs_error))
      throw import_error{name + ": is a directory, not a file"};
    file_.open(path, std::ios::binary);
    if (!file_)
      throw import_error{name + ": cannot open (" + std::strerror(errno) + ")"};
    in_ = &file_;
  }
  std::istream& stream() { return *in_; }

private:
  std::ifstream file_;
  std::istream* in_ = &std::cin;
};

// ---- staging ------------------------------------------------------------------

// A catalog row the importer knows; category/brand -1 = NULL.
struct catalog_row {
  item_id id = 0;
  std::string title;
  double price = 0;
  double rating = 0;
  std::int32_t category = -1;
  std::int32_t brand = -1;
};

std::string two_decimals(double x) {
  char buf[64];
  auto [end, err] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, 2);
  return err == std::errc{} ? std::string(buf, end) : std::string{"0"};
}

// The TEMP tables one import fills (COPY) before merge() moves their rows
// into the schema. One COPY at a time: the catalog and the events are
// written one after the other, in either order.
class staging {
public:
  explicit staging(pqxx::transaction_base& tx) : tx_(tx) {
    tx_.exec("CREATE TEMP TABLE recd_import_events (seq BIGINT NOT NULL, user_id INT NOT NULL, "
             "item_id INT NOT NULL, behavior_type TEXT NOT NULL, ts BIGINT NOT NULL) "
             "ON COMMIT DROP");
    tx_.exec("CREATE TEMP TABLE recd_import_items (item_id INT PRIMARY KEY, title TEXT NOT NULL, "
             "price NUMERIC(10,2) NOT NULL, rating NUMERIC(3,2) NOT NULL, category_id INT, "
             "brand_id INT) ON COMMIT DROP");
  }

  // Rows must have distinct ids.
  void write_catalog(const std::vector<catalog_row>& rows) {
    pqxx::stream_to out{
        tx_, "recd_import_items",
        std::vector<std::string>{"item_id", "title", "price", "rating", "category_id", "brand_id"}};
    for (const auto& r : rows)
      out << std::make_tuple(r.id, r.title, two_decimals(r.price), two_decimals(r.rating),
                             r.category, r.brand);
    out.complete();
  }

  void begin_events() {
    events_.emplace(tx_, "recd_import_events",
                    std::vector<std::string>{"seq", "user_id", "item_id", "behavior_type", "ts"});
  }

  void add_event(const behavior_event& e) {
    static const std::string names[] = {"view", "click", "cart", "buy"};
    *events_ << std::make_tuple(seq_++, e.user, e.item, names[static_cast<int>(e.kind)], e.ts);
    min_ts_ = std::min(min_ts_, e.ts);
    max_ts_ = std::max(max_ts_, e.ts);
  }

  void end_events() {
    events_->complete();
    events_.reset();
  }

  std::int64_t event_count() const { return seq_; }
  // Newest staged timestamp (only meaningful when event_count() > 0).
  unix_seconds max_ts() const { return max_ts_; }
  unix_seconds min_ts() const { return min_ts_; }

  // Moves the staged rows into users, items and user_behavior, with every
  // timestamp moved by `shift` seconds. Returns the counts.
  import_report merge(unix_seconds shift) {
    import_report report;
    tx_.exec("ANALYZE recd_import_events"); // the planner has no idea of their size
    tx_.exec("ANALYZE recd_import_items");
    report.users_created = static_cast<std::int64_t>(
        tx_.exec("INSERT INTO users (user_id) SELECT DISTINCT user_id FROM recd_import_events "
                 "ORDER BY user_id ON CONFLICT DO NOTHING")
            .affected_rows());
    report.items_created = static_cast<std::int64_t>(
        tx_.exec("INSERT INTO items (item_id, title, price, rating, category_id, brand_id) "
                 "SELECT i.item_id, coalesce(c.title, 'item ' || i.item_id), coalesce(c.price, 0), "
                 "coalesce(c.rating, 0), nullif(c.category_id, -1), nullif(c.brand_id, -1) "
                 "FROM (SELECT item_id FROM recd_import_events "
                 "      UNION SELECT item_id FROM recd_import_items) i "
                 "LEFT JOIN recd_import_items c ON c.item_id = i.item_id "
                 "ORDER BY i.item_id ON CONFLICT DO NOTHING")
            .affected_rows());
    tx_.exec("UPDATE items i SET sales_count = i.sales_count + s.n "
             "FROM (SELECT item_id, count(*) AS n FROM recd_import_events "
             "      WHERE behavior_type IN ('buy', 'cart') GROUP BY item_id) s "
             "WHERE i.item_id = s.item_id");
    report.events = static_cast<std::int64_t>(
        tx_.exec_params("INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) "
                        "SELECT user_id, item_id, behavior_type, to_timestamp(ts + $1) "
                        "FROM recd_import_events ORDER BY ts, seq",
                        shift)
            .affected_rows());
    return report;
  }

private:
  pqxx::transaction_base& tx_;
  std::optional<pqxx::stream_to> events_;
  std::int64_t seq_ = 0;
  unix_seconds min_ts_ = std::numeric_limits<unix_seconds>::max();
  unix_seconds max_ts_ = std::numeric_limits<unix_seconds>::min();
};

unix_seconds current_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs one import: `fill` stages rows and returns the timestamp shift; then
// the merge, the commit and ANALYZE. `source` names the input in messages
// about database errors.
caf::expected<import_report> run_import(pqxx::connection& c, const std::string& source,
                                        const std::function<unix_seconds(staging&)>& fill) {
  import_report report;
  try {
    pqxx::work tx{c, "recd_import"};
    staging st{tx};
    const unix_seconds shift = fill(st);
    report = st.merge(shift);
    tx.commit();
  } catch (const import_error& e) {
    return make_error(ec::import_failed, e.what());
  } catch (const pqxx::broken_connection& e) {
    return make_error(ec::import_failed,
                      source + ": lost the database connection: " + first_line(e.what()));
  } catch (const std::exception& e) {
    return make_error(ec::import_failed, source + ": " + first_line(e.what()));
  }
  // Fresh statistics for the jobs that read these tables next. The data is
  // already committed, so a failure here only leaves it to autovacuum.
  try {
    pqxx::nontransaction tx{c};
    tx.exec("ANALYZE users, items, user_behavior");
  } catch (const std::exception&) {
  }
  return report;
}

} // namespace

// ---- the importers ------------------------------------------------------------

caf::expected<import_report> import_synthetic(pqxx::connection& c,
                                              const engine::synthetic_options& opt) {
  auto options = opt;
  if (options.now == 0) // today's 00:00 UTC (engine/synthetic.hpp)
    options.now = current_time() - current_time() % 86400;
  if (auto why = engine::check_options(options))
    return make_error(ec::import_failed, "synthetic: " + *why);
  return run_import(c, "synthetic", [&](staging& st) -> unix_seconds {
    const auto shop = engine::generate_shop(options);
    std::vector<catalog_row> rows;
    rows.reserve(shop.items.size());
    for (const auto& it : shop.items)
      rows.push_back({it.id, it.title, it.price, it.rating, it.category, it.brand});
    st.write_catalog(rows);
    st.begin_events();
    for (const auto& e : shop.events)
      st.add_event(e);
    st.end_events();
    return 0;
  });
}

caf::expected<import_report> import_movielens(pqxx::connection& c, const movielens_options& opt) {
  namespace fs = std::filesystem;
  const fs::path dir{opt.dir};
  std::error_code fs_error; // unreadable counts as absent
  const bool ml100k = fs::exists(dir / "u.data", fs_error);
  if (!ml100k && !fs::exists(dir / "ratings.csv", fs_error))
    return make_error(ec::import_failed,
                      opt.dir + ": holds neither u.data + u.item nor ratings.csv + movies.csv");
  const std::string ratings = (dir / (ml100k ? "u.data" : "ratings.csv")).string();
  const std::string movies = (dir / (ml100k ? "u.item" : "movies.csv")).string();
  return run_import(c, ratings, [&](staging& st) -> unix_seconds {
    input_file movies_in{movies, movies};
    const movie_list list = ml100k ? read_u_item(movies_in.stream(), movies)
                                   : read_movies_csv(movies_in.stream(), movies);
    // Per-movie rating sums, for the items' mean ratings.
    struct rating_sum {
      double sum = 0;
      std::int64_t count = 0;
    };
    std::unordered_map<item_id, rating_sum> sums;
    input_file ratings_in{ratings, ratings};
    st.begin_events();
    read_ratings(ratings_in.stream(), ratings, !ml100k, [&](const behavior_event& e, double r) {
      st.add_event(e);
      auto& s = sums[e.item];
      s.sum += r;
      ++s.count;
    });
    st.end_events();

    std::vector<catalog_row> rows;
    rows.reserve(list.order.size());
    for (item_id id : list.order) {
      const auto& m = list.by_id.at(id);
      catalog_row r;
      r.id = id;
      r.title = m.title;
      r.price = 1 + static_cast<double>(std::int64_t{id} * 37 % 500); // the seed's price
      if (auto s = sums.find(id); s != sums.end())
        r.rating = std::min(5.0, std::round(s->second.sum / double(s->second.count) * 100) / 100);
      r.category = m.category;
      rows.push_back(std::move(r));
    }
    st.write_catalog(rows);

    if (!opt.rebase_time || st.event_count() == 0)
      return 0;
    const unix_seconds now = opt.now != 0 ? opt.now : current_time();
    const unix_seconds shift = now - st.max_ts();
    if (st.min_ts() + shift < engine::min_timestamp || now > engine::max_timestamp)
      throw import_error{ratings + ": the rebased timestamps would fall outside the years 0001..9999"};
    return shift;
  });
}

caf::expected<import_report> import_csv(pqxx::connection& c, const std::string& path) {
  const std::string name = path == "-" ? "stdin" : path;
  const unix_seconds now = current_time(); // for rows without a timestamp
  return run_import(c, name, [&](staging& st) -> unix_seconds {
    input_file in{path, name};
    st.begin_events();
    read_behavior_csv(in.stream(), name, now, [&](const behavior_event& e) { st.add_event(e); });
    st.end_events();
    return 0;
  });
}

} // namespace recd::store
