#pragma once
// The readers behind store/importer.hpp, without a database: they turn the
// text of a MovieLens or behavior CSV file into rows, or throw import_error
// at the first bad row. The importers feed these rows to COPY; the fuzzer
// (tests/fuzz/import_readers.cpp) feeds them arbitrary bytes.
//
// Every reader reads `in` to its end, line by line (a trailing '\r' and a
// leading UTF-8 byte order mark are dropped, blank lines skipped); `name` is
// what messages call the input. Formats: see store/importer.hpp.

#include <cstdint>
#include <functional>
#include <istream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/types.hpp"

namespace recd::store {

// The first bad row: "<name> line <n>: <what>", one line.
struct import_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Genre names in category_id order (ml-100k's u.genre, then ml-latest's IMAX;
// ml-latest's "Children" and "(no genres listed)" map to 4 and 0).
inline constexpr const char* movielens_genres[] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western",    "IMAX"};

struct movie {
  std::string title;          // UTF-8, no NUL
  std::int32_t category = -1; // index into movielens_genres, -1 if none
};

struct movie_list {
  std::vector<item_id> order; // ids in file order (first occurrence)
  std::unordered_map<item_id, movie> by_id;

  void add(item_id id, movie m) {
    if (by_id.emplace(id, std::move(m)).second) // a repeated id keeps its first row
      order.push_back(id);
  }
};

// u.item: id|title|release date|video release date|IMDb URL|19 genre flags, latin-1.
movie_list read_u_item(std::istream& in, const std::string& name);

// movies.csv: movieId,title,genres with an optional header; genres '|'-separated.
movie_list read_movies_csv(std::istream& in, const std::string& name);

// u.data (csv = false: user item rating timestamp, tab-separated) or
// ratings.csv (userId,movieId,rating,timestamp, optional header): each row's
// event (kind from the rating) and its rating, in file order.
void read_ratings(std::istream& in, const std::string& name, bool csv,
                  const std::function<void(const behavior_event&, double rating)>& row);

// A behavior CSV (user_id,item_id,behavior_type[,timestamp]); rows without a
// timestamp get `now`.
void read_behavior_csv(std::istream& in, const std::string& name, unix_seconds now,
                       const std::function<void(const behavior_event&)>& row);

} // namespace recd::store
