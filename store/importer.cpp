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

// ---- errors -------------------------------------------------------------------

// Thrown while reading input; carries the finished one-line message. The
// importer's single catch turns it into ec::import_failed after the rollback.
struct bad_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A line of an input file, for error messages: "<file> line <n>: <what>".
struct position {
  const std::string& file;
  std::int64_t line = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw bad_input{file + " line " + std::to_string(line) + ": " + what};
  }
};

// Input text quoted in a message, cut short so a message stays one short line.
std::string excerpt(std::string_view s) {
  constexpr std::size_t max = 40;
  std::string out = "'";
  out += s.substr(0, max);
  if (s.size() > max)
    out += "...";
  out += "'";
  return out;
}

// First line of a library message (libpq's are multi-line).
std::string first_line(std::string_view s) {
  auto end = s.find('\n');
  auto line = s.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
    line.remove_suffix(1);
  return std::string{line};
}

// ---- reading lines ------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Lines of a file or of stdin, numbered from 1, without '\n', a trailing '\r'
// or a leading UTF-8 byte order mark.
class line_source {
public:
  // path "-" = standard input; `name` is what messages call the input.
  line_source(const std::string& path, std::string name) : name_(std::move(name)) {
    if (path == "-") {
      in_ = &std::cin;
      return;
    }
    std::error_code fs_error;
    if (std::filesystem::is_directory(path, fs_error))
      throw bad_input{name_ + ": is a directory, not a file"};
    file_.open(path, std::ios::binary);
    if (!file_)
      throw bad_input{name_ + ": cannot open (" + std::strerror(errno) + ")"};
    in_ = &file_;
  }

  bool next(std::string& line) {
    if (!std::getline(*in_, line)) {
      if (in_->bad())
        throw bad_input{name_ + ": read error after line " + std::to_string(line_no_)};
      return false;
    }
    ++line_no_;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line_no_ == 1 && line.starts_with("\xEF\xBB\xBF"))
      line.erase(0, 3);
    return true;
  }

  position at() const { return {name_, line_no_}; }

private:
  std::string name_;
  std::ifstream file_;
  std::istream* in_ = nullptr;
  std::int64_t line_no_ = 0;
};

// Splits on a separator that never occurs inside a field (u.data, u.item).
void split_plain(std::string_view line, char sep, std::vector<std::string_view>& out) {
  out.clear();
  for (;;) {
    auto end = line.find(sep);
    out.push_back(trim(line.substr(0, end)));
    if (end == std::string_view::npos)
      return;
    line.remove_prefix(end + 1);
  }
}

// Splits one CSV line: fields separated by ',', optionally double-quoted with
// "" for a quote inside; spaces around fields are dropped. Quoted fields
// cannot span lines (no MovieLens or behavior file needs that).
void split_csv(std::string_view line, std::vector<std::string>& out, const position& at) {
  out.clear();
  std::size_t i = 0;
  auto skip_blanks = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
  };
  for (;;) {
    std::string& field = out.emplace_back();
    skip_blanks();
    if (i < line.size() && line[i] == '"') {
      for (++i;; ++i) {
        if (i >= line.size())
          at.fail("a quoted field is not closed on its line");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        field += line[i];
      }
      skip_blanks();
      if (i < line.size() && line[i] != ',')
        at.fail("unexpected text after the quoted field " + excerpt(field));
    } else {
      auto end = std::min(line.find(',', i), line.size());
      field = trim(line.substr(i, end - i));
      i = end;
    }
    if (i >= line.size())
      return;
    ++i; // the ','
  }
}

// ---- fields -------------------------------------------------------------------

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A header is a first line whose first field is text (not empty, not an
// optionally negative integer); anything else is data and validated as such.
bool is_header(const std::vector<std::string>& fields) {
  std::string_view s = fields.front();
  if (s.empty())
    return false;
  if (s.starts_with('-'))
    s.remove_prefix(1);
  return !is_digits(s);
}

// A user or item id: a non-negative 32-bit integer.
std::int32_t parse_id(std::string_view s, std::string_view column, const position& at) {
  const std::string name{column};
  if (s.empty())
    at.fail(name + " is empty");
  if (s.front() == '-' && is_digits(s.substr(1)))
    at.fail(name + " " + std::string{s} + " is negative");
  if (!is_digits(s))
    at.fail(name + " " + excerpt(s) + " is not an integer");
  std::int64_t v = 0;
  auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc{} || end != s.data() + s.size() ||
      v > std::numeric_limits<std::int32_t>::max())
    at.fail(name + " " + excerpt(s) + " is out of range (at most 2147483647)");
  return static_cast<std::int32_t>(v);
}

