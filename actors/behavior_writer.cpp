#include "actors/census.hpp"
#include "actors/behavior_writer.hpp"

#include <caf/all.hpp>

#include "protocol/errors.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

struct pending_write {
  behavior_event event;
  caf::typed_response_promise<std::int64_t> promise;
  bool check_item = false; // the item's shard could not vouch for it
};

// Stores a batch: $1 users, $2 items, $3 kinds, $4 unix seconds, in order.
// Items first seen here were validated by their shard against the catalog.
// RETURNING gives the ids in insertion order, which follows the ORDINALITY.
constexpr const char* write_behaviors_sql =
  "WITH e AS (SELECT u, i, k, t, n FROM unnest($1::int[], $2::int[], $3::text[], $4::bigint[]) "
  "           WITH ORDINALITY AS x(u, i, k, t, n)), "
  "new_users AS (INSERT INTO users (user_id) SELECT DISTINCT u FROM e ON CONFLICT DO NOTHING), "
  "sales AS (UPDATE items SET sales_count = sales_count + x.n "
  "          FROM (SELECT i, count(*) AS n FROM e WHERE k IN ('buy', 'cart') GROUP BY i) x "
  "          WHERE items.item_id = x.i) "
  "INSERT INTO user_behavior (user_id, item_id, behavior_type, timestamp) "
  "SELECT u, i, k, to_timestamp(t) FROM e ORDER BY n RETURNING id";

struct writer_state {
  static inline const char* name = "behavior_writer";
  store::lazy_connection conn{""};
  std::vector<pending_write> pending;
  bool flush_scheduled = false;

  // Answers not_found for checked events whose item is not in the catalog
  // and removes them from the batch (nothing of theirs is stored).
  void reject_unknown_items(std::vector<pending_write>& batch) {
    std::vector<std::int32_t> asked;
    for (const auto& p : batch)
      if (p.check_item)
        asked.push_back(p.event.item);
    std::vector<std::int32_t> known;
    auto c = conn.get();
    caf::error err = c ? caf::error{} : c.error();
    if (!err)
      err = store::guard([&] {
        pqxx::read_transaction tx{**c};
        for (const auto& r : tx.exec_params("SELECT item_id FROM items WHERE item_id = ANY($1::int[])",
                                            store::int_array_literal(asked)))
          known.push_back(r[0].as<std::int32_t>());
      });
    std::erase_if(batch, [&](pending_write& p) {
      if (!p.check_item)
        return false;
      if (err) {
        p.promise.deliver(err);
        return true;
      }
      if (std::find(known.begin(), known.end(), p.event.item) == known.end()) {
        p.promise.deliver(make_error(ec::not_found, "unknown item_id " + std::to_string(p.event.item)));
        return true;
      }
      return false;
    });
  }

  // Commits the whole batch in one transaction and answers every promise.
  void flush() {
    flush_scheduled = false;
    if (pending.empty())
      return;
    auto batch = std::move(pending);
    pending.clear();
    if (std::any_of(batch.begin(), batch.end(), [](const auto& p) { return p.check_item; }))
      reject_unknown_items(batch);
    if (batch.empty())
      return;
    std::vector<std::int32_t> users, items;
    std::vector<std::int64_t> times;
    std::string kinds = "{";
    for (std::size_t k = 0; k < batch.size(); ++k) {
      users.push_back(batch[k].event.user);
      items.push_back(batch[k].event.item);
      times.push_back(batch[k].event.ts);
      kinds += (k ? "," : "") + std::string{to_string(batch[k].event.kind)};
    }
    kinds += "}";
    std::string time_list = "{";
    for (std::size_t k = 0; k < times.size(); ++k)
      time_list += (k ? "," : "") + std::to_string(times[k]);
    time_list += "}";
    std::vector<std::int64_t> ids;
    caf::error err;
    auto c = conn.get();
    if (!c)
      err = c.error();
    if (!err)
      err = store::guard([&] {
        // One statement, so one round trip and one implicit transaction:
        // the users, the behaviors and the items' sales counts commit together.
        // Registers the statement on this connection (a new one after a
        // reset); libpqxx ignores a repeat with the same text.
        (*c)->prepare("recd_write_behaviors", write_behaviors_sql);
        pqxx::nontransaction tx{**c};
        auto rows = tx.exec_prepared("recd_write_behaviors", store::int_array_literal(users),
                                     store::int_array_literal(items), kinds, time_list);
        for (const auto& r : rows)
          ids.push_back(r[0].as<std::int64_t>());
      });
    if (err || ids.size() != batch.size()) {
      if (!err)
        err = make_error(ec::database_error, "insert returned an unexpected row count");
      conn.reset();
      for (auto& p : batch)
        p.promise.deliver(err);
      return;
    }
    // RETURNING gives ids in insertion order, which follows the ORDINALITY.
    std::sort(ids.begin(), ids.end());
    for (std::size_t k = 0; k < batch.size(); ++k)
      batch[k].promise.deliver(ids[k]);
  }
};

caf::behavior behavior_writer(caf::stateful_actor<writer_state>* self, std::string url) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{std::move(url)};
  return {
    [=](write_atom, const behavior_event& e, bool check_item) {
      auto& st = self->state;
      st.pending.push_back({e, self->make_response_promise<std::int64_t>(), check_item});
      // The flush message queues behind every write already in the mailbox,
      // which is exactly the batch that arrived during the previous commit.
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->send(self, flush_atom_v);
      }
      return st.pending.back().promise;
    },
    [=](flush_atom) { self->state.flush(); },
  };
}

} // namespace

caf::actor spawn_behavior_writer(caf::actor_system& sys, std::string postgres_url) {
  return sys.spawn<caf::detached>(behavior_writer, std::move(postgres_url));
}

} // namespace recd
