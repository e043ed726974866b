// The api actor's part in bringing new items into the embedding space: a
// committed behavior on an item without a published embedding (created
// through the catalog API, or left out of the last embeddings run) folds its
// user's taste vector into the item's vector on the item's shards, the
// reverse of the user side (shard_state::apply_user folds an item's embedding
// into the user's taste). The item joins vector search (recommend's vector
// route, similar items) with its first behaviors, before the next job; a
// published embeddings run replaces the folded vectors (shard_state::install).
//
// Two steps, each one message per shard: the users' shards give the users'
// tastes (asked right after the behaviors were sent there to be applied: one
// sender's messages to one actor arrive in order, so the tastes are those
// after the behaviors), then the items' shards (owner, and next owner during
// a move) fold them in row-id order. The answer to the client waits for both.
// The behaviors are committed before either step: a step that fails only
// leaves the item's vector behind until its shard reloads (shard_loader's
// fold_unpublished rebuilds it from the published user vectors).
#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"

namespace recd::api_detail {

namespace {

struct fold_job {
  std::vector<fold_event> events;
  std::unordered_map<user_id, std::vector<float>> tastes;
  std::size_t waiting = 0;
  std::function<void()> done;
};
using fold_job_ptr = std::shared_ptr<fold_job>;

// Step 2: the folds of the users that have a taste, one message per item shard.
void send_folds(api_self* self, fold_job_ptr job) {
  auto& st = self->state;
  std::sort(job->events.begin(), job->events.end(),
            [](const fold_event& a, const fold_event& b) { return a.id < b.id; });
  std::vector<std::pair<shard_actor, item_folds>> groups;
  for (const auto& f : job->events) {
    auto taste = job->tastes.find(f.event.user);
    if (taste == job->tastes.end())
      continue; // a user without a taste vector teaches the item nothing
    for (auto& shard : st.apply_targets(f.event.item)) {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto& g) { return g.first == shard; });
      if (it == groups.end()) {
        groups.emplace_back(shard, item_folds{});
        it = std::prev(groups.end());
      }
      it->second.items.push_back(f.event.item);
      it->second.kinds.push_back(f.event.kind);
      it->second.ids.push_back(f.id);
      it->second.tastes.push_back(taste->second);
    }
  }
  if (groups.empty()) {
    job->done();
    return;
  }
  job->waiting = groups.size();
  for (auto& [shard, folds] : groups)
    ask(self, shard, apply_timeout, fold_items_atom_v, std::move(folds))
      .then(
        [=](std::uint64_t) mutable {
          if (--job->waiting == 0)
            job->done();
        },
        [=](caf::error& err) mutable {
          spdlog::warn("new items' vectors not folded on one shard: {}", describe(err));
          if (--job->waiting == 0)
            job->done();
        });
}

} // namespace

void fold_new_items(api_self* self, std::vector<fold_event> events, std::function<void()> done) {
  if (events.empty()) {
    done();
    return;
  }
  auto& st = self->state;
  auto job = std::make_shared<fold_job>();
  job->events = std::move(events);
  job->done = std::move(done);
  // Step 1: the distinct users' tastes, from the shards serving them.
  std::vector<std::pair<shard_actor, std::vector<user_id>>> groups;
  std::unordered_set<user_id> asked;
  for (const auto& f : job->events) {
    if (!asked.insert(f.event.user).second)
      continue;
    const auto& shard = st.shard_of(f.event.user);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == shard; });
    if (it == groups.end()) {
      groups.emplace_back(shard, std::vector<user_id>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(f.event.user);
  }
  job->waiting = groups.size();
  for (auto& [shard, users] : groups)
    ask(self, shard, apply_timeout, tastes_atom_v, std::move(users))
      .then(
        [=](taste_vectors& found) mutable {
          if (found.users.size() == found.vectors.size())
            for (std::size_t k = 0; k < found.users.size(); ++k)
              job->tastes[found.users[k]] = std::move(found.vectors[k]);
          if (--job->waiting == 0)
            send_folds(self, job);
        },
        [=](caf::error& err) mutable {
          spdlog::warn("users' tastes for new items not read from one shard: {}", describe(err));
          if (--job->waiting == 0)
            send_folds(self, job);
        });
}

} // namespace recd::api_detail
