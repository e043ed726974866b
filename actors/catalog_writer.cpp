#include "actors/catalog_writer.hpp"

#include <caf/all.hpp>

#include "actors/census.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/catalog.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

struct catalog_writer_state {
  static inline const char* name = "catalog_writer";
  store::lazy_connection conn{""};
};

using writer_pointer = catalog_writer_actor::stateful_pointer<catalog_writer_state>;

// Only this node's actors (the API actors) may ask.
caf::error check_local(writer_pointer self, const char* what) {
  const auto& src = self->current_sender();
  if (src && src->node() == self->node())
    return {};
  return refuse(self, what, "only this node's API actors write the catalog");
}

// Runs `work` on the connection; its value, or the error (connection reset
// unless the error is the request's own fault).
template <class T, class Work>
caf::result<T> with_connection(writer_pointer self, Work work) {
  auto conn = self->state.conn.get();
  if (!conn)
    return conn.error();
  caf::expected<T> out = work(**conn);
  if (!out) {
    const auto& err = out.error();
    if (err.category() == error_category &&
        (err.code() == static_cast<std::uint8_t>(ec::database_unavailable) ||
         err.code() == static_cast<std::uint8_t>(ec::database_error)))
      self->state.conn.reset();
    return err;
  }
  return std::move(*out);
}

catalog_writer_actor::behavior_type catalog_writer(writer_pointer self, std::string url) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{std::move(url)};
  return {
    [=](items_write_atom, const std::vector<item_write>& writes)
      -> caf::result<std::vector<item_details>> {
      if (auto err = check_local(self, "items_write"))
        return err;
      if (writes.empty() || writes.size() > limits::max_item_batch)
        return refuse(self, "items_write", "1.." + std::to_string(limits::max_item_batch) + " writes");
      for (const auto& w : writes)
        if (auto err = limits::check_item_details(w.item))
          return err;
      return with_connection<std::vector<item_details>>(
        self, [&](pqxx::connection& c) { return store::write_items(c, writes); });
    },
    [=](item_get_atom, item_id item) -> caf::result<item_details> {
      if (auto err = check_local(self, "item_get"))
        return err;
      return with_connection<item_details>(
        self, [&](pqxx::connection& c) { return store::find_item(c, item); });
    },
    [=](user_put_atom, user_id user,
        const std::vector<std::string>& labels) -> caf::result<std::string> {
      if (auto err = check_local(self, "user_put"))
        return err;
      if (auto err = limits::check_tags(labels, limits::max_labels, "label"))
        return err;
      return with_connection<std::string>(
        self, [&](pqxx::connection& c) { return store::put_user(c, user, labels); });
    },
    [=](user_get_atom, user_id user) -> caf::result<std::string> {
      if (auto err = check_local(self, "user_get"))
        return err;
      return with_connection<std::string>(
        self, [&](pqxx::connection& c) { return store::find_user(c, user); });
    },
    [=](erase_rows_atom, user_id user) -> caf::result<std::uint64_t, std::string> {
      if (auto err = check_local(self, "erase_rows"))
        return caf::result<std::uint64_t, std::string>{err};
      auto conn = self->state.conn.get();
      if (!conn)
        return caf::result<std::uint64_t, std::string>{conn.error()};
      auto out = store::erase_user(**conn, user);
      if (!out) {
        self->state.conn.reset();
        return caf::result<std::uint64_t, std::string>{out.error()};
      }
      return caf::result<std::uint64_t, std::string>{out->first, std::move(out->second)};
    },
  };
}

} // namespace

catalog_writer_actor spawn_catalog_writer(caf::actor_system& sys, std::string postgres_url) {
  return sys.spawn<caf::detached>(catalog_writer, std::move(postgres_url));
}

} // namespace recd
