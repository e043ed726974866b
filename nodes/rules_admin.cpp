#include "nodes/rules_admin.hpp"

#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <thread>

#include <spdlog/spdlog.h>

namespace recd {

std::shared_ptr<rules_book> load_rules(const settings& cfg) {
  auto book = std::make_shared<rules_book>(cfg.rules.file);
  if (cfg.rules.file.empty())
    return book;
  if (auto why = book->reload(); !why.empty()) {
    std::fprintf(stderr, "recd: %s\n", why.c_str());
    return nullptr;
  }
  auto rules = book->current();
  spdlog::info("rules: {} from {} (tag {:016x})", rules->rules.size(), cfg.rules.file, rules->tag);
  return book;
}

void reload_rules_on_hangup(std::shared_ptr<rules_book> book) {
  std::thread{[book = std::move(book)] {
    sigset_t hangup;
    sigemptyset(&hangup);
    sigaddset(&hangup, SIGHUP);
    for (;;) {
      int sig = 0;
      if (sigwait(&hangup, &sig) != 0)
        return;
      if (book->file().empty()) {
        spdlog::warn("SIGHUP: rules.file is not set, no rules to reload");
        continue;
      }
      if (auto why = book->reload(); !why.empty()) {
        spdlog::error("SIGHUP: {}; the old rules stay", why);
        continue;
      }
      auto rules = book->current();
      spdlog::info("SIGHUP: rules reloaded: {} from {} (tag {:016x})", rules->rules.size(),
                   book->file(), rules->tag);
    }
  }}.detach();
}

void watch_rules_file(std::shared_ptr<rules_book> book, std::chrono::milliseconds interval) {
  if (book->file().empty() || interval.count() <= 0)
    return;
  std::thread{[book = std::move(book), interval] {
    for (;;) {
      std::this_thread::sleep_for(interval);
      auto outcome = book->reload_if_changed();
      if (!outcome)
        continue;
      if (!outcome->empty()) {
        spdlog::error("rules watch: {}; the old rules stay", *outcome);
        continue;
      }
      auto rules = book->current();
      spdlog::info("rules watch: the file changed, rules reloaded: {} from {} (tag {:016x})",
                   rules->rules.size(), book->file(), rules->tag);
    }
  }}.detach();
}

nlohmann::json describe_rules(const rules_book& book) {
  auto rules = book.current();
  auto list = nlohmann::json::array();
  for (const auto& r : rules->rules)
    list.push_back({{"name", r.name},
                    {"kind", std::string{rules::to_string(r.kind)}},
                    {"line", r.line},
                    {"rule", rules::render(r)}});
  char tag[17];
  std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(rules->tag));
  return {{"file", book.file()},
          {"tag", tag},
          {"rules", std::move(list)},
          {"loads", book.loads()},
          {"refusals", book.refusals()}};
}

} // namespace recd
