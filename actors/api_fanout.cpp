// The api actor's requests to the holders of many partitions at once: where
// each partition is served (reroute), recall for a user, the items nearest
// to a vector, item details. With replicated partitions (cluster.replicas =
// 2) reads spread over both holders by the user or item they are about, a
// partition whose owner is lost is served by its replica, and a request its
// shard misses is asked again of the partitions' other holders, once.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <unordered_map>

#include "actors/api_state.hpp"
#include "protocol/limits.hpp"

namespace recd::api_detail {

void reroute(api_state& st) {
  // A user may be served by another shard now: the answers vouched for by
  // the old routes' boards are not served any more.
  if (st.deps.answers)
    st.deps.answers->routing_changed();
  const auto P = st.owner.size();
  auto live = [&](std::uint32_t index) {
    return index < st.shards.size() && st.shards[index] != st.unavailable;
  };
  st.route.assign(P, no_shard);
  for (std::size_t p = 0; p < P; ++p) {
    const auto o = st.owner[p];
    const auto r = p < st.replica.size() ? st.replica[p] : no_shard;
    st.route[p] = live(o) || !live(r) ? o : r;
  }
  // One recall group per serving shard; the partitions of lost shards (with
  // no other holder) in a group on `unavailable`, which answers every request
  // with shard_unavailable: the answer says degraded. Unassigned partitions
  // (no owner in the map) are recalled nowhere.
  std::map<std::uint32_t, recall_group> by_shard; // no_shard last: the lost ones
  for (std::size_t p = 0; p < P; ++p) {
    const auto index = st.route[p];
    if (index >= st.shards.size())
      continue;
    const auto key = live(index) ? index : no_shard;
    auto& group = by_shard[key];
    group.shard = key == no_shard ? st.unavailable : st.shards[key];
    group.add(static_cast<std::uint32_t>(p), P);
  }
  // Each group as sent to each live shard that holds all of its partitions
  // (owner or replica), its serving shard first.
  auto holds = [&](std::uint32_t index, std::uint32_t p) {
    return st.owner[p] == index || (p < st.replica.size() && st.replica[p] == index);
  };
  st.read_groups.clear();
  for (auto& [index, group] : by_shard) {
    std::vector<std::shared_ptr<const recall_group>> holders;
    for (std::uint32_t other = 0; index != no_shard && other < st.shards.size(); ++other) {
      if (other == index || !live(other) ||
          !std::all_of(group.partitions.begin(), group.partitions.end(),
                       [&](std::uint32_t p) { return holds(other, p); }))
        continue;
      auto copy = group;
      copy.shard = st.shards[other];
      holders.push_back(std::make_shared<const recall_group>(std::move(copy)));
    }
    holders.insert(holders.begin(), std::make_shared<const recall_group>(std::move(group)));
    st.read_groups.push_back(std::move(holders));
  }
}

bool shard_missed(const caf::error& err) {
  if (err.category() == caf::atom("system"))
    return true; // caf::sec: timeout, receiver down, unreachable node
  return err.category() == error_category &&
         err.code() == static_cast<std::uint8_t>(ec::shard_unavailable);
}

namespace {

unix_seconds now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

using group_list = std::vector<std::shared_ptr<const recall_group>>;

group_list shared_groups(std::map<shard_actor, recall_group>& by_shard) {
  group_list out;
  for (auto& [shard, group] : by_shard)
    out.push_back(std::make_shared<const recall_group>(std::move(group)));
  return out;
}

// The partitions of a group whose shard missed, regrouped on their other
// live holders; `orphaned` tells whether any has none.
group_list regroup(const api_state& st, const recall_group& missed, bool& orphaned) {
  std::map<shard_actor, recall_group> by_shard;
  for (auto p : missed.partitions) {
    const auto& next = st.alternate(p, missed.shard);
    if (next == st.unavailable) {
      orphaned = true;
      continue;
    }
    auto& group = by_shard[next];
    group.shard = next;
    group.add(p, st.owner.size());
  }
  return shared_groups(by_shard);
}

// Counts the requests of one fan-out, including those added by a retry, and
// calls `done` once when the last one settled.
struct fan_out {
  std::size_t remaining = 0;
  bool failed = false;
  std::function<void()> done;
  void settle() {
    if (--remaining == 0)
      done();
  }
};

// `ask_one(group, retry)` asks one group; on a miss (shard_missed) it is
// asked again on the partitions' other holders, once.
template <class Answer, class Make, class Take>
void ask_groups(api_self* self, const group_list& groups, std::shared_ptr<fan_out> fan,
                Make make, Take take, bool may_retry) {
  fan->remaining += groups.size();
  for (const auto& g : groups) {
    make(*g).then(
      [=](Answer& found) mutable {
        take(found); // `take` may move from it: the answer is this handler's alone
        fan->settle();
      },
      [=](caf::error& err) mutable {
        if (may_retry && shard_missed(err)) {
          bool orphaned = false;
          auto again = regroup(self->state, *g, orphaned);
          fan->failed = fan->failed || orphaned;
          if (!again.empty())
            ask_groups<Answer>(self, again, fan, make, take, false);
        } else {
          fan->failed = true;
        }
        fan->settle();
      });
  }
}

} // namespace

void recall_everywhere(api_self* self, std::int32_t key, const user_context& ctx,
                       std::int32_t per_route,
                       std::string category, bool degraded,
                       std::function<void(std::vector<candidate>&, bool)> done) {
  auto& st = self->state;
  auto req = std::make_shared<recall_request>();
  req->user = ctx.user;
  req->recent = ctx.recent;
  req->similar = ctx.similar;
  req->vector = ctx.vector;
  req->categories = ctx.categories;
  // A heavy buyer's whole set would make every recall request large:
  // shards block at most limits::max_exclude items (the smallest ids);
  // the merge still drops every bought item (ranking uses ctx.bought).
  req->exclude.assign(ctx.bought.begin(),
                      ctx.bought.begin() +
                        static_cast<long>(std::min(ctx.bought.size(), limits::max_exclude)));
  req->per_route = per_route;
  req->now = now_seconds();
  req->only_category = std::move(category);
  if (st.read_groups.empty()) {
    std::vector<candidate> none;
    done(none, true);
    return;
  }
  auto all = std::make_shared<std::vector<candidate>>();
  auto fan = std::make_shared<fan_out>();
  fan->failed = degraded;
  fan->done = [all, fan = fan.get(), done]() mutable { done(*all, fan->failed); };
  auto make = [self, req](const recall_group& g) {
    auto one = *req;
    one.serve = g.serve;
    return ask(self, g.shard, self->state.shard_timeout(), recall_atom_v, std::move(one));
  };
  auto take = [all](const std::vector<candidate>& found) {
    all->insert(all->end(), found.begin(), found.end());
  };
  ask_groups<std::vector<candidate>>(self, st.groups_for(key), fan, make, take, true);
}

void nearest_everywhere(api_self* self, std::int32_t key, std::vector<float> vec, std::int32_t k,
                        std::vector<item_id> exclude,
                        std::function<void(std::vector<scored_item>&, bool)> done) {
  auto& st = self->state;
  auto found = std::make_shared<std::vector<scored_item>>();
  if (st.read_groups.empty()) {
    done(*found, false);
    return;
  }
  auto fan = std::make_shared<fan_out>();
  fan->done = [found, fan = fan.get(), done]() mutable { done(*found, fan->failed); };
  auto args = std::make_shared<const std::pair<std::vector<float>, std::vector<item_id>>>(
    std::move(vec), std::move(exclude));
  auto make = [self, args, k](const recall_group& g) {
    return ask(self, g.shard, self->state.shard_timeout(), nearest_atom_v, args->first, k,
               args->second, g.serve);
  };
  auto take = [found](const std::vector<scored_item>& some) {
    found->insert(found->end(), some.begin(), some.end());
  };
  ask_groups<std::vector<scored_item>>(self, st.groups_for(key), fan, make, take, true);
}

namespace {

// `items` grouped by the holder of their partition that reads about `key`
// go to, as recall groups (the partitions of the group's items), so that a
// miss regroups them alike.
group_list groups_of(const api_state& st, std::int32_t key, const std::vector<item_id>& items) {
  std::map<shard_actor, recall_group> by_shard;
  for (auto item : items) {
    const auto p = st.partition(item);
    const auto& holder = st.reader(p, key);
    auto& group = by_shard[holder];
    group.shard = holder;
    group.add(p, st.owner.size());
  }
  return shared_groups(by_shard);
}

// The items of `wanted` whose partition `g` names.
std::vector<item_id> items_of(const api_state& st, const recall_group& g,
                              const std::vector<item_id>& wanted) {
  std::vector<item_id> ids;
  for (auto item : wanted)
    if (serves_partition(g.serve, st.partition(item)))
      ids.push_back(item);
  return ids;
}

} // namespace

void vectors_everywhere(api_self* self, std::int32_t key, const std::vector<item_id>& items,
                        std::function<void(std::vector<item_vector>&, bool)> done) {
  auto found = std::make_shared<std::vector<item_vector>>();
  auto groups = groups_of(self->state, key, items);
  if (groups.empty()) {
    done(*found, false);
    return;
  }
  auto fan = std::make_shared<fan_out>();
  fan->done = [found, fan = fan.get(), done]() mutable { done(*found, fan->failed); };
  auto wanted = std::make_shared<const std::vector<item_id>>(items);
  auto make = [self, wanted](const recall_group& g) {
    return ask(self, g.shard, self->state.shard_timeout(), vectors_atom_v,
               items_of(self->state, g, *wanted));
  };
  auto take = [found](const std::vector<item_vector>& some) {
    found->insert(found->end(), some.begin(), some.end());
  };
  ask_groups<std::vector<item_vector>>(self, groups, fan, make, take, true);
}

void fetch_details(api_self* self, std::int32_t key, const std::vector<item_id>& items,
                   bool degraded, std::function<void(details_ptr, bool)> done) {
  auto groups = groups_of(self->state, key, items);
  auto details = std::make_shared<std::unordered_map<item_id, item_details>>();
  if (groups.empty()) {
    done(details, degraded);
    return;
  }
  auto fan = std::make_shared<fan_out>();
  fan->failed = degraded;
  fan->done = [details, fan = fan.get(), done]() mutable { done(details, fan->failed); };
  // The items asked of a group: those of its partitions.
  auto wanted = std::make_shared<const std::vector<item_id>>(items);
  auto make = [self, wanted](const recall_group& g) {
    return ask(self, g.shard, self->state.shard_timeout(), details_atom_v,
               items_of(self->state, g, *wanted));
  };
  auto take = [details](std::vector<item_details>& found) {
    for (auto& d : found) {
      const auto item = d.item;
      details->insert_or_assign(item, std::move(d)); // its strings moved, not copied
    }
  };
  ask_groups<std::vector<item_details>>(self, groups, fan, make, take, true);
}

} // namespace recd::api_detail