behavior_kind parse_kind(std::string_view s, const position& at) {
  auto kind = parse_behavior_kind(s);
  if (!kind)
    at.fail("behavior_type " + excerpt(s) + " is not one of view, click, cart, buy");
  return *kind;
}

unix_seconds parse_time(std::string_view s, const position& at) {
  auto ts = engine::parse_timestamp(s);
  if (!ts)
    at.fail("timestamp " + excerpt(s) + " is neither Unix seconds nor ISO-8601");
  return *ts;
}

// A MovieLens rating: a number from 0 to 5 (halves in ml-latest).
double parse_rating(std::string_view s, const position& at) {
  double v = 0;
  auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || err != std::errc{} || end != s.data() + s.size() || !(v >= 0 && v <= 5))
    at.fail("rating " + excerpt(s) + " is not a number from 0 to 5");
  return v;
}

behavior_kind kind_for_rating(double r) {
  if (r >= 5)
    return behavior_kind::buy;
  if (r >= 4)
    return behavior_kind::cart;
  if (r >= 3)
    return behavior_kind::click;
  return behavior_kind::view;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Well-formed UTF-8 without NUL bytes (which PostgreSQL text cannot hold).
bool valid_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0)
      return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The lead byte gives the number of continuation bytes and the smallest
    // code point that needs them (anything smaller is an overlong encoding).
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= n)
      return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

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
  } catch (const bad_input& e) {
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

// ---- MovieLens ----------------------------------------------------------------

struct movie {
  std::string title;
  std::int32_t category = -1;
};

struct movie_list {
  std::vector<item_id> order; // ids in file order (first occurrence)
  std::unordered_map<item_id, movie> by_id;

  void add(item_id id, movie m) {
    if (by_id.emplace(id, std::move(m)).second) // a repeated id keeps its first row
      order.push_back(id);
  }
};

constexpr std::size_t ml100k_genres = 19;

// u.item: id|title|release date|video release date|IMDb URL|19 genre flags, latin-1.
movie_list read_u_item(const std::string& path) {
  line_source in{path, path};
  movie_list movies;
  std::string raw;
  std::vector<std::string_view> f;
  while (in.next(raw)) {
    const auto at = in.at();
    if (trim(raw).empty())
      continue;
    const std::string line = latin1_to_utf8(raw);
    split_plain(line, '|', f);
    if (f.size() < 2 + ml100k_genres)
      at.fail("expected at least " + std::to_string(2 + ml100k_genres) +
              " '|'-separated fields (id|title|...|19 genre flags), found " +
              std::to_string(f.size()));
    movie m;
    m.title = std::string{f[1]};
    if (!valid_text(m.title))
      at.fail("the title contains a NUL byte");
    for (std::size_t g = 0; g < ml100k_genres; ++g) {
      auto flag = f[f.size() - ml100k_genres + g];
      if (flag != "0" && flag != "1")
        at.fail("genre flag " + excerpt(flag) + " is not 0 or 1");
      if (flag == "1" && m.category < 0)
        m.category = static_cast<std::int32_t>(g);
    }
    movies.add(parse_id(f[0], "movie id", at), std::move(m));
  }
  return movies;
}

std::int32_t genre_index(std::string_view name) {
  if (name == "Children")
    return 4;
  if (name == "(no genres listed)")
    return 0;
  for (std::size_t g = 0; g < std::size(movielens_genres); ++g)
    if (name == movielens_genres[g])
      return static_cast<std::int32_t>(g);
  return -1;
}

// movies.csv: movieId,title,genres with an optional header; genres '|'-separated.
movie_list read_movies_csv(const std::string& path) {
  line_source in{path, path};
  movie_list movies;
  std::string line;
  std::vector<std::string> f;
  std::vector<std::string_view> genres;
  bool first = true;
  while (in.next(line)) {
    const auto at = in.at();
    if (trim(line).empty())
      continue;
    split_csv(line, f, at);
    if (std::exchange(first, false) && is_header(f))
      continue; // the header
    if (f.size() != 3)
      at.fail("expected 3 fields (movieId,title,genres), found " + std::to_string(f.size()));
    movie m;
    m.title = f[1];
    if (!valid_text(m.title))
      at.fail("the title is not valid UTF-8");
    split_plain(f[2], '|', genres);
    for (auto g : genres)
      if (auto index = genre_index(g); index >= 0) {
        m.category = index;
        break;
      }
    movies.add(parse_id(f[0], "movieId", at), std::move(m));
  }
  return movies;
}

// Streams a ratings file into the staging table; the per-movie rating sums
// feed the items' mean ratings.
struct rating_sum {
  double sum = 0;
  std::int64_t count = 0;
};
using rating_sums = std::unordered_map<item_id, rating_sum>;

void stage_ratings(const std::string& path, bool csv, staging& st, rating_sums& sums) {
  line_source in{path, path};
  std::string line;
  std::vector<std::string_view> plain;
  std::vector<std::string> quoted_fields;
  std::vector<std::string_view> f;
  bool first = true;
  const std::string_view user_col = csv ? "userId" : "user id";
  const std::string_view item_col = csv ? "movieId" : "item id";
  while (in.next(line)) {
    const auto at = in.at();
    if (trim(line).empty())
      continue;
    if (csv) {
      split_csv(line, quoted_fields, at);
      if (std::exchange(first, false) && is_header(quoted_fields))
        continue; // the header
      f.assign(quoted_fields.begin(), quoted_fields.end());
    } else {
      split_plain(line, '\t', plain);
      f = plain;
    }
    if (f.size() != 4)
      at.fail(csv ? "expected 4 fields (userId,movieId,rating,timestamp), found " +
                        std::to_string(f.size())
                  : "expected 4 tab-separated fields (user item rating timestamp), found " +
                        std::to_string(f.size()));
    behavior_event e;
    e.user = parse_id(f[0], user_col, at);
    e.item = parse_id(f[1], item_col, at);
    const double rating = parse_rating(f[2], at);
    e.kind = kind_for_rating(rating);
    e.ts = parse_time(f[3], at);
    st.add_event(e);
    auto& s = sums[e.item];
    s.sum += rating;
    ++s.count;
  }
}

// ---- behavior CSV -------------------------------------------------------------

constexpr std::string_view csv_columns[] = {"user_id", "item_id", "behavior_type", "timestamp"};

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A header may name the columns; known names in other places would swap data.
void check_header(const std::vector<std::string>& f, const position& at) {
  for (std::size_t i = 0; i < f.size() && i < std::size(csv_columns); ++i) {
    const auto name = lower(f[i]);
    const bool known =
        std::find(std::begin(csv_columns), std::end(csv_columns), name) != std::end(csv_columns);
    if (known && name != csv_columns[i])
      at.fail("the header names column " + std::to_string(i + 1) + " " + excerpt(f[i]) +
              "; the columns must be user_id,item_id,behavior_type[,timestamp]");
  }
}

} // namespace

