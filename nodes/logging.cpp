#include "nodes/logging.hpp"

#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace recd {

namespace {

void put(spdlog::memory_buf_t& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

void append_time(spdlog::memory_buf_t& out, spdlog::log_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  std::time_t whole = secs.count();
  std::tm utc{};
  ::gmtime_r(&whole, &utc);
  char buf[40];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(millis)));
  out.append(buf, buf + n);
}

std::string_view level_name(spdlog::level::level_enum level) {
  auto name = spdlog::level::to_string_view(level);
  return {name.data(), name.size()};
}

class text_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) override {
    append_time(out, msg.time);
    out.push_back(' ');
    auto level = level_name(msg.level);
    out.append(level.data(), level.data() + level.size());
    out.push_back(' ');
    // Control characters would break "one line per event": escaped.
    for (char c : std::string_view{msg.payload.data(), msg.payload.size()}) {
      if (c == '\n') {
        put(out, "\\n");
      } else if (c == '\r') {
        put(out, "\\r");
      } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        out.push_back('?');
      } else {
        out.push_back(c);
      }
    }
    out.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<text_formatter>();
  }
};

class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) override {
    put(out, "{\"ts\":\"");
    append_time(out, msg.time);
    put(out, "\",\"level\":\"");
    auto level = level_name(msg.level);
    out.append(level.data(), level.data() + level.size());
    put(out, "\",\"msg\":");
    // nlohmann's dump escapes every control character and replaces invalid UTF-8.
    auto text = nlohmann::json(std::string{msg.payload.data(), msg.payload.size()})
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.append(text.data(), text.data() + text.size());
    put(out, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format) {
  if (format == "json")
    return std::make_unique<json_formatter>();
  return std::make_unique<text_formatter>();
}

void configure_logging(const log_settings& log) {
  spdlog::set_formatter(make_log_formatter(log.format));
  spdlog::set_level(spdlog::level::from_str(log.level));
}

} // namespace recd
