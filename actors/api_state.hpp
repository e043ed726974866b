#pragma once
// Internal to the api actor (api.cpp, api_behavior.cpp): its state, the
// deadline-keeping request helper and where answers go. Not part of the
// protocol; nothing else includes it.

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/api.hpp"
#include "actors/deadlines.hpp"
#include "actors/near_cache.hpp"
#include "actors/ranking.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd::api_detail {

using clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto apply_timeout = std::chrono::seconds{1};

// One recall (or nearest) request of a recommendation: the shard asked and
// the partitions it recalls for (recall_request::serve, and as numbers).
struct recall_group {
  shard_actor shard;
  std::vector<std::uint64_t> serve;
  std::vector<std::uint32_t> partitions;

  // Names partition p (of `count`) in the group, once.
  void add(std::uint32_t p, std::size_t count) {
    if (serve.empty())
      serve.assign((count + 63) / 64, 0);
    if (serves_partition(serve, p))
      return;
    serve[p / 64] |= std::uint64_t{1} << (p % 64);
    partitions.push_back(p);
  }
};

struct api_state {
  static inline const char* name = "api";
  settings cfg;
  api_deps deps;
  std::vector<shard_actor> shards;
  std::vector<std::uint32_t> owner;   // partition -> shard index
  std::vector<std::uint32_t> replica; // partition -> its replica's shard index (empty: none)
  // Derived by reroute() from the map and the shards lost since (handles
  // replaced by `unavailable`): the shard serving each partition now, its
  // owner or, while the owner is lost, its replica (where writes go first);
  // and the recall groups that name every partition once (a group on
  // `unavailable` for partitions nobody serves, so that the answer says
  // degraded), each as sent to every live shard that holds all of its
  // partitions, its serving shard first. A read of a group may go to any of
  // them and gets the same answer: a shard recalls exactly the partitions a
  // request names (recall_request::serve), and every holder applied each
  // acknowledged behavior (apply_targets).
  std::vector<std::uint32_t> route;
  std::vector<std::vector<std::shared_ptr<const recall_group>>> read_groups;

  // Stands in for a shard while none serves a partition: answers every
  // request with shard_unavailable (an untyped actor with a default handler,
  // so it answers every message of shard_actor's interface alike).
  shard_actor unavailable;
  std::uint64_t epoch = 0;           // of the map in use
  // A move announced by the coordinator and not yet flipped: the map that
  // will hold at `next_epoch`. Committed events go to both owners meanwhile.
  std::vector<shard_actor> next_shards;
  std::vector<std::uint32_t> next_owner;
  std::vector<std::uint32_t> next_replica;
  std::uint64_t next_epoch = 0;
  deadlines timers; // of every request this actor makes (see ask)
  // The requests in flight to each shard (see ask): failed with
  // sec::request_receiver_down as soon as the shard goes down, so that a
  // read goes to the partition's other holder and a behavior's apply is
  // settled at once, not when its deadline passes. Settled entries are
  // dropped as the list grows.
  struct in_flight_request {
    deadlines::settle token;
    std::function<void()> fail;
  };
  struct in_flight_list {
    std::vector<in_flight_request> requests;
    std::size_t pruned = 0; // the list's size after its last pruning
  };
  std::unordered_map<caf::actor_addr, in_flight_list> in_flight;
  void track(const caf::actor_addr& shard, deadlines::settle token, std::function<void()> fail) {
    auto& list = in_flight[shard];
    if (list.requests.size() >= 2 * list.pruned + 32) {
      std::erase_if(list.requests, [](const in_flight_request& r) { return r.token.settled(); });
      list.pruned = list.requests.size();
    }
    list.requests.push_back({std::move(token), std::move(fail)});
  }
  // Fails what is in flight to `shard` (it went down).
  void fail_in_flight(const caf::actor_addr& shard) {
    auto it = in_flight.find(shard);
    if (it == in_flight.end())
      return;
    auto requests = std::move(it->second.requests);
    in_flight.erase(it);
    for (auto& r : requests)
      if (r.token.first())
        r.fail();
  }
  merge_scratch merging;
  near_cache near; // in front of Redis (deps.cache)

  explicit api_state(caf::local_actor*) : near(0, std::chrono::seconds{0}) {}

