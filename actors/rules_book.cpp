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

namespace {

// The file's bytes (one beyond the bound, enough to refuse it); nullopt if it
// cannot be read.
std::optional<std::string> read_rules_file(const std::string& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::string text(rules::max_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    return std::nullopt;
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

} // namespace

std::string rules_book::reload() {
  if (file_.empty()) {
    std::lock_guard lock{mu_};
    ++refusals_;
    return "rules file : rules.file is not set";
  }
  std::lock_guard one_at_a_time{reload_mu_};
  return load(read_rules_file(file_));
}

std::optional<std::string> rules_book::reload_if_changed() {
  if (file_.empty())
    return std::nullopt;
  std::lock_guard one_at_a_time{reload_mu_};
  auto text = read_rules_file(file_);
  {
    std::lock_guard lock{mu_};
    if (text == last_read_)
      return std::nullopt;
  }
  return load(std::move(text));
}

std::string rules_book::load(std::optional<std::string> text) {
  auto refuse = [&](const std::string& why) {
    std::lock_guard lock{mu_};
    ++refusals_;
    last_read_ = text;
    return "rules file " + file_ + ": " + why;
  };
  if (!text)
    return refuse("cannot be read");
  auto parsed = rules::parse(*text);
  if (auto* e = std::get_if<rules::parse_error>(&parsed))
    return refuse(e->message);
  auto set = std::make_shared<const rules::rule_set>(std::get<rules::rule_set>(std::move(parsed)));
  std::lock_guard lock{mu_};
  rules_ = std::move(set);
  last_read_ = std::move(text);
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
