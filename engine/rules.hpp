#pragma once
// Business rules: a shop's hide, boost and diversity rules, parsed from a
// rules file (docs/rules.md) and applied to a ranked list of items. Pure C++
// (no CAF, no I/O): the API actor loads the file (actors/rules_book.hpp) and
// calls `apply` on every path that answers with items.
//
// The file has one rule per line, `NAME: RULE`; blank lines and lines whose
// first non-blank character is '#' are ignored:
//   sold-out:     hide label sold_out
//   no-adult:     hide category Adult Books          (the rest of the line)
//   promo:        boost label promo x1.5             (factor: last word, "x" optional)
//   new-arrivals: boost new 14 days x2               (created less than 14 days ago)
//   variety:      diversity 2 per category in top 10
// Names are 1..64 characters of [A-Za-z0-9_.-], unique in the file.
// Categories and labels match exactly (case-sensitive), as the catalog
// stores them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/types.hpp"

namespace recd::rules {

enum class rule_kind : std::uint8_t { hide_category, hide_label, boost_label, boost_new, diversity };
std::string_view to_string(rule_kind k);

struct rule {
  std::string name;
  rule_kind kind = rule_kind::hide_label;
  std::string value;        // the category or label (hide_*, boost_label)
  double factor = 1;        // boost_*: the score is multiplied by it (0 < factor <= 100)
  std::int32_t days = 0;    // boost_new: items created less than this many days ago
  std::int32_t per = 0;     // diversity: at most `per` items of one category...
  std::int32_t top = 0;     // ...among the first `top` items
  std::int32_t line = 0;    // where the file states it (1-based)
};

// Bounds of a rules file: a file beyond them is refused (it is read at start
// and on every reload, and applied to every request).
constexpr std::size_t max_rules = 256;
constexpr std::size_t max_file_bytes = 256 * 1024;
constexpr std::size_t max_name = 64;
constexpr std::size_t max_value = 100;   // bytes of a category or label
constexpr double max_factor = 100;
constexpr std::int32_t max_days = 3650;
constexpr std::int32_t max_top = 1000;

struct rule_set {
  std::vector<rule> rules;  // in file order
  // Identifies the rules' meaning (a hash of their canonical form, not of the
  // file's bytes): cached answers are stored with it and served only while
  // the same rules hold, on any node. 0 = no rules.
  std::uint64_t tag = 0;
  bool empty() const { return rules.empty(); }
  // Whether any rule needs the items' catalog metadata.
  bool needs_facts() const { return !rules.empty(); }
};

struct parse_error {
  std::int32_t line = 0;    // 1-based; 0 for the file as a whole
  std::string message;      // "line 3: ..."
};

// Parses a rules file. The first offending line is named; nothing of a bad
// file is kept (the caller keeps its old rules).
std::variant<rule_set, parse_error> parse(std::string_view text);

// The file form of `set` (one canonical line per rule), as `recd admin rules show` prints it.
std::string render(const rule_set& set);
std::string render(const rule& r);

// What the rules and a request's filters look at of an item: its catalog
// metadata (the owning shard's item_details).
struct item_facts {
  std::vector<std::string> categories;
  std::vector<std::string> labels;
  unix_seconds created = 0;  // 0 = unknown (no age boost)
};

// One entry of the list to rank: its score and its facts (null: the item's
// metadata is unknown, e.g. its shard was late; such an item is dropped when
// a filter or rule needs facts).
struct entry {
  item_id item = 0;
  double score = 0;
  const item_facts* facts = nullptr;
};

// Filters of one request beyond the rules (exclusions are applied before,
// where candidates are merged).
struct filter {
  std::string category;      // "" = any; else the item must be in it
};

// One item of the result: its index in the input, its final score and the
// rules that fired on it (indices into rule_set::rules, in file order).
struct placed {
  std::size_t index = 0;
  double score = 0;
  std::vector<std::uint16_t> fired;
};

// Applies `f` and `set` to `in` (best first) at time `now`:
//   1. drops items outside f.category and items a hide rule matches;
//   2. multiplies the score by every matching boost's factor;
//   3. sorts by score (ties: the input's order);
//   4. each diversity rule in file order: walking the list, an item whose
//      category already has `per` items among the first `top` places is
//      moved below them (it keeps its order among the moved).
// With no rules and no filter it returns `in` as it is. Deterministic: the
// same input gives the same order (stable paging).
std::vector<placed> apply(const rule_set& set, const filter& f, const std::vector<entry>& in,
                          unix_seconds now);

} // namespace recd::rules
