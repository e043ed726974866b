// The api actor's batch path (POST /api/behaviors): the single-event path of
// api_behavior.cpp for many events at once, with one message per shard and
// step instead of one per event. See api.hpp.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"
#include "protocol/limits.hpp"

namespace recd::api_detail {

namespace {

// One request's progress through the steps; shared by the callbacks.
struct batch_job {
  std::vector<behavior_event> events;
  std::vector<std::string> event_ids;
  std::unordered_map<item_id, std::vector<float>> vectors; // items a shard vouched for
  std::size_t waiting = 0;                                  // answers still expected
  batch_receipt receipt;
  clock::time_point t0;
};
using job_ptr = std::shared_ptr<batch_job>;

// Groups `ids` by the shard in `targets(id)`: one list per distinct shard.
template <class Targets>
std::vector<std::pair<shard_actor, std::vector<std::size_t>>>
group_by_shard(const std::vector<std::int32_t>& ids, Targets targets) {
  std::vector<std::pair<shard_actor, std::vector<std::size_t>>> out;
  for (std::size_t k = 0; k < ids.size(); ++k)
    for (auto& shard : targets(ids[k])) {
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == shard; });
      if (it == out.end()) {
        out.emplace_back(shard, std::vector<std::size_t>{});
        it = std::prev(out.end());
      }
      it->second.push_back(k);
    }
  return out;
}

std::string answer_body(const batch_job& job) {
  std::size_t duplicates = 0;
  for (auto f : job.receipt.fresh)
    duplicates += f ? 0 : 1;
  std::string body = R"({"success":true,"count":)" + std::to_string(job.events.size()) +
                     R"(,"stored":)" + std::to_string(job.events.size() - duplicates) +
                     R"(,"duplicates":)" + std::to_string(duplicates) + R"(,"behavior_ids":[)";
  for (std::size_t k = 0; k < job.receipt.ids.size(); ++k) {
    if (k)
      body += ',';
    body += std::to_string(job.receipt.ids[k]);
  }
  body += "]}";
  return body;
}

// Step 3: the committed, fresh events go to their users' and items' shards
// (the owner, and during a move the next owner too) in one message per shard
// and side; the users' cache entries are deleted; then the client is answered.
void apply_batch(api_self* self, responder<std::string> rp, job_ptr job) {
  auto& st = self->state;
  std::vector<std::int32_t> users, items;
  std::vector<std::size_t> fresh; // indices into job->events
  std::unordered_set<user_id> touched;
  for (std::size_t k = 0; k < job->events.size(); ++k)
    if (job->receipt.fresh[k]) {
      fresh.push_back(k);
      users.push_back(job->events[k].user);
      items.push_back(job->events[k].item);
      touched.insert(job->events[k].user);
    }
  if (!touched.empty()) {
    std::vector<user_id> forget(touched.begin(), touched.end());
    for (auto u : forget)
      st.near.erase(u);
    caf::anon_send(st.deps.cache, cache_dels_atom_v, std::move(forget));
  }
  auto targets = [&](std::int32_t id) { return st.apply_targets(id); };
  auto user_groups = group_by_shard(users, targets);
  auto item_groups = group_by_shard(items, targets);
  // The events on items without a published embedding fold their users'
  // tastes into those items (api_fold.cpp): one more step to wait for.
  std::vector<fold_event> folds;
  // Only items a shard vouched for: one whose shard did not answer the item
  // check would not answer the fold either (its next load folds the event).
  for (auto k : fresh) {
    auto v = job->vectors.find(job->events[k].item);
    if (v != job->vectors.end() && v->second.empty())
      folds.push_back({job->events[k], job->receipt.ids[k]});
  }
  job->waiting = user_groups.size() + item_groups.size() + (folds.empty() ? 0 : 1);
  if (job->waiting == 0) {
    st.deps.metrics->behavior_latency.record(ms_since(job->t0) * 1000);
    rp.deliver(answer_body(*job));
    return;
  }
  auto done = [=]() mutable {
    if (--job->waiting == 0) {
      self->state.deps.metrics->behavior_latency.record(ms_since(job->t0) * 1000);
      rp.deliver(answer_body(*job));
    }
  };
  auto log_err = [=](caf::error& err) mutable {
    // Committed already: an owner that missed them reads them back when it
    // loads or when its move flips.
    spdlog::warn("a batch of behaviors committed but not applied on one shard: {}",
                 describe(err));
    done();
  };
  auto batch_of = [&](const std::vector<std::size_t>& picks, bool with_vectors) {
    applied_batch b;
    std::unordered_set<item_id> added;
    for (auto j : picks) {
      auto k = fresh[j];
      const auto& e = job->events[k];
      b.events.push_back(e);
      b.ids.push_back(job->receipt.ids[k]);
      if (!with_vectors || !added.insert(e.item).second)
        continue;
      auto v = job->vectors.find(e.item);
      if (v != job->vectors.end() && !v->second.empty()) {
        b.vectors.items.push_back(e.item);
        b.vectors.vectors.push_back(v->second);
      }
    }
    return b;
  };
  // Memory work of a few microseconds per event: as for single events, a
  // shard that does not answer within the apply timeout applies them late or
  // reads them back; the rows are committed either way.
  const auto timeout = apply_timeout + std::chrono::milliseconds{fresh.size() / 10};
  for (auto& [shard, picks] : user_groups) {
    // The buys this shard owns the buyer of (not only as a move's next owner):
    // after they are applied, each teaches its co-buy pairs as a single buy
    // does (learn_co_buys), before the group counts as done.
    std::vector<std::pair<behavior_event, std::int64_t>> buys;
    for (auto j : picks) {
      auto k = fresh[j];
      const auto& e = job->events[k];
      if (e.kind == behavior_kind::buy && st.apply_targets(e.user).front() == shard)
        buys.emplace_back(e, job->receipt.ids[k]);
    }
    ask(self, shard, timeout, apply_users_atom_v, batch_of(picks, true))
      .then(
        [=](std::uint64_t) mutable {
          if (buys.empty()) {
            done();
            return;
          }
          auto left = std::make_shared<std::size_t>(buys.size());
          for (const auto& [e, row] : buys)
            learn_co_buys(self, e, row, [=]() mutable {
              if (--*left == 0)
                done();
            });
        },
        log_err);
  }
  for (auto& [shard, picks] : item_groups)
    ask(self, shard, timeout, apply_items_atom_v, batch_of(picks, false))
      .then([=](std::uint64_t) mutable { done(); }, log_err);
  // Sent after apply_usrs: the users' shards answer with the tastes after
  // the batch (messages of one sender to one actor stay in order).
  if (!folds.empty())
    fold_new_items(self, std::move(folds), done);
}

