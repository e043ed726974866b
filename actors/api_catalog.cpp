// The api actor's catalog path (PUT/PATCH/DELETE /api/items, /api/users):
// commit in PostgreSQL through the catalog writer, then push the change to
// every shard, then answer. See api.hpp and docs/architecture.md ("The catalog").
#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"

namespace recd::api_detail {

namespace {

// Every live shard of the map in use and of a move in progress, once each:
// catalog changes go to all of them (each keeps every item's serving window,
// and the user's shard reports the catalog epoch to the cache guard).
std::vector<shard_actor> all_shards(const api_state& st) {
  std::vector<shard_actor> out;
  std::set<caf::actor_addr> seen;
  for (const auto* list : {&st.shards, &st.next_shards})
    for (const auto& shard : *list)
      if (shard && shard != st.unavailable && seen.insert(shard.address()).second)
        out.push_back(shard);
  return out;
}

// Sends `xs...` to every shard and calls `done(acked)` when each answered or
// failed. A shard that misses a push catches up by its catalog poll.
template <class Done, class... Ts>
void push_to_shards(api_self* self, const char* what, Done done, Ts... xs) {
  auto targets = all_shards(self->state);
  auto remaining = std::make_shared<std::size_t>(targets.size());
  auto acked = std::make_shared<std::size_t>(0);
  if (targets.empty()) {
    done(std::size_t{0});
    return;
  }
  for (auto& shard : targets)
    ask(self, shard, apply_timeout, xs...)
      .then(
        [=](bool) mutable {
          ++*acked;
          if (--*remaining == 0)
            done(*acked);
        },
        [=](caf::error& err) mutable {
          spdlog::warn("{} committed but not pushed to one shard (its poll catches up): {}", what,
                       describe(err));
          if (--*remaining == 0)
            done(*acked);
        });
}

} // namespace

void write_items(api_self* self, caf::typed_response_promise<std::vector<item_details>> rp,
                 std::vector<item_write> writes) {
  auto& st = self->state;
  ask(self, st.deps.catalog, std::chrono::seconds{30}, items_write_atom_v, std::move(writes))
    .then(
      [=](std::vector<item_details>& stored) mutable {
        if (stored.empty()) {
          rp.deliver(std::move(stored));
          return;
        }
        auto epoch = stored.front().epoch;
        auto shared = std::make_shared<std::vector<item_details>>(std::move(stored));
        push_to_shards(
          self, "a catalog change",
          [=](std::size_t) mutable { rp.deliver(std::move(*shared)); }, catalog_atom_v, *shared,
          epoch);
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

void erase_user(api_self* self, caf::typed_response_promise<std::string> rp, user_id user) {
  auto& st = self->state;
  ask(self, st.deps.catalog, std::chrono::seconds{60}, erase_rows_atom_v, user)
    .then(
      [=](std::uint64_t epoch, std::string& rows) mutable {
        auto& st = self->state;
        st.near.erase(user);
        caf::anon_send(st.deps.cache, cache_del_atom_v, user);
        auto out = std::make_shared<json>(json{{"user_id", user}, {"erased", true},
                                               {"catalog_epoch", epoch},
                                               {"deleted", json::parse(rows, nullptr, false)}});
        push_to_shards(
          self, "an erasure",
          [=](std::size_t acked) mutable {
            (*out)["shards"] = acked;
            // Other users' cached answers may name the user (user CF
            // reasons): every API actor of the cluster forgets every answer.
            auto& st = self->state;
            if (!st.deps.coordinator) {
              rp.deliver(out->dump());
              return;
            }
            self->request(st.deps.coordinator, std::chrono::seconds{40}, erased_atom_v, user)
              .then(
                [=](const std::string& flushed) mutable {
                  (*out)["caches"] = json::parse(flushed, nullptr, false);
                  rp.deliver(out->dump());
                },
                [=](caf::error& err) mutable {
                  // The rows are gone and every shard was told; cached
                  // answers made before are refused by the epoch guard.
                  spdlog::warn("erasure of user {}: caches not flushed: {}", user, describe(err));
                  (*out)["caches"] = describe(err);
                  rp.deliver(out->dump());
                });
          },
          erase_atom_v, user, epoch);
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

} // namespace recd::api_detail
