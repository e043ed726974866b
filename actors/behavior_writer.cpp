#include "actors/behavior_writer.hpp"
#include "actors/telemetry.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "config/secrets.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/behavior_rows.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;
using write_promise = caf::typed_response_promise<std::int64_t, bool>;

struct pending_write {
  behavior_event event;
  std::string event_id; // "" = none
  write_promise promise;
  clock::time_point deadline;
  bool check_item = false; // the item's shard could not vouch for it
  bool answered = false;
};

struct writer_state {
  static inline const char* name = "behavior_writer";
  store::lazy_connection conn{""};
  std::string conninfo;
  std::shared_ptr<writer_gate> gate;
  std::vector<pending_write> pending;
  bool flush_scheduled = false;

  void answer(pending_write& p, std::int64_t id, bool fresh) {
    if (p.answered)
      return;
    p.answered = true;
    // The slot first: whoever the answer reaches (a client reading
    // recd_behavior_queue_depth next) sees the queue without this event.
    gate->leave();
    p.promise.deliver(id, fresh);
  }
  void answer(pending_write& p, caf::error err) {
    if (p.answered)
      return;
    p.answered = true;
    gate->leave();
    p.promise.deliver(std::move(err));
  }

  // The error callers see for a failed batch; the details go to the log only.
  caf::error database_failed(const caf::error& err, std::size_t events) {
    spdlog::error("behavior writer: {} events not written: {}", events,
                  redact(describe(err), conninfo));
    auto code = err.category() == error_category &&
                        err.code() == static_cast<std::uint8_t>(ec::database_unavailable)
                    ? ec::database_unavailable
                    : ec::database_error;
    return make_error(code, "database unavailable");
  }

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
      err = store::guard([&] { known = store::known_items(**c, asked); });
    if (err) {
      conn.reset();
      err = database_failed(err, asked.size());
    }
    std::erase_if(batch, [&](pending_write& p) {
      if (!p.check_item)
        return false;
      if (err) {
        answer(p, err);
        return true;
      }
      if (std::find(known.begin(), known.end(), p.event.item) == known.end()) {
        answer(p, make_error(ec::not_found, "unknown item_id " + std::to_string(p.event.item)));
        return true;
      }
      return false;
    });
  }

  // Events whose HTTP request has already timed out are dropped unwritten.
  void drop_expired(std::vector<pending_write>& batch) {
    auto now = clock::now();
    std::erase_if(batch, [&](pending_write& p) {
      if (p.deadline > now)
        return false;
      answer(p, make_error(ec::timeout, "the request timed out before its event was written; "
                                        "nothing was stored"));
      return true;
    });
  }

  // Inserts `events` (event ids unique among them; "" = none) in one
  // statement, so one implicit transaction: per event its row id and whether
  // it is new (false: the id was stored before). Errors reset nothing: the
  // caller does.
  caf::expected<std::vector<std::pair<std::int64_t, bool>>>
  insert(const std::vector<const behavior_event*>& events,
         const std::vector<const std::string*>& event_ids) {
    std::vector<store::written_behavior> written;
    auto c = conn.get();
    caf::error err = c ? caf::error{} : c.error();
    if (!err)
      err = store::guard([&] { written = store::write_behaviors(**c, events, event_ids); });
    if (!err && written.size() != events.size())
      err = make_error(ec::database_error, "the insert returned unexpected rows");
    if (err)
      return err;
    std::vector<std::pair<std::int64_t, bool>> rows;
    rows.reserve(written.size());
    for (const auto& w : written)
      rows.emplace_back(w.id, w.fresh);
    return rows;
  }

  // POST /api/behaviors: one request's events, all or nothing. Items no shard
  // vouched for are checked first (an unknown one: invalid_argument naming its
  // first event, nothing stored); repeats of an event id collapse onto the
  // first as in flush(); one statement stores the rest.
  caf::expected<batch_receipt> write_batch(const event_batch& b) {
    const auto n = b.events.size();
    if (clock::time_point{std::chrono::nanoseconds{b.deadline_ns}} <= clock::now())
      return make_error(ec::timeout, "the request timed out before its events were written; "
                                     "nothing was stored");
    if (!b.check_items.empty()) {
      std::unordered_set<item_id> known;
      auto c = conn.get();
      caf::error err = c ? caf::error{} : c.error();
      if (!err)
        err = store::guard([&] {
          for (auto item : store::known_items(**c, b.check_items))
            known.insert(item);
        });
      if (err) {
        conn.reset();
        return database_failed(err, n);
      }
      std::unordered_set<item_id> checked(b.check_items.begin(), b.check_items.end());
      for (std::size_t k = 0; k < n; ++k)
        if (checked.count(b.events[k].item) != 0 && known.count(b.events[k].item) == 0)
          return make_error(ec::invalid_argument,
                            "events[" + std::to_string(k) + "]: item_id: unknown item " +
                              std::to_string(b.events[k].item) + "; nothing was stored");
    }
    std::vector<std::size_t> leader_of(n);
    std::vector<const behavior_event*> events;
    std::vector<const std::string*> event_ids;
    std::unordered_map<std::string_view, std::size_t> first_with_id;
    for (std::size_t k = 0; k < n; ++k) {
      leader_of[k] = events.size();
      if (!b.event_ids[k].empty()) {
        auto [it, added] = first_with_id.emplace(b.event_ids[k], events.size());
        if (!added) {
          leader_of[k] = it->second;
          continue;
        }
      }
      events.push_back(&b.events[k]);
      event_ids.push_back(&b.event_ids[k]);
    }
    const auto started = clock::now();
    auto rows = insert(events, event_ids);
    auto& figures = node_telemetry().writer;
    figures.batch_size.observe(double(n));
    figures.commit.observe(std::chrono::duration<double>(clock::now() - started).count());
    if (!rows) {
      ++figures.failed_batches;
      conn.reset();
      return database_failed(rows.error(), n);
    }
    batch_receipt out;
    out.ids.reserve(n);
    out.fresh.reserve(n);
    std::vector<bool> led(events.size());
    for (std::size_t k = 0; k < n; ++k) {
      const auto& row = (*rows)[leader_of[k]];
      out.ids.push_back(row.first);
      // Only an id's first event in this request can be new.
      out.fresh.push_back(row.second && !led[leader_of[k]] ? 1 : 0);
      led[leader_of[k]] = true;
    }
    return out;
  }

  // Commits the whole batch in one statement and answers every promise.
  void flush() {
    flush_scheduled = false;
    if (pending.empty())
      return;
    auto batch = std::move(pending);
    pending.clear();
    drop_expired(batch);
    if (std::any_of(batch.begin(), batch.end(), [](const auto& p) { return p.check_item; }))
      reject_unknown_items(batch);
    if (batch.empty())
      return;
    // Repeats of an event id within the batch follow the first occurrence
    // (the leader): only leaders are sent, followers get the leader's answer.
    std::vector<std::size_t> leader_of(batch.size());
    std::vector<std::size_t> leaders;
    std::unordered_map<std::string, std::size_t> first_with_id;
    for (std::size_t k = 0; k < batch.size(); ++k) {
      leader_of[k] = k;
      if (!batch[k].event_id.empty()) {
        auto [it, added] = first_with_id.emplace(batch[k].event_id, k);
        if (!added) {
          leader_of[k] = it->second;
          continue;
        }
      }
      leaders.push_back(k);
    }
    std::vector<const behavior_event*> events;
    std::vector<const std::string*> event_ids;
    for (auto k : leaders) {
      events.push_back(&batch[k].event);
      event_ids.push_back(&batch[k].event_id);
    }
    const auto started = clock::now();
    auto written = insert(events, event_ids);
    caf::error err = written ? caf::error{} : written.error();
    std::vector<std::pair<std::int64_t, bool>> rows;
    if (written)
      rows = std::move(*written);
    auto& figures = node_telemetry().writer;
    figures.batch_size.observe(double(batch.size()));
    figures.commit.observe(std::chrono::duration<double>(clock::now() - started).count());
    if (err) {
      ++figures.failed_batches;
      conn.reset();
      auto shown = database_failed(err, batch.size());
      for (auto& p : batch)
        answer(p, shown);
      return;
    }
    std::vector<std::size_t> row_of(batch.size());
    for (std::size_t j = 0; j < leaders.size(); ++j)
      row_of[leaders[j]] = j;
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const auto& row = rows[row_of[leader_of[k]]];
      answer(batch[k], row.first, leader_of[k] == k && row.second);
    }
  }
};

