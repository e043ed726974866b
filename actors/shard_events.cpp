// Committed events from API nodes, single and batched, and new items' folds:
// applied to the state, held while their partition loads, refused when
// another shard holds it.
#include "actors/shard_actor_state.hpp"

#include <unordered_map>

#include "actors/trust.hpp"
#include "protocol/limits.hpp"

namespace recd::shard_detail {

caf::result<std::uint64_t> apply_user_event(shard_actor_type* self, const behavior_event& e,
                                            std::int64_t id, std::vector<float> item_vec) {
  // User side of a committed event: kept for later if the user's
  // partition is loading here, refused if it is held elsewhere.
  auto& st = self->state;
  if (auto err = check_data(self, "apply"))
    return err;
  if (auto err = limits::check_event(e))
    return refuse(self, "apply", describe(err));
  if (item_vec.size() > limits::max_vector_dim)
    return refuse(self, "apply", "vector too long");
  if (st.is_incoming(e.user)) {
    if (st.pending.size() < max_pending)
      st.pending.push_back({e, id, std::move(item_vec), true});
    return std::uint64_t{0};
  }
  if (!st.holds(e.user))
    return st.not_held(e.user, "user");
  st.note_applied(id, true);
  auto version = st.data.apply_user(e, item_vec, id);
  if (version == 1)
    note_counts(st); // a new user
  return version;
}

caf::result<bool> apply_item_event(shard_actor_type* self, const behavior_event& e,
                                   std::int64_t id) {
  auto& st = self->state;
  if (auto err = check_data(self, "apply"))
    return err;
  if (auto err = limits::check_event(e))
    return refuse(self, "apply", describe(err));
  if (st.is_incoming(e.item)) {
    if (st.pending.size() < max_pending)
      st.pending.push_back({e, id, {}, false});
    return true;
  }
  if (!st.holds(e.item))
    return st.not_held(e.item, "item");
  st.note_applied(id, false);
  st.data.apply_item(e);
  return true;
}

caf::result<item_vectors> vectors_for_batch(shard_actor_type* self,
                                            const std::vector<item_id>& items) {
  auto& st = self->state;
  if (auto err = check_data(self, "item_vecs"))
    return err;
  if (items.size() > limits::max_batch_events)
    return refuse(self, "item_vecs", "too many items");
  if (!st.ready)
    return make_error(ec::not_ready, "shard " + std::to_string(st.index) + " is loading");
  item_vectors out;
  for (auto i : items)
    if (st.holds(i))
      if (auto vec = st.data.item_embedding(i)) {
        out.items.push_back(i);
        out.vectors.push_back(std::move(*vec));
      }
  return out;
}

caf::result<std::uint64_t> apply_user_batch(shard_actor_type* self, const applied_batch& batch) {
  auto& st = self->state;
  if (auto err = check_data(self, "apply_usrs"))
    return err;
  if (auto err = limits::check_applied_batch(batch))
    return refuse(self, "apply_usrs", describe(err));
  static const std::vector<float> no_vector;
  std::unordered_map<item_id, const std::vector<float>*> vector_of;
  for (std::size_t k = 0; k < batch.vectors.items.size(); ++k)
    vector_of.emplace(batch.vectors.items[k], &batch.vectors.vectors[k]);
  std::uint64_t applied = 0;
  bool new_user = false;
  for (std::size_t k = 0; k < batch.events.size(); ++k) {
    const auto& e = batch.events[k];
    auto found = vector_of.find(e.item);
    const auto& vec = found == vector_of.end() ? no_vector : *found->second;
    if (st.is_incoming(e.user)) {
      if (st.pending.size() < max_pending)
        st.pending.push_back({e, batch.ids[k], vec, true});
      ++applied;
    } else if (st.holds(e.user)) {
      st.note_applied(batch.ids[k], true);
      // With the row id, as single events: a first buy is remembered for
      // the co-buy pairs (also-bought) the API asks about next.
      new_user = st.data.apply_user(e, vec, batch.ids[k]) == 1 || new_user;
      ++applied;
    }
  }
  if (new_user)
    note_counts(st);
  return applied;
}

caf::result<std::uint64_t> apply_item_batch(shard_actor_type* self, const applied_batch& batch) {
  auto& st = self->state;
  if (auto err = check_data(self, "apply_itms"))
    return err;
  if (auto err = limits::check_applied_batch(batch))
    return refuse(self, "apply_itms", describe(err));
  std::uint64_t applied = 0;
  for (std::size_t k = 0; k < batch.events.size(); ++k) {
    const auto& e = batch.events[k];
    if (st.is_incoming(e.item)) {
      if (st.pending.size() < max_pending)
        st.pending.push_back({e, batch.ids[k], {}, false});
      ++applied;
    } else if (st.holds(e.item)) {
      st.note_applied(batch.ids[k], false);
      st.data.apply_item(e);
      ++applied;
    }
  }
  return applied;
}

caf::result<taste_vectors> tastes_of(shard_actor_type* self, const std::vector<user_id>& users) {
  auto& st = self->state;
  if (auto err = check_data(self, "tastes"))
    return err;
  if (auto err = limits::check_taste_users(users))
    return refuse(self, "tastes", describe(err));
  taste_vectors out;
  for (auto u : users)
    if (st.holds(u))
      if (auto taste = st.data.taste(u); taste && !taste->empty()) {
        out.users.push_back(u);
        out.vectors.push_back(std::move(*taste));
      }
  return out;
}

caf::result<std::uint64_t> fold_item_tastes(shard_actor_type* self, const item_folds& folds) {
  auto& st = self->state;
  if (auto err = check_data(self, "fold_items"))
    return err;
  if (auto err = limits::check_item_folds(folds))
    return refuse(self, "fold_items", describe(err));
  std::uint64_t folded = 0;
  for (std::size_t k = 0; k < folds.items.size(); ++k) {
    const auto i = folds.items[k];
    if (st.is_incoming(i)) {
      // Replayed after the load unless the snapshot holds the behavior
      // (its loader folded it then).
      if (st.pending.size() < max_pending) {
        behavior_event e{-1, i, folds.kinds[k], 0}; // no user: erasures skip it
        st.pending.push_back({e, folds.ids[k], folds.tastes[k], false, true});
        ++folded;
      }
    } else if (st.holds(i) && st.data.fold_item(i, folds.kinds[k], folds.tastes[k])) {
      ++folded;
    }
  }
  return folded;
}

} // namespace recd::shard_detail