// Step 2: one statement commits the batch; items no shard vouched for are
// checked in the catalog by the writer first.
void commit_batch(api_self* self, responder<std::string> rp, job_ptr job) {
  auto& st = self->state;
  const auto n = static_cast<std::int64_t>(job->events.size());
  if (!st.deps.gate->try_enter(n)) {
    ++st.deps.metrics->behavior_failed;
    rp.deliver(make_error(ec::overloaded, "too many behaviors waiting for the database"));
    return;
  }
  event_batch b;
  std::unordered_set<item_id> unchecked;
  for (const auto& e : job->events)
    if (job->vectors.count(e.item) == 0)
      unchecked.insert(e.item);
  b.check_items.assign(unchecked.begin(), unchecked.end());
  // As for single events: still queued at the HTTP deadline (less a margin),
  // the batch is dropped unwritten.
  auto timeout = std::chrono::milliseconds{st.cfg.http.request_timeout_ms};
  auto deadline = job->t0 + std::max(timeout - std::chrono::milliseconds{50}, timeout / 2);
  b.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch())
                    .count();
  b.events = job->events;
  b.event_ids = job->event_ids;
  ask(self, st.deps.writer, std::chrono::seconds{10}, write_batch_atom_v, std::move(b))
    .then(
      [=](batch_receipt& receipt) mutable {
        if (receipt.ids.size() != job->events.size() ||
            receipt.fresh.size() != job->events.size()) {
          ++self->state.deps.metrics->behavior_failed;
          rp.deliver(make_error(ec::database_error, "the writer answered the wrong rows"));
          return;
        }
        job->receipt = std::move(receipt);
        apply_batch(self, rp, job);
      },
      [=](caf::error& err) mutable {
        ++self->state.deps.metrics->behavior_failed;
        rp.deliver(std::move(err));
      });
}

} // namespace

void record_batch(api_self* self, responder<std::string> rp, std::vector<behavior_event> events,
                  std::vector<std::string> event_ids) {
  auto job = std::make_shared<batch_job>();
  job->t0 = clock::now();
  auto& st = self->state;
  ++st.deps.metrics->behavior_requests;
  if (!routable(st, rp))
    return;
  if (events.empty() || events.size() > limits::max_batch_events ||
      event_ids.size() != events.size()) {
    rp.deliver(make_error(ec::invalid_argument, "events: 1.." +
                                                  std::to_string(limits::max_batch_events) +
                                                  " events, one event id (or \"\") each"));
    return;
  }
  for (std::size_t k = 0; k < events.size(); ++k)
    if (auto err = limits::check_event(events[k])) {
      rp.deliver(make_error(ec::invalid_argument,
                            "events[" + std::to_string(k) + "]: " + describe(err)));
      return;
    }
  job->events = std::move(events);
  job->event_ids = std::move(event_ids);
  // Step 1: the items' shards vouch for the items they hold and give their
  // embeddings (for the users' taste vectors), one message per shard. A
  // shard that fails leaves its items to the writer's catalog check.
  std::vector<std::int32_t> distinct;
  {
    std::unordered_set<item_id> seen;
    for (const auto& e : job->events)
      if (seen.insert(e.item).second)
        distinct.push_back(e.item);
  }
  auto groups = group_by_shard(distinct, [&](std::int32_t id) {
    return std::vector<shard_actor>{st.shard_of(id)};
  });
  job->waiting = groups.size();
  auto next = [=]() mutable {
    if (--job->waiting == 0)
      commit_batch(self, rp, job);
  };
  for (auto& [shard, picks] : groups) {
    std::vector<item_id> asked;
    for (auto k : picks)
      asked.push_back(distinct[k]);
    ask(self, shard, std::chrono::seconds{2}, item_vectors_atom_v, std::move(asked))
      .then(
        [=](item_vectors& found) mutable {
          if (found.items.size() == found.vectors.size())
            for (std::size_t k = 0; k < found.items.size(); ++k)
              job->vectors[found.items[k]] = std::move(found.vectors[k]);
          next();
        },
        [=](caf::error&) mutable { next(); });
  }
}

} // namespace recd::api_detail
