// The api actor's behavior path: item check, commit (bounded, idempotent on
// the client's event id), apply on the shards, acknowledge. See api.hpp.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/api_state.hpp"

namespace recd::api_detail {

namespace {

// Commits the event (checking the item in the database if its shard could
// not), then applies it on the user's and the item's shard and acknowledges.
// Nothing changes in memory unless the row is committed.
// An event whose id the writer already stored (fresh = false) is answered
// with the first row's id and applied nowhere again.
void commit_and_apply(api_self* self, responder<std::int64_t> rp,
                      behavior_event e, std::vector<float> item_vec, bool check_item,
                      std::string event_id, clock::time_point t0) {
  auto fail = [=](caf::error& err) mutable {
    ++self->state.deps.metrics->behavior_failed;
    rp.deliver(std::move(err));
  };
  auto& gate = *self->state.deps.gate;
  if (!gate.try_enter()) {
    ++self->state.deps.metrics->behavior_failed;
    rp.deliver(make_error(ec::overloaded, "too many behaviors waiting for the database"));
    return;
  }
  // The HTTP server answers 503 at request_timeout after it read the request,
  // a little before t0: an event still queued at the deadline is dropped
  // unwritten. The deadline is set 50 ms early (or at half the timeout), so
  // that by the time a client sees its 503 its queued event is past it.
  auto timeout = std::chrono::milliseconds{self->state.cfg.http.request_timeout_ms};
  auto deadline = t0 + std::max(timeout - std::chrono::milliseconds{50}, timeout / 2);
  auto deadline_ns =
    std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  ask(self, self->state.deps.writer, std::chrono::seconds{10}, write_atom_v, e, check_item,
      std::move(event_id), static_cast<std::int64_t>(deadline_ns))
    .then(
      [=](std::int64_t id, bool fresh) mutable {
        auto& st = self->state;
        if (!fresh) {
          // A retry of a stored event: the first answer, nothing applied again.
          st.deps.metrics->behavior_latency.record(ms_since(t0) * 1000);
          rp.deliver(id);
          return;
        }
        st.near.erase(e.user);
        caf::anon_send(st.deps.cache, cache_del_atom_v, e.user);
        auto users = st.apply_targets(e.user);
        auto items = st.apply_targets(e.item);
        // An item without a published embedding (its shard answered the item
        // check with none) takes the user's taste into its vector
        // (api_fold.cpp): one more step to wait for. Not when the item's
        // shard did not answer the check: it would not answer the fold
        // either, and the answer would wait out a second timeout; the item's
        // next load folds the event (shard_loader's fold_unpublished).
        const bool fold = item_vec.empty() && !check_item;
        auto pending = std::make_shared<std::size_t>(users.size() + items.size() + (fold ? 1 : 0));
        auto ack = [=]() mutable {
          if (--*pending == 0) {
            self->state.deps.metrics->behavior_latency.record(ms_since(t0) * 1000);
            rp.deliver(id);
          }
        };
        auto log_err = [=](caf::error& err) mutable {
          // Committed already: an owner that missed it reads it back when it
          // loads or when its move flips.
          spdlog::warn("behavior {} committed but not applied on one shard: {}", id, describe(err));
          ack();
        };
        // Applying is a few microseconds of memory work; a shard that does not
        // answer within a second has died (a request it already took is never
        // answered) or is overloaded and applies it late: the row is committed
        // either way, so the answer does not wait longer.
        // A buy is acknowledged once its co-buy pairs are counted too
        // (also-bought answers it at once; api_widgets.cpp).
        for (auto& shard : users)
          ask(self, shard, apply_timeout, apply_user_atom_v, e, id, item_vec)
            .then(
              [=](std::uint64_t) mutable {
                if (shard == users.front())
                  learn_co_buys(self, e, id, ack);
                else
                  ack();
              },
              log_err);
        for (auto& shard : items)
          ask(self, shard, apply_timeout, apply_item_atom_v, e, id)
            .then([=](bool) mutable { ack(); }, log_err);
        // Sent after apply_user, so the user's shard answers with the taste
        // after the event (messages of one sender to one actor stay in order).
        if (fold)
          fold_new_items(self, {fold_event{e, id}}, ack);
      },
      fail);
}

} // namespace

// A behavior: the item is checked on its shard, then committed and applied.
void record(api_self* self, responder<std::int64_t> rp, behavior_event e, std::string event_id) {
  auto t0 = clock::now();
  auto& st = self->state;
  ++st.deps.metrics->behavior_requests;
  if (!routable(st, rp))
    return;
  // 1. The item must exist; its embedding feeds the user's taste vector.
  // Shorter than the HTTP deadline, so a lost shard is a clear answer.
  ask_holder(self, e.item, std::chrono::seconds{1}, item_atom_v, e.item)
    .then(
      [=](std::vector<float> item_vec) mutable {
        commit_and_apply(self, rp, e, std::move(item_vec), false, event_id, t0);
      },
      [=](caf::error& err) mutable {
        if (err.category() == error_category &&
            err.code() == static_cast<std::uint8_t>(ec::not_found)) {
          ++self->state.deps.metrics->behavior_failed;
          rp.deliver(std::move(err));
          return;
        }
        // The item's shard is unavailable (moving or failed over): the
        // writer checks the item in the database instead.
        commit_and_apply(self, rp, e, {}, true, event_id, t0);
      });
}

} // namespace recd::api_detail
