// Fuzz target: the importers' readers (store/import_readers.hpp), the code
// `recd import csv` and `recd import movielens` run on every line before any
// row reaches the database: line splitting (CR, BOM), CSV quoting, ids,
// ratings, timestamps, latin-1 titles. A reader either returns rows that
// satisfy the importers' contract or throws import_error naming a line.
//
// Input: byte 0 picks the reader: '0' behavior CSV, '1' u.data, '2'
// ratings.csv, '3' u.item, '4' movies.csv (any byte: (byte - '0') mod 5);
// the rest is the file.

#include "store/import_readers.hpp"

#include "engine/timestamp.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

namespace {

void check(bool ok) {
  if (!ok)
    std::abort();
}

void check_event(const recd::behavior_event& e) {
  check(e.user >= 0 && e.item >= 0);
  check(static_cast<int>(e.kind) >= 0 && static_cast<int>(e.kind) <= 3);
  check(e.ts >= recd::engine::min_timestamp && e.ts <= recd::engine::max_timestamp);
}

void check_movies(const recd::store::movie_list& movies) {
  check(movies.order.size() == movies.by_id.size());
  for (const auto& [id, m] : movies.by_id) {
    check(id >= 0);
    check(m.category >= -1 &&
          m.category < static_cast<int>(std::size(recd::store::movielens_genres)));
    check(m.title.find('\0') == std::string::npos);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::istringstream file{std::string{reinterpret_cast<const char*>(data) + 1, size - 1}};
  const std::string name = "fuzz";
  constexpr recd::unix_seconds now = 1'800'000'000;
  const int reader = static_cast<std::uint8_t>(data[0] - '0') % 5;
  try {
    switch (reader) {
    case 0:
      recd::store::read_behavior_csv(file, name, now, check_event);
      break;
    case 1:
    case 2:
      recd::store::read_ratings(file, name, reader == 2,
                                [](const recd::behavior_event& e, double rating) {
                                  check_event(e);
                                  check(rating >= 0 && rating <= 5);
                                });
      break;
    case 3:
      check_movies(recd::store::read_u_item(file, name));
      break;
    default:
      check_movies(recd::store::read_movies_csv(file, name));
      break;
    }
  } catch (const recd::store::import_error& e) {
    const std::string what = e.what();
    check(what.rfind(name + " line ", 0) == 0 || what.rfind(name + ":", 0) == 0);
    check(what.find('\n') == std::string::npos); // one line
  }
  return 0;
}
