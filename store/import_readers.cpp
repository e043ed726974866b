// The importers' readers: lines, fields and rows of MovieLens and behavior
// CSV files, without a database (see import_readers.hpp).

#include "store/import_readers.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

#include "engine/timestamp.hpp"

namespace recd::store {

namespace {

// ---- errors -------------------------------------------------------------------

// A line of an input file, for error messages: "<file> line <n>: <what>".
struct position {
  const std::string& file;
  std::int64_t line = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw import_error{file + " line " + std::to_string(line) + ": " + what};
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

// ---- reading lines ------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Lines of a stream, numbered from 1, without '\n', a trailing '\r' or a
// leading UTF-8 byte order mark.
class line_source {
public:
  line_source(std::istream& in, const std::string& name) : in_(in), name_(name) {}

  bool next(std::string& line) {
    if (!std::getline(in_, line)) {
      if (in_.bad())
        throw import_error{name_ + ": read error after line " + std::to_string(line_no_)};
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
  std::istream& in_;
  const std::string& name_;
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

constexpr std::size_t ml100k_genres = 19;

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

} // namespace

movie_list read_u_item(std::istream& input, const std::string& name) {
  line_source in{input, name};
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

movie_list read_movies_csv(std::istream& input, const std::string& name) {
  line_source in{input, name};
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

// ---- ratings and behavior rows -------------------------------------------------

void read_ratings(std::istream& input, const std::string& name, bool csv,
                  const std::function<void(const behavior_event&, double rating)>& row) {
  line_source in{input, name};
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
    row(e, rating);
  }
}

void read_behavior_csv(std::istream& input, const std::string& name, unix_seconds now,
                       const std::function<void(const behavior_event&)>& row) {
  line_source in{input, name};
  std::string line;
  std::vector<std::string> f;
  bool first = true;
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
    row(e);
  }
}

} // namespace recd::store
