#include "actors/census.hpp"
#include "actors/cache.hpp"

#include <cctype>
#include <chrono>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/telemetry.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;

struct redis_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;     // "" = the default user
  std::string password; // "" = no AUTH
};

// %XX escapes in the user info; text that is not a valid escape stays as is.
std::string percent_decoded(const std::string& text) {
  std::string out;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '%' && k + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[k + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[k + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(k + 1, 2), nullptr, 16));
      k += 2;
    } else {
      out += text[k];
    }
  }
  return out;
}

// redis://[[user]:password@]host[:port][/db]; "redis://user@host" names a
// user whose password is redis.password.
redis_endpoint parse_redis_url(const std::string& url, const std::string& password) {
  redis_endpoint ep;
  ep.password = password;
  std::string rest = url;
  if (rest.rfind("redis://", 0) == 0)
    rest = rest.substr(8);
  if (auto at = rest.rfind('@', rest.find('/')); at != std::string::npos) {
    auto info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = info.find(':'); colon != std::string::npos) {
      ep.user = percent_decoded(info.substr(0, colon));
      ep.password = percent_decoded(info.substr(colon + 1)); // the URL's password wins
    } else {
      ep.user = percent_decoded(info);
    }
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    ep.db = std::atoi(rest.c_str() + slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    ep.port = std::atoi(rest.c_str() + colon + 1);
    rest = rest.substr(0, colon);
  }
  if (!rest.empty())
    ep.host = rest;
  return ep;
}

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct cache_state {
  static inline const char* name = "cache";
  redis_settings cfg;
  redis_endpoint ep;
  redisContext* ctx = nullptr;
  clock::time_point retry_at{};
  std::uint64_t hits = 0, misses = 0, errors = 0, skipped = 0;
  std::string last_error;
  bool degraded = false;

  ~cache_state() { disconnect(); }

  void disconnect() {
    if (ctx != nullptr)
      redisFree(ctx);
    ctx = nullptr;
  }

  void failed(const std::string& what) {
    ++errors;
    ++node_telemetry().cache.errors;
    node_telemetry().cache.degraded = true;
    if (!degraded)
      spdlog::warn("redis {}:{} unavailable ({}); serving uncached", ep.host, ep.port, what);
    degraded = true;
    last_error = what;
    disconnect();
    retry_at = clock::now() + std::chrono::milliseconds{cfg.retry_ms};
  }

  // A usable connection, or nullptr while Redis is considered down.
  redisContext* connection() {
    if (ctx != nullptr)
      return ctx;
    if (clock::now() < retry_at) {
      ++skipped;
      return nullptr;
    }
    timeval tv{0, static_cast<long>(cfg.timeout_ms) * 1000};
    tv.tv_sec = tv.tv_usec / 1000000;
    tv.tv_usec %= 1000000;
    ctx = redisConnectWithTimeout(ep.host.c_str(), ep.port, tv);
    if (ctx == nullptr || ctx->err != 0) {
      failed(ctx != nullptr ? ctx->errstr : "cannot allocate a redis context");
      return nullptr;
    }
    redisSetTimeout(ctx, tv);
    if (!ep.password.empty()) {
      reply_ptr r{static_cast<redisReply*>(
        ep.user.empty() ? redisCommand(ctx, "AUTH %s", ep.password.c_str())
                        : redisCommand(ctx, "AUTH %s %s", ep.user.c_str(), ep.password.c_str()))};
      if (!r || r->type == REDIS_REPLY_ERROR) {
        failed("AUTH failed (" + (r ? std::string{r->str, r->len} : std::string{ctx->errstr}) +
               "): check redis.password or the password in redis.url");
        return nullptr;
      }
    }
    if (ep.db != 0) {
      reply_ptr r{static_cast<redisReply*>(redisCommand(ctx, "SELECT %d", ep.db))};
      if (!r || r->type == REDIS_REPLY_ERROR) {
        failed("SELECT failed");
        return nullptr;
      }
    }
    if (degraded)
      spdlog::info("redis {}:{} is back", ep.host, ep.port);
    degraded = false;
    node_telemetry().cache.degraded = false;
    return ctx;
  }

  // Runs one command; nullptr (and the cache degraded) on any failure.
  template <class... Ts>
  reply_ptr command(const char* fmt, Ts... xs) {
    auto* c = connection();
    if (c == nullptr)
      return nullptr;
    return checked(c, static_cast<redisReply*>(redisCommand(c, fmt, xs...)));
  }
  // The same for a command given as its words (many keys).
  reply_ptr command_argv(const std::vector<std::string>& words) {
    auto* c = connection();
    if (c == nullptr)
      return nullptr;
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    return checked(c, static_cast<redisReply*>(redisCommandArgv(
                          c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  }
  reply_ptr checked(redisContext* c, redisReply* raw) {
    reply_ptr r{raw};
    if (!r) {
      failed(c->errstr[0] != '\0' ? c->errstr : "no reply");
      return nullptr;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      std::string text{r->str, r->len};
      if (text.rfind("NOAUTH", 0) == 0)
        text += " (Redis wants a password: set redis.password or put it in redis.url)";
      failed(text);
      return nullptr;
    }
    return r;
  }
};

std::string key_of(user_id u) { return "recommend:" + std::to_string(u); }

cache_actor::behavior_type cache(cache_actor::stateful_pointer<cache_state> self, redis_settings cfg) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.cfg = cfg;
  self->state.ep = parse_redis_url(cfg.url, cfg.password);
  return {
    [=](cache_get_atom, user_id u) -> std::string {
      auto& st = self->state;
      auto key = key_of(u);
      auto r = st.command("GET %s", key.c_str());
      if (r && r->type == REDIS_REPLY_STRING) {
        ++st.hits;
        ++node_telemetry().cache.hits;
        return std::string{r->str, r->len};
      }
      ++st.misses;
      ++node_telemetry().cache.misses;
      return {};
    },
    [=](cache_put_atom, user_id u, const std::string& value) {
      auto& st = self->state;
      auto key = key_of(u);
      st.command("SETEX %s %d %b", key.c_str(), st.cfg.ttl_seconds, value.data(), value.size());
    },
    [=](cache_del_atom, user_id u) -> bool {
      auto key = key_of(u);
      return self->state.command("DEL %s", key.c_str()) != nullptr;
    },
    [=](cache_dels_atom, const std::vector<user_id>& users) {
      // A batch's users: DEL with up to 1000 keys per command.
      constexpr std::size_t chunk = 1000;
      for (std::size_t from = 0; from < users.size(); from += chunk) {
        std::vector<std::string> args{"DEL"};
        for (std::size_t k = from; k < std::min(users.size(), from + chunk); ++k)
          args.push_back(key_of(users[k]));
        if (!self->state.command_argv(args))
          return;
      }
    },
    [=](cache_clear_atom) -> caf::result<std::uint64_t> {
      // Every cached answer (recd admin cache flush): SCAN, not KEYS, so
      // Redis keeps serving others meanwhile. Only from this node.
      if (auto err = check_control(self, caf::node_id{}, "cache_del"))
        return err;
      auto& st = self->state;
      std::uint64_t deleted = 0;
      std::string cursor = "0";
      do {
        auto r = st.command("SCAN %s MATCH recommend:* COUNT 1000", cursor.c_str());
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
          return make_error(ec::cache_unavailable, "redis did not answer SCAN");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        const auto* keys = r->element[1];
        for (std::size_t k = 0; k < keys->elements; ++k) {
          auto d = st.command("DEL %b", keys->element[k]->str, keys->element[k]->len);
          if (!d)
            return make_error(ec::cache_unavailable, "redis did not answer DEL");
          deleted += d->type == REDIS_REPLY_INTEGER ? static_cast<std::uint64_t>(d->integer) : 0;
        }
      } while (cursor != "0");
      return deleted;
    },
    [=](stats_atom) -> std::string {
      auto& st = self->state;
      auto lookups = st.hits + st.misses;
      nlohmann::json j = {
        {"hits", st.hits},
        {"misses", st.misses},
        {"hit_ratio", lookups == 0 ? 0.0 : double(st.hits) / double(lookups)},
        {"errors", st.errors},
        {"skipped_while_down", st.skipped},
        {"degraded", st.degraded},
        {"last_error", st.last_error},
      };
      return j.dump();
    },
  };
}

} // namespace

cache_actor spawn_cache(caf::actor_system& sys, redis_settings cfg) {
  return sys.spawn<caf::detached>(cache, std::move(cfg));
}

} // namespace recd