  bool has_map() const { return !shards.empty() && route.size() == owner.size() && !owner.empty(); }
  std::uint32_t partition(std::int32_t id) const {
    return partition_of(id, static_cast<std::uint32_t>(owner.size()));
  }
  // The shard serving partition p, or `unavailable` while none does.
  const shard_actor& serving(std::uint32_t p) const {
    auto index = route[p];
    return index < shards.size() ? shards[index] : unavailable;
  }
  const shard_actor& shard_of(std::int32_t id) const { return serving(partition(id)); }
  // Reads spread over the live holders by the id the request is about (its
  // user, or its item): the same id goes to the same holders while the map
  // holds, so a user's answers do not alternate between them.
  static std::size_t spread(std::int32_t key, std::size_t salt, std::size_t choices) {
    auto h = static_cast<std::uint64_t>(static_cast<std::uint32_t>(key)) + 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull; // splitmix64's finalizer
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    return static_cast<std::size_t>((h + salt) % choices);
  }
  // The live holder of partition p that a read about `key` goes to: its
  // owner or its replica; the serving shard (or `unavailable`) if it has no
  // other.
  const shard_actor& reader(std::uint32_t p, std::int32_t key) const {
    const auto& first = serving(p);
    const auto& other = alternate(p, first);
    if (first == unavailable || other == unavailable)
      return first;
    return spread(key, 0, 2) == 0 ? first : other;
  }
  // The recall groups a read about `key` is sent to: each group once, on one
  // of its holders.
  std::vector<std::shared_ptr<const recall_group>> groups_for(std::int32_t key) const {
    std::vector<std::shared_ptr<const recall_group>> out;
    out.reserve(read_groups.size());
    for (std::size_t g = 0; g < read_groups.size(); ++g)
      out.push_back(read_groups[g][spread(key, g, read_groups[g].size())]);
    return out;
  }
  // The other live holder of partition p than `tried` (its owner or its
  // replica), or `unavailable`: where a request that failed on `tried` goes.
  const shard_actor& alternate(std::uint32_t p, const shard_actor& tried) const {
    for (const auto* roles : {&owner, &replica})
      if (p < roles->size()) {
        auto index = (*roles)[p];
        if (index < shards.size() && shards[index] != unavailable && shards[index] != tried)
          return shards[index];
      }
    return unavailable;
  }
  // The shards a committed event of `id`'s partition is applied on: its
  // serving shard first, its other holder, and during a move the next
  // holders as well; lost shards left out (they reload from the database).
  std::vector<shard_actor> apply_targets(std::int32_t id) const {
    std::vector<shard_actor> out{shard_of(id)};
    const auto p = partition(id);
    auto add = [&](const std::vector<shard_actor>& from, const std::vector<std::uint32_t>& roles) {
      if (roles.size() != owner.size())
        return;
      auto index = roles[p];
      if (index < from.size() && from[index] != unavailable &&
          std::find(out.begin(), out.end(), from[index]) == out.end())
        out.push_back(from[index]);
    };
    add(shards, owner);
    add(shards, replica);
    add(next_shards, next_owner);
    add(next_shards, next_replica);
    return out;
  }
  std::chrono::milliseconds shard_timeout() const {
    return std::chrono::milliseconds{cfg.cluster.shard_timeout_ms};
  }
};

using api_self = api_actor::stateful_base<api_state>;

// Derives route and read_groups from the map and the lost shards
// (api_fanout.cpp); after every map and every lost shard.
void reroute(api_state& st);

// Whether a shard's error means it did not serve the request (lost, late or
// unavailable), so another holder of the partition may: not a refusal or an
// answer such as not_found.
bool shard_missed(const caf::error& err);

// How late a deadline may fire: the tick of api_state::timers.
constexpr auto deadline_granularity = std::chrono::milliseconds{10};

// Wraps an answer handler so that it runs only if its deadline did not fire
// first. Keeps the handler's exact signature (CAF dispatches on it).
template <class F, class R, class... Args>
auto guarded(deadlines::settle token, F f, R (F::*)(Args...)) {
  return [token, f](Args... xs) mutable {
    if (token.first())
      f(std::forward<Args>(xs)...);
  };
}
template <class F, class R, class... Args>
auto guarded(deadlines::settle token, F f, R (F::*)(Args...) const) {
  return [token, f](Args... xs) {
    if (token.first())
      f(std::forward<Args>(xs)...);
  };
}

// A request with a deadline kept by the actor (actors/deadlines.hpp), not by
// a CAF timer: `ask(self, dest, timeout, xs...).then(on_answer, on_error)`,
// where on_error receives sec::request_timeout when the deadline passes.
template <class Handle, class... Ts>
struct ask_handle {
  api_self* self;
  Handle dest;
  deadlines::clock::duration timeout;
  std::tuple<Ts...> args;

