#include "actors/dashboard_reader.hpp"

#include <caf/all.hpp>

#include "actors/census.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/dashboard_queries.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

struct reader_state {
  static inline const char* name = "dashboard_reader";
  store::lazy_connection conn{""};
};

using reader_pointer = dashboard_reader_actor::stateful_pointer<reader_state>;

// Runs `query` on the connection; the JSON text, or the error (connection reset).
template <class Query>
caf::result<std::string> answer(reader_pointer self, Query query) {
  auto conn = self->state.conn.get();
  if (!conn)
    return conn.error();
  std::string out;
  auto err = store::guard([&] { out = query(**conn).dump(); });
  if (err) {
    self->state.conn.reset();
    return err;
  }
  return out;
}

dashboard_reader_actor::behavior_type dashboard_reader(reader_pointer self, std::string url) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{std::move(url)};
  return {
    [=](neighbours_atom, item_id item, std::int32_t limit) -> caf::result<std::string> {
      return answer(self,
                    [=](pqxx::connection& c) { return store::item_neighbours(c, item, limit); });
    },
  };
}

} // namespace

dashboard_reader_actor spawn_dashboard_reader(caf::actor_system& sys, std::string postgres_url) {
  return sys.spawn<caf::detached>(dashboard_reader, std::move(postgres_url));
}

} // namespace recd
