#include "actors/ranking.hpp"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

namespace recd {

std::vector<merged_item> merge(const std::vector<candidate>& all, const user_context& ctx,
                               const recommend_settings& cfg, std::size_t limit,
                               merge_scratch& scratch) {
  // A route's candidates for one item may come from several shards (item CF
  // from each shard owning one of the user's recent items): sum them first.
  // The bought items take their slots first, so a candidate's one lookup
  // also says whether it is bought.
  auto& items = scratch.items;
  scratch.slots.clear();
  items.clear();
  for (auto b : ctx.bought)
    if (scratch.slots.find_or_insert(b).second) {
      items.emplace_back();
      items.back().item = b;
      items.back().bought = true;
    }
  for (const auto& c : all) {
    if (c.score <= 0)
      continue;
    auto [slot, fresh] = scratch.slots.find_or_insert(c.item);
    if (fresh) {
      items.emplace_back();
      items.back().item = c.item;
    }
    auto& m = items[slot];
    if (m.bought)
      continue;
    const auto r = static_cast<std::size_t>(c.route);
    m.evidence[r] += c.score;
    if (c.score > m.best[r]) { // the first positive contribution always sets it
      m.best[r] = c.score;
      m.because[r] = c.because;
    }
  }
  std::array<float, recall_route_count> best{};
  for (const auto& m : items)
    for (std::size_t r = 0; r < recall_route_count; ++r)
      best[r] = std::max(best[r], m.evidence[r]);
  const std::array<double, recall_route_count> weight{cfg.weight_user_cf, cfg.weight_item_cf,
                                                      cfg.weight_vector, cfg.weight_popular,
                                                      cfg.weight_category};
  // A route's share of an item's score, and the item's score: summed in
  // route order, as the returned merged_item's parts are.
  auto part = [&](const merge_scratch::entry& m, std::size_t r) {
    return m.evidence[r] > 0 && best[r] > 0 ? weight[r] * double(m.evidence[r]) / double(best[r])
                                            : 0.0;
  };
  // Ranked by small keys, not the items themselves: the same order, a
  // fraction of the bytes moved.
  struct rank_key {
    double score;
    item_id item;
    std::uint32_t slot;
  };
  thread_local std::vector<rank_key> keys;
  keys.clear();
  keys.reserve(items.size());
  for (std::uint32_t s = 0; s < items.size(); ++s) {
    const auto& m = items[s];
    if (m.bought)
      continue;
    double score = 0;
    for (std::size_t r = 0; r < recall_route_count; ++r)
      score += part(m, r);
    keys.push_back({score, m.item, s});
  }
  auto better = [](const rank_key& a, const rank_key& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  };
  auto top = std::min(limit, keys.size());
  std::partial_sort(keys.begin(), keys.begin() + static_cast<long>(top), keys.end(), better);
  std::vector<merged_item> out(top);
  for (std::size_t k = 0; k < top; ++k) {
    const auto& m = items[keys[k].slot];
    auto& o = out[k];
    o.item = m.item;
    o.score = keys[k].score;
    for (std::size_t r = 0; r < recall_route_count; ++r)
      if (m.evidence[r] > 0)
        o.routes[r] = {part(m, r), m.evidence[r], m.best[r], m.because[r]};
  }
  return out;
}

void append_number(std::string& out, double x) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, ec == std::errc{} ? end : buf);
}

void append_string(std::string& out, const std::string& text) {
  // Printable ASCII with nothing to escape (most titles) is its own JSON
  // text; anything else is written by nlohmann's serializer (escapes, and
  // invalid UTF-8 replaced by U+FFFD).
  const bool plain = std::all_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_item_head(std::string& out, const item_details& d, double score) {
  out += "{\"item_id\":" + std::to_string(d.item) + ",\"title\":";
  append_string(out, d.title);
  out += ",\"price\":";
  append_number(out, d.price);
  out += ",\"rating\":";
  append_number(out, d.rating);
  out += ",\"sales\":" + std::to_string(d.sales) + ",\"score\":";
  append_number(out, score);
  out += ",\"reasons\":";
}

void append_reasons(std::string& out, const merged_item& m,
                    const std::vector<std::string>& categories, const rules::rule_set& rules,
                    const std::vector<std::uint16_t>& fired) {
  std::array<std::size_t, recall_route_count> order{0, 1, 2, 3, 4};
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return m.routes[a].score > m.routes[b].score;
  });
  out += '[';
  bool first = true;
  for (auto r : order) {
    const auto& p = m.routes[r];
    if (p.score <= 0)
      continue;
    auto route = static_cast<recall_route>(r);
    out += first ? "{\"route\":\"" : ",{\"route\":\"";
    first = false;
    out += to_string(route);
    out += "\",\"score\":";
    append_number(out, p.score);
    switch (route) {
      case recall_route::item_cf: // evidence: similarity x behavior weight x recency
        out += ",\"because_item\":" + std::to_string(p.because) + ",\"evidence\":";
        append_number(out, p.evidence);
        break;
      case recall_route::user_cf: // evidence: summed similarity of the users who bought it
        out += ",\"because_user\":" + std::to_string(p.because) + ",\"evidence\":";
        append_number(out, p.evidence);
        break;
      case recall_route::vector:
        out += ",\"similarity\":";
        append_number(out, p.evidence);
        break;
      case recall_route::popular:
        break;
      case recall_route::category: // because: the category's index among the user's top ones
        if (p.because >= 0 && static_cast<std::size_t>(p.because) < categories.size()) {
          out += ",\"category\":";
          append_string(out, categories[static_cast<std::size_t>(p.because)]);
        }
        break;
    }
    out += '}';
  }
  for (auto k : fired) {
    if (k >= rules.rules.size())
      continue;
    const auto& r = rules.rules[k];
    out += first ? "{\"route\":\"rule\",\"rule\":" : ",{\"route\":\"rule\",\"rule\":";
    first = false;
    append_string(out, r.name);
    out += ",\"kind\":\"";
    out += rules::to_string(r.kind);
    out += '"';
    if (r.kind == rules::rule_kind::boost_label || r.kind == rules::rule_kind::boost_new) {
      out += ",\"factor\":";
      append_number(out, r.factor);
    }
    out += '}';
  }
  out += ']';
}

rules::item_facts facts_of(const item_details& d) {
  return {d.categories, d.labels, d.created};
}

} // namespace recd