  template <class OnAnswer, class OnError>
  void then(OnAnswer on_answer, OnError on_error) {
    deadlines::settle token;
    auto expired = [on_error]() mutable {
      caf::error err = caf::make_error(caf::sec::request_timeout);
      on_error(err);
    };
    if (self->state.timers.arm(timeout, token, expired))
      self->delayed_send(self, std::max<deadlines::clock::duration>(timeout, deadline_granularity),
                         deadline_atom_v);
    if constexpr (std::is_same_v<Handle, shard_actor>)
      if (dest != self->state.unavailable)
        self->state.track(dest.address(), token, [on_error]() mutable {
          caf::error err = caf::make_error(caf::sec::request_receiver_down);
          on_error(err);
        });
    std::apply(
      [&](auto&... xs) {
        self->request(dest, caf::infinite, std::move(xs)...)
          .then(guarded(token, std::move(on_answer), &OnAnswer::operator()),
                [token, on_error](caf::error& err) mutable {
                  if (token.first())
                    on_error(err);
                });
      },
      args);
  }
};

// `dest`'s interface must accept (xs...): the compiler checks it, and that
// the answer handler takes what it replies.
template <class Handle, class... Ts>
auto ask(api_self* self, const Handle& dest, deadlines::clock::duration timeout, Ts&&... xs) {
  return ask_handle<Handle, std::decay_t<Ts>...>{self, dest, timeout,
                                                 std::make_tuple(std::forward<Ts>(xs)...)};
}

// ask() to the holder of `id`'s partition that reads about `id` go to
// (api_state::reader); if that shard misses the request (shard_missed) and
// the partition has another live holder, the same request goes there once,
// with the same timeout again. Then on_answer or on_error, once.
template <class... Ts>
struct ask_holder_handle {
  api_self* self;
  std::int32_t id;
  deadlines::clock::duration timeout;
  std::tuple<Ts...> args;

  template <class OnAnswer, class OnError>
  void then(OnAnswer on_answer, OnError on_error) {
    auto* s = self;
    const auto p = s->state.partition(id);
    const auto t = timeout;
    const shard_actor first = s->state.reader(p, id);
    std::apply(
      [&](auto&... xs) {
        ask(s, first, t, xs...)
          .then(on_answer, [=, a = args](caf::error& err) mutable {
            const auto& next = s->state.alternate(p, first);
            if (next == s->state.unavailable || !shard_missed(err)) {
              on_error(err);
              return;
            }
            std::apply([&](auto&... ys) { ask(s, next, t, ys...).then(on_answer, on_error); }, a);
          });
      },
      args);
  }
};

template <class... Ts>
auto ask_holder(api_self* self, std::int32_t id, deadlines::clock::duration timeout, Ts&&... xs) {
  return ask_holder_handle<std::decay_t<Ts>...>{self, id, timeout,
                                                std::make_tuple(std::forward<Ts>(xs)...)};
}

inline double ms_since(clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
}


// Where an answer goes: the promise of an actor's request, or the local
// reply of the HTTP gateway (protocol/local_reply.hpp). Copies share it.
template <class T>
class responder {
public:
  explicit responder(caf::typed_response_promise<T> rp) : rp_(std::move(rp)) {}
  explicit responder(local_reply<T> local) : local_(std::move(local)) {}
  void deliver(T x) {
    if (local_.fn)
      local_(std::move(x));
    else
      rp_.deliver(std::move(x));
  }
  void deliver(caf::error err) {
    if (local_.fn)
      local_(std::move(err));
    else
      rp_.deliver(std::move(err));
  }

private:
  caf::typed_response_promise<T> rp_;
  local_reply<T> local_;
};

using reply_promise = responder<std::string>;

// True once a partition map is known; until then `rp` is answered not_ready.
template <class T>
bool routable(const api_state& st, responder<T>& rp) {
  if (st.has_map())
    return true;
  rp.deliver(make_error(ec::not_ready, "the partition map is not known yet"));
  return false;
}

// POST /api/behavior (api_behavior.cpp): the item is checked on its shard,
// then the event is committed by the behavior writer and applied.
void record(api_self* self, responder<std::int64_t> rp, behavior_event e, std::string event_id);

// The catalog (api_catalog.cpp): items written in one transaction, then
// pushed to every shard; a user erased in PostgreSQL, on every shard and in
// every cache of the cluster.
void write_items(api_self* self, caf::typed_response_promise<std::vector<item_details>> rp,
                 std::vector<item_write> writes);
void erase_user(api_self* self, caf::typed_response_promise<std::string> rp, user_id user);

// GET /api/recommend (api_recommend.cpp): cache, context, recall, merge,
// details, the request's filters and the node's rules, paging.
void recommend(api_self* self, reply_promise rp, user_id user, std::int32_t limit, bool use_cache,
               recommend_filter filter);

