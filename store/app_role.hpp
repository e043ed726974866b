#pragma once
// Least privilege: the PostgreSQL role recd serves as. `recd migrate
// --app-role NAME`, run with an admin connection, creates (or updates) a LOGIN
// role that is NOSUPERUSER NOCREATEDB NOCREATEROLE, lets it connect and create
// tables in schema public (the jobs write staging tables and rename them), and
// makes it the owner of every table and sequence in schema public. recd then
// runs with postgres.url naming that role. BLOCKS.

#include <string>

#include <caf/error.hpp>
#include <pqxx/pqxx>

namespace recd::store {

// `password` comes from RECD_APP_ROLE_PASSWORD (never argv); it is sent as a
// quoted literal in CREATE/ALTER ROLE, so keep log_statement off on the server
// while this runs. Errors never contain it.
caf::error grant_app_role(pqxx::connection& admin, const std::string& role,
                          const std::string& password);

} // namespace recd::store
