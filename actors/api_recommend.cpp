// The api actor's recommend path: cache, user context, recall on every shard,
// merge, details, the request's filters and the node's business rules
// (engine/rules.hpp), paging, cache store. See api.hpp and docs/rules.md.
#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <memory>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"
#include "protocol/limits.hpp"

namespace recd::api_detail {

namespace {

// How deep the merged list is when a category filter or a rule may drop or
// reorder items: the details of this many candidates are fetched to find a
// page's worth that qualifies (a page beyond it is answered incomplete).
constexpr std::size_t rules_window = 300;

// A request in flight, shared by its steps.
struct recommend_job {
  user_id user = 0;
  std::int32_t limit = 50;
  bool use_cache = true;       // read and write the cache (never for a narrowing filter)
  recommend_filter filter;
  rules_book::rules_ptr rules; // the rules the answer is made under
  clock::time_point t0;
  // Read before the user's context was asked for, if the user's shard runs in
  // this process: the answer also goes to local_answers under it.
  local_answers::guard made_under;

  std::size_t depth() const { return static_cast<std::size_t>(filter.offset + limit); }
  bool needs_facts() const { return !filter.category.empty() || rules->needs_facts(); }
  // How many merged candidates get details: the request's excluded items
  // are left out after the merge (the rest keep their scores and order).
  std::size_t window() const {
    return (needs_facts() ? std::max(depth(), rules_window) : depth()) + filter.exclude.size();
  }
  bool excluded(item_id i) const {
    return std::binary_search(filter.exclude.begin(), filter.exclude.end(), i);
  }
};
using job_ptr = std::shared_ptr<const recommend_job>;

std::vector<item_id> sorted_union(const std::vector<item_id>& a, const std::vector<item_id>& b) {
  std::vector<item_id> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// The context's bought set (never recommended) as the request's exclude_seen
// wants it. The request's own exclusions are left out after the merge
// instead, so the items that remain keep the order they had.
void exclusions(user_context& ctx, const recommend_filter& f) {
  if (f.exclude_seen == 1 && !ctx.seen_in_bought)
    ctx.bought = sorted_union(ctx.bought, ctx.seen);
  else if (f.exclude_seen == 0 && ctx.seen_in_bought)
    ctx.bought = std::move(ctx.purchased);
}

unix_seconds now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The cache entry's guard: the user's version and the catalog changes its
// shard knew when the answer was computed, and the rules' tag
// ("<version> <catalog>/<tag>"). A behavior of the user, a catalog change or
// a rules reload (with other rules) makes the entry stale.
std::string guard_of(std::uint64_t version, std::uint64_t catalog, std::uint64_t rules_tag) {
  return std::to_string(version) + " " + std::to_string(catalog) + "/" + std::to_string(rules_tag);
}

// `catalog`: the user's shard's catalog epoch (cache guard); `categories`:
// the user's top categories the category route's reasons name.
void finish(api_self* self, reply_promise rp, job_ptr job, std::uint64_t version,
            std::uint64_t catalog, std::vector<std::string> categories,
            std::vector<merged_item> ranked, bool degraded) {
  // Step 3: details from the owning shards.
  std::vector<item_id> ids;
  ids.reserve(ranked.size());
  for (const auto& m : ranked)
    ids.push_back(m.item);
  auto shared_ranked = std::make_shared<std::vector<merged_item>>(std::move(ranked));
  fetch_details(self, job->user, ids, degraded, [=](details_ptr details, bool incomplete) mutable {
    const auto& list = *shared_ranked;
    // Step 4: the request's category and the rules, over the items whose
    // details came back (an item that vanished or whose shard was late is left out).
    // The items' facts (copies of their categories and labels) only when the
    // category filter or a rule reads them.
    const bool with_facts = job->needs_facts();
    std::vector<rules::item_facts> facts;
    std::vector<rules::entry> entries;
    std::vector<const merged_item*> merged;
    facts.reserve(with_facts ? list.size() : 0);
    entries.reserve(list.size());
    for (const auto& m : list) {
      auto it = details->find(m.item);
      if (it == details->end() || job->excluded(m.item))
        continue;
      if (with_facts)
        facts.push_back(facts_of(it->second));
      entries.push_back({m.item, m.score, nullptr});
      merged.push_back(&m);
    }
    for (std::size_t k = 0; with_facts && k < entries.size(); ++k)
      entries[k].facts = &facts[k];
    const auto& rules = *job->rules;
    auto placed = rules::apply(rules, {job->filter.category}, entries, now_seconds());
    // Step 5: render the first depth() items; the page is the last `limit` of them.
    const auto depth = std::min(placed.size(), job->depth());
    const auto offset = std::min(depth, static_cast<std::size_t>(job->filter.offset));
    std::string items;    // the rendered items of [0, depth), comma-separated
    std::string page;     // those of [offset, depth)
    auto& metrics = *self->state.deps.metrics;
    for (std::size_t k = 0; k < depth; ++k) {
      const auto& p = placed[k];
      const auto& m = *merged[p.index];
      const auto& d = details->at(m.item);
      std::string item;
      append_item_head(item, d, p.score);
      append_reasons(item, m, categories, rules, p.fired);
      item += '}';
      if (k >= offset) {
        page += page.empty() ? "" : ",";
        page += item;
        ++metrics.recommend_items;
        for (std::size_t r = 0; r < recall_route_count; ++r)
          if (m.routes[r].score > 0) // as in its reasons
            metrics.route_items[r].fetch_add(1, std::memory_order_relaxed);
      }
      if (job->use_cache) {
        items += items.empty() ? "" : ",";
        items += item;
      }
    }
    auto head = "{\"user_id\":" + std::to_string(job->user) + ",\"recommendations\":[";
    // "complete": false says fewer than `limit` items qualified for this page.
    auto tail = [](std::size_t count, std::size_t wanted) {
      return "],\"count\":" + std::to_string(count) +
             ",\"complete\":" + (count == wanted ? "true" : "false");
    };
    if (job->use_cache && !incomplete) {
      // Stored as the answer of offset 0, limit depth(): later pages of the
      // same list are served from it (stable paging).
      // The list up to its closing '}': the cache entry's body, and a local answer.
      auto listed = std::make_shared<const std::string>(head + items + tail(depth, job->depth()));
      auto entry = guard_of(version, catalog, rules.tag) + "\n" + std::to_string(job->depth()) + "\n" +
                   *listed + "}";
      self->state.near.put(job->user, std::make_shared<const std::string>(entry));
      caf::anon_send(self->state.deps.cache, cache_put_atom_v, job->user, std::move(entry));
      if (job->made_under.board)
        self->state.deps.answers->put(job->user, std::move(listed),
                                      static_cast<std::int32_t>(job->depth()), rules.tag,
                                      job->made_under);
    }
    auto body = head + page + tail(depth - offset, static_cast<std::size_t>(job->limit));
    body += ",\"from_cache\":false";
    if (incomplete)
      body += ",\"degraded\":true";
    body += ",\"latency_ms\":";
    append_number(body, ms_since(job->t0));
    body += '}';
    if (incomplete)
      ++metrics.recommend_degraded;
    metrics.recommend_latency.record(ms_since(job->t0) * 1000);
    rp.deliver(std::move(body));
  });
}

// Step 2: recall on every shard, then the merge, then finish.
void recall_and_finish(api_self* self, reply_promise rp, job_ptr job,
                       std::shared_ptr<user_context> ctx, bool degraded) {
  auto per_route = std::max(self->state.cfg.recommend.per_route,
                            static_cast<std::int32_t>(job->window()));
  recall_everywhere(self, job->user, *ctx, per_route, job->filter.category, degraded,
                    [=](std::vector<candidate>& all, bool shard_failed) mutable {
                      auto ranked = merge(all, *ctx, self->state.cfg.recommend, job->window(),
                                          self->state.merging);
                      finish(self, rp, job, ctx->version, ctx->catalog_epoch, ctx->categories,
                             std::move(ranked), shard_failed);
                    });
}

} // namespace

void history_from_record(api_self* self, user_id user, bool with_seen,
                         std::function<void(caf::expected<std::vector<item_id>>)> done) {
  auto& st = self->state;
  auto metrics = st.deps.metrics;
  auto unavailable = [=](const std::string& why) mutable {
    ++metrics->recommend_history_unavailable;
    done(make_error(ec::history_unavailable, why));
  };
  if (!st.deps.history) {
    unavailable("no history reader on this node");
    return;
  }
  history_query q;
  q.user = user;
  q.with_seen = with_seen;
  q.seen_limit = std::max(st.cfg.recommend.history_items, 1);
  const auto timeout = std::chrono::milliseconds{st.cfg.postgres.history_timeout_ms};
  q.deadline_ns =
    std::chrono::duration_cast<std::chrono::nanoseconds>((clock::now() + timeout).time_since_epoch())
      .count();
  ask(self, st.deps.history, timeout, q)
    .then(
      [=](std::vector<item_id>& bought, std::vector<item_id>& seen) mutable {
        ++metrics->recommend_history_from_database;
        done(with_seen ? sorted_union(bought, seen) : std::move(bought));
      },
      [=](caf::error& err) mutable {
        spdlog::warn("history of user {} unavailable from the database too: {}", user,
                     describe(err));
        unavailable(describe(err));
      });
}

namespace {

void compute(api_self* self, reply_promise rp, job_ptr job) {
  auto& st = self->state;
  const auto& rc = st.cfg.recommend;
  // Step 1: the user's context from its shard.
  ask_holder(self, job->user, st.shard_timeout(), context_atom_v, job->user, rc.recent_items,
             rc.similar_users)
    .then(
      [=](user_context& ctx) mutable {
        exclusions(ctx, job->filter);
        recall_and_finish(self, rp, job, std::make_shared<user_context>(std::move(ctx)), false);
      },
      [=](caf::error& err) mutable {
        // The user's shard is unavailable: answer from the other routes as a
        // cold user, degraded (so never cached), without what the record says
        // the user bought (and saw), or not at all.
        spdlog::warn("context of user {} unavailable: {}", job->user, describe(err));
        const bool with_seen =
          job->filter.exclude_seen == 1 ||
          (job->filter.exclude_seen < 0 && self->state.cfg.recommend.exclude_seen != 0);
        history_from_record(self, job->user, with_seen,
                            [=](caf::expected<std::vector<item_id>> excluded) mutable {
                              if (!excluded) {
                                rp.deliver(std::move(excluded.error()));
                                return;
                              }
                              auto cold = std::make_shared<user_context>();
                              cold->user = job->user;
                              cold->bought = std::move(*excluded);
                              recall_and_finish(self, rp, job, std::move(cold), true);
                            });
      });
}

// Answers from a cache entry ("<version> <catalog>/<rules tag>\n<depth>\n<body>",
// from the near cache or Redis) if the user has done nothing and the catalog
// has not changed since it was stored (as the user's shard knows them), the
// rules are the same and it is deep enough for the page; else computes.
// A valid Redis entry is kept in the near cache.
void serve_cached(api_self* self, reply_promise rp, job_ptr job, near_cache::value_ptr entry,
                  bool from_redis) {
  const auto& cached = *entry;
  auto nl1 = cached.find('\n');
  auto nl = nl1 == std::string::npos ? nl1 : cached.find('\n', nl1 + 1);
  auto slash = cached.find('/');
  auto space = cached.find(' ');
  // An entry without the catalog part (stored before it existed) never matches.
  if (nl == std::string::npos || slash > nl1 || space > slash ||
      std::strtoull(cached.c_str() + slash + 1, nullptr, 10) != job->rules->tag ||
      std::atoi(cached.c_str() + nl1 + 1) < static_cast<int>(job->depth())) {
    compute(self, rp, job);
    return;
  }
  auto version = std::strtoull(cached.c_str(), nullptr, 10);
  auto catalog = std::strtoull(cached.c_str() + space + 1, nullptr, 10);
  auto cached_depth = std::atoi(cached.c_str() + nl1 + 1);
  ask_holder(self, job->user, self->state.shard_timeout(), version_atom_v, job->user)
    .then(
      [=](std::uint64_t current, std::uint64_t current_catalog) mutable {
        const auto& cached = *entry;
        if (current != version || current_catalog != catalog) {
          self->state.near.erase(job->user);
          compute(self, rp, job);
          return;
        }
        if (from_redis)
          self->state.near.put(job->user, entry);
        // Valid as of the version just read, so as of the stamp read before it:
        // the HTTP threads may serve it from now on.
        if (job->made_under.board && cached.back() == '}')
          self->state.deps.answers->put(
            job->user, std::make_shared<const std::string>(cached.substr(nl + 1, cached.size() - nl - 2)),
            cached_depth, job->rules->tag, job->made_under);
        auto& m = *self->state.deps.metrics;
        ++m.recommend_from_cache;
        if (!from_redis)
          ++m.recommend_from_near_cache;
        if (cached_depth == job->limit && job->filter.offset == 0 && cached.back() == '}') {
          // Same request: splice the per-answer fields into the stored body.
          std::string body = cached.substr(nl + 1, cached.size() - nl - 2);
          body += ",\"from_cache\":true,\"latency_ms\":";
          append_number(body, ms_since(job->t0));
          body += '}';
          m.recommend_latency.record(ms_since(job->t0) * 1000);
          rp.deliver(std::move(body));
          return;
        }
        auto body = json::parse(cached.substr(nl + 1), nullptr, false);
        if (body.is_discarded() || !body["recommendations"].is_array()) {
          compute(self, rp, job);
          return;
        }
        auto& recs = body["recommendations"];
        const auto offset = std::min(recs.size(), static_cast<std::size_t>(job->filter.offset));
        const auto end = std::min(recs.size(), job->depth());
        auto kept = json::array();
        for (auto k = offset; k < end; ++k)
          kept.push_back(std::move(recs[k]));
        recs = std::move(kept);
        body["count"] = recs.size();
        body["complete"] = recs.size() == static_cast<std::size_t>(job->limit);
        body["from_cache"] = true;
        body["latency_ms"] = ms_since(job->t0);
        m.recommend_latency.record(ms_since(job->t0) * 1000);
        rp.deliver(body.dump());
      },
      [=](caf::error&) mutable { compute(self, rp, job); });
}

} // namespace

rules_book::rules_ptr current_rules(const api_state& st) {
  static const auto none = std::make_shared<const rules::rule_set>();
  return st.deps.rules ? st.deps.rules->current() : none;
}

void finish_recommend(api_self* self, reply_promise rp, user_id user, std::uint64_t version,
                      std::int32_t limit, bool use_cache, std::vector<merged_item> ranked,
                      bool degraded, clock::time_point t0,
                      std::vector<std::string> categories) {
  auto job = std::make_shared<recommend_job>();
  job->user = user;
  job->limit = limit;
  job->use_cache = use_cache;
  job->rules = current_rules(self->state);
  job->t0 = t0;
  finish(self, std::move(rp), std::move(job), version, 0, std::move(categories), std::move(ranked),
         degraded);
}

void recommend(api_self* self, reply_promise rp, user_id user, std::int32_t limit, bool use_cache,
               recommend_filter filter) {
  auto t0 = clock::now();
  auto& st = self->state;
  ++st.deps.metrics->recommend_requests;
  if (!routable(st, rp))
    return;
  if (auto err = limits::check_recommend_filter(filter)) {
    rp.deliver(std::move(err));
    return;
  }
  auto job = std::make_shared<recommend_job>();
  job->user = user;
  job->limit = limit;
  // A narrowing filter's answer is not the user's list: it neither reads
  // nor replaces the cached one (an offset alone pages the cached list).
  job->use_cache = use_cache && !filter.narrows();
  job->filter = std::move(filter);
  job->rules = current_rules(st);
  job->t0 = t0;
  if (job->use_cache && st.deps.answers) {
    // Before anything is asked: a change of the user after this stamp fails it.
    const auto& holder = st.reader(st.partition(user), user);
    if (auto board = version_board::of(caf::actor_cast<caf::strong_actor_ptr>(holder).get()))
      job->made_under = {board, board->read(user), st.deps.answers->routing()};
  }
  if (!job->use_cache) {
    compute(self, rp, job);
    return;
  }
  if (auto hit = st.near.find(user)) {
    serve_cached(self, rp, job, std::move(hit), false);
    return;
  }
  auto cache_timeout = std::chrono::milliseconds{st.cfg.redis.timeout_ms * 2 + 50};
  ask(self, st.deps.cache, cache_timeout, cache_get_atom_v, user)
    .then(
      [=](std::string& cached) mutable {
        if (cached.empty()) {
          compute(self, rp, job);
          return;
        }
        serve_cached(self, rp, job, std::make_shared<const std::string>(std::move(cached)), true);
      },
      [=](caf::error&) mutable { compute(self, rp, job); });
}

} // namespace recd::api_detail
