#pragma once
// The API actor's ranking and rendering, apart from its message flow: the
// merge of the shards' recall candidates into one ranked list, and the JSON
// of a ranked item's reasons. Plain C++ (no CAF); used by actors/api.cpp.

#include <array>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "engine/item_slots.hpp"
#include "engine/rules.hpp"
#include "protocol/messages.hpp"

namespace recd {

// One route's total for one item over all shards, and its strongest source.
struct route_part {
  double score = 0;          // weighted, normalised contribution to the final score
  float evidence = 0;        // raw route score summed over shards
  float best = 0;            // the largest single-shard raw score...
  std::int32_t because = -1; // ...and the item or user behind it
};

struct merged_item {
  item_id item = 0;
  double score = 0;
  std::array<route_part, recall_route_count> routes{};
};

// merge's scratch space, reused across requests (one API actor, one at a time).
struct merge_scratch {
  // One item's sums over all candidates, before weighting (64 bytes, where a
  // merged_item takes 136: most items touched are not returned).
  struct entry {
    item_id item = 0;
    bool bought = false; // never recommended: its candidates are skipped
    std::array<float, recall_route_count> evidence{};
    std::array<float, recall_route_count> best{};
    std::array<std::int32_t, recall_route_count> because{};
  };
  item_slots slots;
  std::vector<entry> items; // by slot
};

// Normalises each route by its best score over all shards, weights it, and
// sums per item; bought items are dropped. Ties rank by item id. Only plain
// numbers here: the reasons are rendered for the returned items alone.
std::vector<merged_item> merge(const std::vector<candidate>& all, const user_context& ctx,
                               const recommend_settings& cfg, std::size_t limit,
                               merge_scratch& scratch);

// Appends `x` as a JSON number (shortest form that round-trips).
void append_number(std::string& out, double x);

// Appends `text` as a JSON string (invalid UTF-8 replaced).
void append_string(std::string& out, const std::string& text);

// An answered item's fields up to its reasons, the same on every path:
// {"item_id":..,"title":..,"price":..,"rating":..,"sales":..,"score":..,"reasons":
// (the caller appends the reasons and the closing brace).
void append_item_head(std::string& out, const item_details& d, double score);

// {"route":"item_cf","score":..,"because_item":..,"evidence":..}, strongest route first,
// then one {"route":"rule","rule":NAME,"kind":..} per business rule that
// fired on the item (`fired`: indices into `rules`, engine/rules.hpp), with
// "factor" for a boost. `categories`: the user's top categories the category
// route's `because` indexes.
void append_reasons(std::string& out, const merged_item& m,
                    const std::vector<std::string>& categories = {},
                    const rules::rule_set& rules = {},
                    const std::vector<std::uint16_t>& fired = {});

// What the rules and the category filter look at of an item: the catalog
// metadata its owning shard sent with its details.
rules::item_facts facts_of(const item_details& d);

} // namespace recd
