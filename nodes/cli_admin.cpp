// `recd admin jobs|run-job|drain|cache flush|check|rules show|rules reload` (and cluster|rebalance
// with --admin): operator commands against a node's admin port, over HTTP
// with the bearer token from RECD_ADMIN_TOKEN or admin.token_file (never a
// command-line argument). Exit status: 0 done, 1 refused, unreachable or (check)
// differences found, with a one-line reason on stderr.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "nodes/commands.hpp"

namespace recd {

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using json = nlohmann::json;

struct admin_reply {
  unsigned status = 0;
  std::string body;
};

// One request to the admin port; nullopt (reason on stderr) if it could not be made.
std::optional<admin_reply> call(const std::string& addr, const std::string& token,
                                bhttp::verb method, const std::string& target,
                                std::chrono::seconds timeout = std::chrono::seconds{30}) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size() || addr.substr(colon + 1) == "0") {
    std::fprintf(stderr, "recd: the admin address must be host:port with a port, not '%s'\n",
                 addr.c_str());
    return std::nullopt;
  }
  auto host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0")
    host = "127.0.0.1";
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver resolver{io};
    beast::tcp_stream stream{io};
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(host, addr.substr(colon + 1)));
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, addr);
    req.set(bhttp::field::authorization, "Bearer " + token);
    req.set(bhttp::field::user_agent, "recd-admin");
    req.prepare_payload();
    bhttp::write(stream, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return admin_reply{res.result_int(), std::move(res.body())};
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recd: cannot reach the admin port at %s: %s\n", addr.c_str(), e.what());
    return std::nullopt;
  }
}

// The reply's JSON when it is a success, else nullopt with the server's error on stderr.
std::optional<json> success(const std::optional<admin_reply>& r) {
  if (!r)
    return std::nullopt;
  auto body = json::parse(r->body, nullptr, false);
  if (r->status >= 200 && r->status < 300 && !body.is_discarded())
    return body;
  std::string why = body.is_object() && body.contains("error") && body["error"].is_string()
                      ? body["error"].get<std::string>()
                      : r->body.substr(0, 200);
  std::fprintf(stderr, "recd: the admin port answered %u: %s\n", r->status, why.c_str());
  return std::nullopt;
}

std::string percent_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

void print_jobs(const json& j) {
  const auto& running = j["running"];
  if (running.is_object())
    std::printf("running: %s run %lld, %.0f%% (%llu of %llu), %llu rows, %.1f s\n",
                running.value("kind", "").c_str(), running.value("run_id", 0LL),
                100 * running.value("progress", 0.0), running.value("done", 0ULL),
                running.value("total", 0ULL), running.value("rows", 0ULL),
                running.value("seconds", 0.0));
  else
    std::printf("running: none\n");
  std::printf("%-8s %-16s %-10s %-19s %12s %10s  %s\n", "run", "kind", "status", "started",
              "rows", "seconds", "error");
  for (const auto& r : j.value("runs", json::array()))
    std::printf("%-8lld %-16s %-10s %-19s %12lld %10.1f  %s\n", r.value("run_id", 0LL),
                r.value("kind", "").c_str(), r.value("status", "").c_str(),
                r.value("started_at", "").substr(0, 19).c_str(), r.value("rows", 0LL),
                r.value("seconds", 0.0), r.value("error", "").c_str());
}

// The shard's entry in /admin/cluster, or null.
json shard_in(const json& map, const std::string& name) {
  for (const auto& s : map.value("shards", json::array()))
    if (s.value("name", "") == name)
      return s;
  return nullptr;
}

} // namespace

