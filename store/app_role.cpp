#include "store/app_role.hpp"

#include "config/secrets.hpp"
#include "store/database.hpp"

namespace recd::store {

caf::error grant_app_role(pqxx::connection& admin, const std::string& role,
                          const std::string& password) {
  if (role.empty())
    return make_error(ec::invalid_argument, "--app-role needs a role name");
  if (password.empty())
    return make_error(ec::invalid_argument,
                      "--app-role needs its password in RECD_APP_ROLE_PASSWORD");
  auto err = guard([&] {
    pqxx::work tx{admin};
    auto name = tx.quote_name(role);
    if (tx.exec_params("SELECT $1 = current_user", role)[0][0].as<bool>())
      throw std::invalid_argument("--app-role must not name the admin role this migrate runs as");
    auto exists = tx.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1", role);
    tx.exec((exists.empty() ? "CREATE ROLE " : "ALTER ROLE ") + name +
            " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD " +
            tx.quote(password));
    tx.exec("GRANT CONNECT ON DATABASE " +
            tx.quote_name(tx.exec("SELECT current_database()")[0][0].c_str()) + " TO " + name);
    tx.exec("GRANT USAGE, CREATE ON SCHEMA public TO " + name);
    // Tables (with their indexes and the sequences their columns own), then
    // free-standing sequences; ALTER TABLE refuses an owned sequence.
    for (const auto& r : tx.exec("SELECT c.relname FROM pg_class c "
                                 "WHERE c.relnamespace = 'public'::regnamespace "
                                 "AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1"))
      tx.exec("ALTER TABLE " + tx.quote_name(r[0].c_str()) + " OWNER TO " + name);
    for (const auto& r :
         tx.exec("SELECT c.relname FROM pg_class c "
                 "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' "
                 "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
                 "                AND d.deptype IN ('a', 'i')) ORDER BY 1"))
      tx.exec("ALTER SEQUENCE " + tx.quote_name(r[0].c_str()) + " OWNER TO " + name);
    tx.commit();
  });
  if (err) {
    // A server error quoting the statement would quote the password.
    auto text = describe(err);
    auto pos = text.find(password);
    while (pos != std::string::npos) {
      text.replace(pos, password.size(), std::string{secret_mask});
      pos = text.find(password, pos);
    }
    return make_error(ec::database_error, text);
  }
  return caf::none;
}

} // namespace recd::store