behavior_writer_actor::behavior_type
behavior_writer(behavior_writer_actor::stateful_pointer<writer_state> self, std::string conninfo,
                std::shared_ptr<writer_gate> gate) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{conninfo};
  self->state.conninfo = std::move(conninfo);
  self->state.gate = std::move(gate);
  return {
      [=](write_atom, const behavior_event& e, bool check_item, const std::string& event_id,
          std::int64_t deadline_ns) {
        auto& st = self->state;
        st.pending.push_back({e, event_id, self->make_response_promise<std::int64_t, bool>(),
                              clock::time_point{std::chrono::nanoseconds{deadline_ns}},
                              check_item});
        // The flush message queues behind every write already in the mailbox,
        // which is exactly the batch that arrived during the previous commit.
        if (!st.flush_scheduled) {
          st.flush_scheduled = true;
          self->send(self, flush_atom_v);
        }
        return st.pending.back().promise;
      },
      [=](write_batch_atom, const event_batch& b) -> caf::result<batch_receipt> {
        // The caller took one writer_gate slot per event; freed here.
        auto& st = self->state;
        auto slots = b.events.size();
        caf::expected<batch_receipt> out =
          b.event_ids.size() == slots
            ? st.write_batch(b)
            : caf::expected<batch_receipt>{make_error(ec::invalid_argument,
                                                      "one event id per event")};
        for (std::size_t k = 0; k < slots; ++k)
          st.gate->leave();
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [=](flush_atom) {
        if (check_self(self, "flush"))
          return;
        self->state.flush();
      },
  };
}

} // namespace

behavior_writer_actor spawn_behavior_writer(caf::actor_system& sys, std::string conninfo,
                                 std::shared_ptr<writer_gate> gate) {
  return sys.spawn<caf::detached>(behavior_writer, std::move(conninfo), std::move(gate));
}

std::vector<behavior_writer_actor> spawn_behavior_writers(caf::actor_system& sys,
                                                          const std::string& conninfo,
                                                          std::shared_ptr<writer_gate> gate,
                                                          std::int32_t count) {
  std::vector<behavior_writer_actor> out;
  for (std::int32_t i = 0; i < std::max(count, std::int32_t{1}); ++i)
    out.push_back(spawn_behavior_writer(sys, conninfo, gate));
  return out;
}

} // namespace recd