// The node's business rules in force (never null; empty without rules.file).
// Every path that answers items applies them (docs/rules.md): through
// finish_recommend, or with rules::apply over the items' facts_of(details)
// and append_reasons(out, item, rules, fired) when rendering.
rules_book::rules_ptr current_rules(const api_state& st);

// recommend's last steps for a ranked list (api_recommend.cpp): details from
// the owning shards, the node's rules, the JSON answer, the cache store when
// `use_cache` (under the rules' tag). For any path that ranks like a user
// recommendation (e.g. an anonymous session).
void finish_recommend(api_self* self, reply_promise rp, user_id user, std::uint64_t version,
                      std::int32_t limit, bool use_cache, std::vector<merged_item> ranked,
                      bool degraded, clock::time_point t0,
                      std::vector<std::string> categories = {});

// Recall for `ctx` on every partition, one request per recall group, each to
// the holder reads about `key` go to (the user, or a visitor's newest item;
// api_fanout.cpp): the recent items, similar users, taste vector and
// categories as seeds, its bought items (at most limits::max_exclude)
// blocked, `per_route` candidates per route, only `category` when not empty.
// A group its shard misses is asked again of its partitions' other holders.
// Then `done(candidates, degraded)`: degraded when `degraded` was already or
// some partition was answered by nobody in time (or there is none).
void recall_everywhere(api_self* self, std::int32_t key, const user_context& ctx,
                       std::int32_t per_route,
                       std::string category, bool degraded,
                       std::function<void(std::vector<candidate>&, bool)> done);

// The details of `items` from their holders that reads about `key` (the
// request's user or item) go to (api_fanout.cpp), one request per shard, missed ones asked again of the other holders; then
// `done(details, incomplete)`: an item hidden, unavailable or unknown on its
// shard is absent, and incomplete is true when `degraded` was or some item's
// partition was answered by nobody in time.
using details_ptr = std::shared_ptr<const std::unordered_map<item_id, item_details>>;
void fetch_details(api_self* self, std::int32_t key, const std::vector<item_id>& items,
                   bool degraded, std::function<void(details_ptr, bool)> done);

// The `k` items nearest to `vec` over every partition (each recall group on
// the holder reads about `key` go to: its partitions' items), `exclude` (sorted) left out (api_fanout.cpp);
// then `done(found, incomplete)`, found unsorted.
void nearest_everywhere(api_self* self, std::int32_t key, std::vector<float> vec, std::int32_t k,
                        std::vector<item_id> exclude,
                        std::function<void(std::vector<scored_item>&, bool)> done);

// The embeddings of those of `items` that have one, from their holders that
// reads about `key` go to (api_fanout.cpp), missed ones asked again of the other holders; then
// `done(found, incomplete)`.
void vectors_everywhere(api_self* self, std::int32_t key, const std::vector<item_id>& items,
                        std::function<void(std::vector<item_vector>&, bool)> done);

// What a user whose shard did not answer may never be recommended, from the
// record (api_recommend.cpp): their bought items, and with `with_seen` also
// the newest recommend.history_items items they touched, sorted, read by the
// node's history reader within postgres.history_timeout_ms. Else
// ec::history_unavailable: the caller must not answer a list (it might hold
// a bought item). Counted in api_metrics either way.
void history_from_record(api_self* self, user_id user, bool with_seen,
                         std::function<void(caf::expected<std::vector<item_id>>)> done);

// Item pages and sessions (api_widgets.cpp): GET /api/items/{id}/similar,
// /also-bought and POST /api/recommend.
void similar(api_self* self, reply_promise rp, item_query q);
void also_bought(api_self* self, reply_promise rp, item_query q);
void session(api_self* self, reply_promise rp, session_query q);
// After a committed buy `e` (row `row`) was applied on the buyer's shard: the
// buyer's shard names the items it pairs with, their owners count the pairs;
// then `done` (also on errors: the row is committed either way).
void learn_co_buys(api_self* self, const behavior_event& e, std::int64_t row,
                   std::function<void()> done);
// New items in the embedding space (api_fold.cpp): committed behaviors on
// items without a published embedding fold their users' tastes into the
// items' vectors on the items' shards; `done` runs once every shard answered
// or failed (the rows are committed either way).
struct fold_event {
  behavior_event event;
  std::int64_t id = 0; // row id
};
void fold_new_items(api_self* self, std::vector<fold_event> events, std::function<void()> done);
// POST /api/behaviors (api_batch.cpp): the same steps for many events, all or
// nothing, one message per shard and step; answers the JSON body.
void record_batch(api_self* self, responder<std::string> rp, std::vector<behavior_event> events,
                  std::vector<std::string> event_ids);

} // namespace recd::api_detail
