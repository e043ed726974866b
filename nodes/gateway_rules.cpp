// The admin port's business-rules endpoints (docs/rules.md), on every node
// that serves the API: GET /admin/rules, POST /admin/rules/reload.
#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"
#include "nodes/rules_admin.hpp"

#include <spdlog/spdlog.h>

namespace recd {

using namespace gateway_detail;

bool gateway::admin_rules(const http::request& req, http::reply_fn& reply) {
  const auto& path = req.path;
  if (path != "/admin/rules" && path != "/admin/rules/reload")
    return false;
  if (!rules_) {
    reply(json_error_response(404, "this node serves no API: send " + path +
                                     " to an API node's admin port"));
    return true;
  }
  const char* method = path == "/admin/rules" ? "GET" : "POST";
  if (req.method != method) {
    reply(json_error_response(405, "method " + req.method + " not allowed on " + path));
    return true;
  }
  if (path == "/admin/rules/reload") {
    // A small file (rules::max_file_bytes): read on this admin thread.
    if (auto why = rules_->reload(); !why.empty()) {
      spdlog::error("admin: {}; the old rules stay", why);
      reply(json_error_response(422, why));
      return true;
    }
    auto now = rules_->current();
    spdlog::info("admin: rules reloaded: {} from {} (tag {:016x})", now->rules.size(),
                 rules_->file(), now->tag);
  }
  reply(json_response(200, describe_rules(*rules_).dump()));
  return true;
}

} // namespace recd
