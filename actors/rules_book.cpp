#include "actors/rules_book.hpp"

#include <fstream>
#include <sstream>

namespace recd {

rules_book::rules_book(std::string file)
  : file_(std::move(file)), rules_(std::make_shared<const rules::rule_set>()) {}

rules_book::rules_ptr rules_book::current() const {
  std::lock_guard lock{mu_};
  return rules_;
}

std::string rules_book::reload() {
  auto refuse = [&](const std::string& why) {
    std::lock_guard lock{mu_};
    ++refusals_;
    return "rules file " + file_ + ": " + why;
  };
  if (file_.empty())
    return refuse("rules.file is not set");
  std::ifstream in{file_, std::ios::binary};
  if (!in)
    return refuse("cannot be read");
  // One byte beyond the bound is enough to refuse it.
  std::string text(rules::max_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    return refuse("cannot be read");
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto parsed = rules::parse(text);
  if (auto* e = std::get_if<rules::parse_error>(&parsed))
    return refuse(e->message);
  auto set = std::make_shared<const rules::rule_set>(std::get<rules::rule_set>(std::move(parsed)));
  std::lock_guard lock{mu_};
  rules_ = std::move(set);
  ++loads_;
  return {};
}

std::uint64_t rules_book::loads() const {
  std::lock_guard lock{mu_};
  return loads_;
}

std::uint64_t rules_book::refusals() const {
  std::lock_guard lock{mu_};
  return refusals_;
}

} // namespace recd