int run_admin_http(const settings& cfg, const admin_command& cmd) {
  const auto addr = cmd.admin_addr.empty() ? cfg.admin.addr : cmd.admin_addr;
  if (cfg.admin.token.empty()) {
    std::fprintf(stderr, "recd: no admin token: set RECD_ADMIN_TOKEN or admin.token_file\n");
    return 1;
  }
  const auto& token = cfg.admin.token;
  auto get = [&](const std::string& target) { return success(call(addr, token, bhttp::verb::get, target)); };
  auto post = [&](const std::string& target) { return success(call(addr, token, bhttp::verb::post, target)); };

  if (cmd.name == "cluster") {
    auto j = get("/admin/cluster");
    if (!j)
      return 1;
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  if (cmd.name == "rebalance") {
    auto j = post("/admin/rebalance");
    if (!j)
      return 1;
    std::printf("rebalance started at epoch %llu\n", j->value("epoch", 0ULL));
    return 0;
  }
  if (cmd.name == "jobs") {
    auto j = get("/admin/jobs");
    if (!j)
      return 1;
    if (cmd.json)
      std::printf("%s\n", j->dump(2).c_str());
    else
      print_jobs(*j);
    return 0;
  }
  if (cmd.name == "run-job") {
    auto j = post("/admin/jobs?kind=" + percent_encode(cmd.argument));
    if (!j)
      return 1;
    std::printf("%s run %s\n", cmd.argument.c_str(),
                j->value("finished", false) ? "finished" : "started (see recd admin jobs)");
    return 0;
  }
  if (cmd.name == "drain") {
    auto j = post("/admin/drain?shard=" + percent_encode(cmd.argument));
    if (!j)
      return 1;
    std::printf("draining shard %s (%llu partitions)\n", cmd.argument.c_str(),
                j->value("partitions", 0ULL));
    if (cmd.wait_seconds <= 0)
      return 0;
    // Until the map gives it nothing and no move is in progress.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{cmd.wait_seconds};
    for (;;) {
      auto map = get("/admin/cluster");
      if (map) {
        auto s = shard_in(*map, cmd.argument);
        // Owned or held as a replica (cluster.replicas = 2): both must go.
        if (!s.is_object() || (s.value("partitions", json::array()).empty() &&
                               s.value("replicas", json::array()).empty() &&
                               !map->value("moving", false))) {
          std::printf("shard %s holds no partitions now (epoch %llu): it may be stopped\n",
                      cmd.argument.c_str(), map->value("epoch", 0ULL));
          return 0;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr, "recd: shard %s still holds partitions after %d s (the move goes on)\n",
                     cmd.argument.c_str(), cmd.wait_seconds);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{500});
    }
  }
  if (cmd.name == "cache-flush") {
    auto j = post("/admin/cache/flush" +
                  (cmd.argument.empty() ? std::string{} : "?user=" + percent_encode(cmd.argument)));
    if (!j)
      return 1;
    if (cmd.argument.empty())
      std::printf("flushed every cached answer: %llu API actors, %llu Redis keys deleted%s\n",
                  j->value("flushed", 0ULL), j->value("deleted", 0ULL),
                  j->value("errors", 0ULL) > 0 ? " (some API actors failed: see their logs)" : "");
    else
      std::printf("flushed user %s's cached answer: %llu API actors%s\n", cmd.argument.c_str(),
                  j->value("flushed", 0ULL),
                  j->value("errors", 0ULL) > 0 ? " (some API actors failed: see their logs)" : "");
    return j->value("errors", 0ULL) > 0 ? 1 : 0;
  }
  if (cmd.name == "check") {
    auto j = get("/admin/check");
    if (!j)
      return 1;
    if (cmd.json) {
      std::printf("%s\n", j->dump(2).c_str());
    } else {
      if (j->value("moving", false))
        std::printf("a move is in progress: counts may differ until it ends\n");
      for (const auto& s : j->value("shards", json::array())) {
        if (s.contains("error")) {
          std::printf("shard %s: no answer (%s)\n", s.value("name", "").c_str(),
                      s.value("error", "").c_str());
          continue;
        }
        auto differences = s.value("differences", json::array());
        std::printf("shard %s: %zu partitions, %llu users, %llu items: %s\n",
                    s.value("name", "").c_str(), s.value("partitions", json::array()).size(),
                    s.value("users", 0ULL), s.value("items", 0ULL),
                    differences.empty() ? "matches PostgreSQL" : "DIFFERS");
        for (const auto& d : differences)
          std::printf("  %s\n", d.get<std::string>().c_str());
      }
    }
    return j->value("ok", false) ? 0 : 1;
  }
  if (cmd.name == "rules-show" || cmd.name == "rules-reload") {
    auto j = cmd.name == "rules-show" ? get("/admin/rules") : post("/admin/rules/reload");
    if (!j)
      return 1;
    if (cmd.json) {
      std::printf("%s\n", j->dump(2).c_str());
      return 0;
    }
    const auto rules = j->value("rules", json::array());
    std::printf("%zu rules from %s (tag %s)%s\n", rules.size(),
                j->value("file", "").empty() ? "(no rules.file)" : j->value("file", "").c_str(),
                j->value("tag", "").c_str(), cmd.name == "rules-reload" ? ": reloaded" : "");
    for (const auto& r : rules)
      std::printf("  %s\n", r.value("rule", "").c_str());
    return 0;
  }
  std::fprintf(stderr, "recd: unknown admin command %s\n", cmd.name.c_str());
  return 2;
}

} // namespace recd