// ---- the importers ------------------------------------------------------------

caf::expected<import_report> import_synthetic(pqxx::connection& c,
                                              const engine::synthetic_options& opt) {
  auto options = opt;
  if (options.now == 0)
    options.now = current_time();
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
    const movie_list list = ml100k ? read_u_item(movies) : read_movies_csv(movies);
    rating_sums sums;
    st.begin_events();
    stage_ratings(ratings, !ml100k, st, sums);
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
      throw bad_input{ratings + ": the rebased timestamps would fall outside the years 0001..9999"};
    return shift;
  });
}

caf::expected<import_report> import_csv(pqxx::connection& c, const std::string& path) {
  const std::string name = path == "-" ? "stdin" : path;
  const unix_seconds now = current_time(); // for rows without a timestamp
  return run_import(c, name, [&](staging& st) -> unix_seconds {
    line_source in{path, name};
    std::string line;
    std::vector<std::string> f;
    bool first = true;
    st.begin_events();
    while (in.next(line)) {
      const auto at = in.at();
      if (trim(line).empty())
        continue;
      split_csv(line, f, at);
      if (std::exchange(first, false) && is_header(f)) {
        check_header(f, at);
        continue;
      }
      if (f.size() < 3 || f.size() > 4)
        at.fail("expected 3 or 4 fields (user_id,item_id,behavior_type[,timestamp]), found " +
                std::to_string(f.size()));
      behavior_event e;
      e.user = parse_id(f[0], "user_id", at);
      e.item = parse_id(f[1], "item_id", at);
      e.kind = parse_kind(f[2], at);
      e.ts = f.size() == 4 && !f[3].empty() ? parse_time(f[3], at) : now;
      st.add_event(e);
    }
    st.end_events();
    return 0;
  });
}

} // namespace recd::store
