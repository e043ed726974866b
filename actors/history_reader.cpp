#include "actors/history_reader.hpp"

#include <algorithm>
#include <chrono>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/unexpected.hpp"
#include "config/secrets.hpp"
#include "protocol/errors.hpp"
#include "store/database.hpp"
#include "store/user_history.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;
using history_result = caf::result<std::vector<item_id>, std::vector<item_id>>;

struct reader_state {
  static inline const char* name = "history_reader";
  store::lazy_connection conn{""};
  std::string conninfo;

  // The error callers see; the details go to the log only.
  caf::error failed(const caf::error& err, user_id user) {
    conn.reset();
    spdlog::warn("history of user {} not read: {}", user, redact(describe(err), conninfo));
    auto code = err.category() == error_category &&
                    err.code() == static_cast<std::uint8_t>(ec::database_unavailable)
                  ? ec::database_unavailable
                  : ec::database_error;
    return make_error(code, "database unavailable");
  }

  history_result read(const history_query& q) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock::time_point{std::chrono::nanoseconds{q.deadline_ns}} - clock::now());
    if (left.count() <= 0)
      return history_result{make_error(ec::timeout, "the history query expired unread")};
    auto c = conn.get();
    if (!c)
      return history_result{failed(c.error(), q.user)};
    // Connecting may have used some of the time.
    left = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock::time_point{std::chrono::nanoseconds{q.deadline_ns}} - clock::now());
    if (left.count() <= 0)
      return history_result{make_error(ec::timeout, "the history query expired unread")};
    store::user_history h;
    auto err = store::guard([&] {
      h = store::read_user_history(**c, q.user, q.with_seen, q.seen_limit, left.count());
    });
    if (err)
      return history_result{failed(err, q.user)};
    return history_result{std::move(h.bought), std::move(h.seen)};
  }
};

history_reader_actor::behavior_type
history_reader(history_reader_actor::stateful_pointer<reader_state> self, std::string conninfo) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{conninfo};
  self->state.conninfo = std::move(conninfo);
  return {
    [=](const history_query& q) -> history_result { return self->state.read(q); },
  };
}

} // namespace

history_reader_actor spawn_history_reader(caf::actor_system& sys, std::string conninfo) {
  return sys.spawn<caf::detached>(history_reader, std::move(conninfo));
}

} // namespace recd
