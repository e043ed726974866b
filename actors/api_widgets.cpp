// The api actor's item pages and sessions (see api.hpp):
//   similar:     the item's owner gives its published item-CF neighbours, its
//                live co-buy partners and its embedding; every shard then
//                gives the items nearest to that embedding (each indexes its
//                own), so an item with little or no co-occurrence still gets
//                a full list; merged per item, each route normalised by its
//                best, weighted (recommend.weight_item_cf, weight_vector).
//   also-bought: the owner's live co-buy partners, most co-buyers first.
//   session:     a visitor's recent items stand in for a user's history
//                (item CF seeds, a taste vector folded from their embeddings,
//                popular); with a user id, merged with that user's context.
//                The recall, merge and answer are recommend's; nothing is
//                stored and nothing is cached.
// And the live half of also-bought: after a committed buy is applied, the
// buyer's shard names the items it pairs with and their owners count it.
#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"
#include "actors/shard_state.hpp"
#include "engine/rules.hpp"
#include "protocol/limits.hpp"

namespace recd::api_detail {

namespace {

unix_seconds now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// One reason an item page lists an item for: its route, the evidence's source
// (the neighbour table, or live co-buys) and the route's raw evidence.
struct page_reason {
  const char* route;
  std::string source;  // "" = none
  double score = 0;    // weighted, normalised: the reasons' scores sum to the item's
  double evidence = 0; // the route's raw figure (weight, co-buyers, cosine)
};

struct page_item {
  item_id item = 0;
  double score = 0;
  std::vector<page_reason> reasons;
};

// Candidates per route asked of the shards: enough that filtering (hidden
// items, a category) still leaves `limit`.
std::int32_t page_depth(const api_state& st, const item_query& q) {
  auto depth = std::max(st.cfg.recommend.per_route, q.limit * 4);
  return std::min(depth, limits::max_per_route);
}

// Details of the ranked items from their owners, then the JSON answer: the
// first `limit` that pass the category filter and the rules, best first.
void answer_page(api_self* self, reply_promise rp, const item_query& q, const char* list_name,
                 std::vector<page_item> ranked, bool degraded, clock::time_point t0) {
  // Details of the best candidates only: hidden and unavailable items are
  // gone already, so four times the limit leaves room for what hide rules
  // drop; a category filter may drop most, so then every candidate.
  if (q.category.empty())
    ranked.resize(std::min(ranked.size(), static_cast<std::size_t>(std::max(q.limit * 4, 100))));
  // At most limits::max_details per shard: page_depth keeps far below.
  std::vector<item_id> ids;
  ids.reserve(ranked.size());
  for (const auto& m : ranked)
    ids.push_back(m.item);
  auto items = std::make_shared<std::vector<page_item>>(std::move(ranked));
  fetch_details(self, q.item, ids, degraded, [=](details_ptr details, bool incomplete) mutable {
    // The shown items: those whose details came (hidden and unavailable ones
    // never do), through the category filter and the rules, best first.
    auto rules_in_force = current_rules(self->state);
    const auto& book = *rules_in_force;
    std::vector<const page_item*> shown;
    std::vector<rules::item_facts> known;
    for (const auto& m : *items)
      if (auto it = details->find(m.item); it != details->end()) {
        shown.push_back(&m);
        known.push_back(facts_of(it->second));
      }
    std::vector<rules::entry> entries;
    for (std::size_t k = 0; k < shown.size(); ++k)
      entries.push_back({shown[k]->item, shown[k]->score, &known[k]});
    auto placed = rules::apply(book, rules::filter{q.category}, entries, now_seconds());
    std::string body = "{\"item_id\":" + std::to_string(q.item) + ",\"" + list_name + "\":[";
    std::size_t count = 0;
    for (const auto& p : placed) {
      if (count >= static_cast<std::size_t>(q.limit))
        break;
      const auto& m = *shown[p.index];
      const auto& d = details->at(m.item);
      if (count++ > 0)
        body += ',';
      append_item_head(body, d, p.score);
      body += '[';
      bool first = true;
      for (const auto& r : m.reasons) {
        body += first ? "{\"route\":\"" : ",{\"route\":\"";
        first = false;
        body += r.route;
        body += "\",\"score\":";
        append_number(body, r.score);
        body += ",\"evidence\":";
        append_number(body, r.evidence);
        if (!r.source.empty()) {
          body += ",\"source\":";
          append_string(body, r.source);
        }
        body += '}';
      }
      for (auto fired : p.fired) {
        const auto& rule = book.rules[fired];
        body += ",{\"route\":\"rule\",\"rule\":";
        append_string(body, rule.name);
        body += ",\"kind\":";
        append_string(body, std::string{rules::to_string(rule.kind)});
        if (rule.kind == rules::rule_kind::boost_label || rule.kind == rules::rule_kind::boost_new) {
          body += ",\"factor\":";
          append_number(body, rule.factor);
        }
        body += '}';
      }
      body += "]}";
    }
    body += "],\"count\":" + std::to_string(count);
    if (incomplete)
      body += ",\"degraded\":true";
    body += ",\"latency_ms\":";
    append_number(body, ms_since(t0));
    body += '}';
    rp.deliver(std::move(body));
  });
}

// The owner's relations of q.item; an unknown item answers 404 (not_found).
template <class OnRelations>
void with_relations(api_self* self, reply_promise rp, const item_query& q, OnRelations next) {
  auto& st = self->state;
  ask_holder(self, q.item, st.shard_timeout() * 4, relations_atom_v, q.item, page_depth(st, q))
    .then([=](item_relations& rel) mutable { next(std::move(rel)); },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

// Route totals per item, normalised by the route's best and weighted.
struct route_scores {
  std::unordered_map<item_id, page_item> items;

  void add(item_id item, const char* route, std::string source, double evidence, double best,
           double weight) {
    if (evidence <= 0 || best <= 0 || weight <= 0)
      return;
    auto& m = items[item];
    m.item = item;
    double score = weight * evidence / best;
    m.score += score;
    m.reasons.push_back({route, std::move(source), score, evidence});
  }

  std::vector<page_item> ranked() {
    std::vector<page_item> out;
    out.reserve(items.size());
    for (auto& [id, m] : items) {
      std::stable_sort(m.reasons.begin(), m.reasons.end(),
                       [](const page_reason& a, const page_reason& b) { return a.score > b.score; });
      out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const page_item& a, const page_item& b) {
      return a.score != b.score ? a.score > b.score : a.item < b.item;
    });
    return out;
  }
};

template <class List>
double best_of(const List& list) {
  double best = 0;
  for (const auto& n : list)
    best = std::max(best, double(n.score));
  return best;
}

} // namespace

void similar(api_self* self, reply_promise rp, item_query q) {
  auto t0 = clock::now();
  if (!routable(self->state, rp))
    return;
  with_relations(self, rp, q, [=](item_relations rel) mutable {
    auto& st = self->state;
    auto shared_rel = std::make_shared<item_relations>(std::move(rel));
    auto nearest = std::make_shared<std::vector<scored_item>>();
    auto degraded = std::make_shared<bool>(false);
    auto done = [=]() mutable {
      const auto& rc = self->state.cfg.recommend;
      const auto& r = *shared_rel;
      route_scores scores;
      double best = best_of(r.neighbours);
      for (const auto& n : r.neighbours)
        if (n.item != q.item)
          scores.add(n.item, "item_cf", rc.item_neighbours, n.score, best, rc.weight_item_cf);
      best = best_of(r.co_bought);
      for (const auto& n : r.co_bought)
        if (n.item != q.item)
          scores.add(n.item, "item_cf", "live_co_bought", n.score, best, rc.weight_item_cf);
      // Cosines are not normalised by the best: a weak nearest item stays weak.
      for (const auto& n : *nearest)
        if (n.item != q.item)
          scores.add(n.item, "vector", "", n.score, 1.0, rc.weight_vector);
      answer_page(self, rp, q, "items", scores.ranked(), *degraded, t0);
    };
    if (shared_rel->embedding.empty() || st.read_groups.empty()) {
      done();
      return;
    }
    // Vector neighbours: every shard indexes its own items.
    nearest_everywhere(self, q.item, shared_rel->embedding, page_depth(st, q),
                       std::vector<item_id>{q.item},
                       [=](std::vector<scored_item>& found, bool incomplete) mutable {
                         *nearest = std::move(found);
                         *degraded = *degraded || incomplete;
                         done();
                       });
  });
}

void also_bought(api_self* self, reply_promise rp, item_query q) {
  auto t0 = clock::now();
  if (!routable(self->state, rp))
    return;
  with_relations(self, rp, q, [=](item_relations rel) mutable {
    route_scores scores;
    double best = best_of(rel.co_bought);
    for (const auto& n : rel.co_bought)
      scores.add(n.item, "also_bought", "live_co_bought", n.score, best, 1.0);
    answer_page(self, rp, q, "items", scores.ranked(), false, t0);
  });
}

// ---- sessions -------------------------------------------------------------------------

namespace {

// The session's items as a history: one entry per item (strongest kind,
// newest time), newest first.
std::vector<recent_item> distinct_newest_first(const std::vector<recent_item>& items) {
  std::vector<recent_item> out;
  for (const auto& r : items) {
    auto it = std::find_if(out.begin(), out.end(), [&](const recent_item& o) { return o.item == r.item; });
    if (it == out.end()) {
      out.push_back(r);
    } else {
      it->kind = std::max(it->kind, r.kind);
      it->ts = std::max(it->ts, r.ts);
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const recent_item& a, const recent_item& b) { return a.ts > b.ts; });
  return out;
}

// Runs recall on every shard for `ctx` and answers with recommend's merge and
// body (user_id null for an anonymous visitor).
// `key`: what spreads the session's reads over replicas (its user, or for a
// visitor its newest item).
void recall_session(api_self* self, reply_promise rp, std::int32_t user, std::int32_t key,
                    std::int32_t limit, std::shared_ptr<user_context> ctx, bool degraded,
                    clock::time_point t0) {
  // recommend's answer names the user: an anonymous session's is null.
  reply_promise out = rp;
  if (user < 0)
    out = reply_promise{make_local_reply<std::string>([rp](caf::expected<std::string> body) mutable {
      if (!body)
        return rp.deliver(std::move(body.error()));
      const std::string placeholder = "{\"user_id\":-1,";
      if (body->rfind(placeholder, 0) == 0)
        body->replace(0, placeholder.size(), "{\"user_id\":null,");
      rp.deliver(std::move(*body));
    })};
  auto per_route = std::max(self->state.cfg.recommend.per_route, limit);
  // The category route, as for the user's own answer; no category filter.
  recall_everywhere(self, key, *ctx, per_route, {}, degraded,
                    [=](std::vector<candidate>& all, bool late) mutable {
                      auto ranked = merge(all, *ctx, self->state.cfg.recommend,
                                          static_cast<std::size_t>(limit), self->state.merging);
                      finish_recommend(self, out, user < 0 ? -1 : user, 0, limit, false,
                                       std::move(ranked), late, t0, ctx->categories);
                    });
}

// The visitor's items joined to the user's context (empty for a visitor):
// they are the newest seeds, never recommended back when bought (or, with
// recommend.exclude_seen, at all), and their embeddings are folded into the
// taste vector oldest first, as the user's shard folds a behavior.
void fold_session(const recommend_settings& rc, user_context& ctx,
                  const std::vector<recent_item>& session,
                  const std::unordered_map<item_id, std::vector<float>>& vectors) {
  std::vector<recent_item> recent = session;
  for (const auto& r : ctx.recent)
    if (recent.size() < static_cast<std::size_t>(std::max(rc.recent_items, 1)) &&
        std::none_of(session.begin(), session.end(),
                     [&](const recent_item& s) { return s.item == r.item; }))
      recent.push_back(r);
  std::stable_sort(recent.begin(), recent.end(),
                   [](const recent_item& a, const recent_item& b) { return a.ts > b.ts; });
  ctx.recent = std::move(recent);
  for (const auto& s : session)
    if (s.kind == behavior_kind::buy || rc.exclude_seen != 0)
      ctx.bought.push_back(s.item);
  std::sort(ctx.bought.begin(), ctx.bought.end());
  ctx.bought.erase(std::unique(ctx.bought.begin(), ctx.bought.end()), ctx.bought.end());
  for (auto s = session.rbegin(); s != session.rend(); ++s) {
    auto it = vectors.find(s->item);
    if (it != vectors.end())
      fold_taste(ctx.vector, it->second, behavior_weight(rc, s->kind));
  }
}

} // namespace

void session(api_self* self, reply_promise rp, session_query q) {
  auto t0 = clock::now();
  auto& st = self->state;
  ++st.deps.metrics->recommend_requests;
  if (!routable(st, rp))
    return;
  auto items = std::make_shared<std::vector<recent_item>>(distinct_newest_first(q.items));
  auto ctx = std::make_shared<user_context>();
  ctx->user = q.user < 0 ? 0 : q.user;
  const std::int32_t key = q.user >= 0 || items->empty() ? ctx->user : items->front().item;
  auto degraded = std::make_shared<bool>(false);
  // Step 2: the session items' embeddings from their owners, then fold and recall.
  auto with_context = [=]() mutable {
    std::vector<item_id> ids;
    for (const auto& r : *items)
      ids.push_back(r.item);
    vectors_everywhere(self, key, ids, [=](std::vector<item_vector>& found,
                                                 bool incomplete) mutable {
      std::unordered_map<item_id, std::vector<float>> vectors;
      for (auto& v : found)
        vectors[v.item] = std::move(v.vec);
      *degraded = *degraded || incomplete;
      fold_session(self->state.cfg.recommend, *ctx, *items, vectors);
      recall_session(self, rp, q.user, key, q.limit, ctx, *degraded, t0);
    });
  };
  if (q.user < 0) {
    with_context();
    return;
  }
  // Step 1 (a logged-in user): the user's context, as for GET /api/recommend.
  const auto& rc = st.cfg.recommend;
  ask_holder(self, q.user, st.shard_timeout(), context_atom_v, q.user, rc.recent_items,
             rc.similar_users)
    .then(
      [=](user_context& found) mutable {
        *ctx = std::move(found);
        with_context();
      },
      [=](caf::error& err) mutable {
        // As for GET /api/recommend: what the record says the user bought
        // (and saw) is left out, or there is no answer.
        spdlog::warn("context of user {} unavailable: {}", q.user, describe(err));
        *degraded = true;
        history_from_record(self, q.user, self->state.cfg.recommend.exclude_seen != 0,
                            [=](caf::expected<std::vector<item_id>> excluded) mutable {
                              if (!excluded) {
                                rp.deliver(std::move(excluded.error()));
                                return;
                              }
                              ctx->bought = std::move(*excluded);
                              with_context();
                            });
      });
}

// ---- the live half of also-bought ---------------------------------------------------------

void learn_co_buys(api_self* self, const behavior_event& e, std::int64_t row,
                   std::function<void()> done) {
  auto& st = self->state;
  if (e.kind != behavior_kind::buy) {
    done();
    return;
  }
  auto finished = std::make_shared<std::function<void()>>(std::move(done));
  auto failed = [=](caf::error& err) mutable {
    // Committed and applied: only the pair counts miss it until a shard reloads.
    spdlog::warn("buy {} applied, its co-buy pairs not learned: {}", row, describe(err));
    (*finished)();
  };
  ask(self, st.shard_of(e.user), apply_timeout, partners_atom_v, e.user, e.item, row)
    .then(
      [=](const std::vector<item_id>& partners) mutable {
        auto& st = self->state;
        if (partners.empty()) {
          (*finished)();
          return;
        }
        // Every shard holding a side of a pair, once: the item's and each
        // partner's owner (and next owner during a move).
        std::vector<shard_actor> targets = st.apply_targets(e.item);
        for (auto p : partners)
          for (auto& shard : st.apply_targets(p))
            if (std::find(targets.begin(), targets.end(), shard) == targets.end())
              targets.push_back(shard);
        auto remaining = std::make_shared<std::size_t>(targets.size());
        for (auto& shard : targets)
          ask(self, shard, apply_timeout, co_bought_atom_v, e.item, partners)
            .then(
              [=](bool) mutable {
                if (--*remaining == 0)
                  (*finished)();
              },
              [=](caf::error& err) mutable {
                spdlog::warn("buy {}: co-buy pairs not counted on one shard: {}", row,
                             describe(err));
                if (--*remaining == 0)
                  (*finished)();
              });
      },
      failed);
}

} // namespace recd::api_detail
