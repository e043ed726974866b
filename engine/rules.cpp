#include "engine/rules.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

namespace recd::rules {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-separated word of `s`.
std::string_view next_word(std::string_view& s) {
  s = trim(s);
  auto end = s.find_first_of(" \t");
  auto word = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : trim(s.substr(end));
  return word;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name)
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  return true;
}

// A category or label: 1..max_value bytes, no control characters (the
// catalog's own bound on tags; UTF-8 passes through unchanged).
bool valid_value(std::string_view v) {
  if (v.empty() || v.size() > max_value)
    return false;
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f)
      return false;
  return true;
}

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool parse_factor(std::string_view s, double& out) {
  if (!s.empty() && (s.front() == 'x' || s.front() == 'X'))
    s.remove_prefix(1);
  if (s.empty())
    return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && std::isfinite(out) && out > 0 &&
         out <= max_factor;
}

std::string format_number(double x) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

// FNV-1a, 64 bits: the tag of a rule set's canonical text.
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The rule of one line's text after "NAME:", or a message saying what is wrong.
std::variant<rule, std::string> parse_rule(std::string_view text) {
  rule r;
  auto verb = next_word(text);
  if (verb == "hide") {
    auto what = next_word(text);
    if (what != "category" && what != "label")
      return std::string{"hide takes 'category NAME' or 'label NAME'"};
    r.kind = what == "category" ? rule_kind::hide_category : rule_kind::hide_label;
    if (!valid_value(text))
      return std::string{"hide "} + std::string{what} + ": a name of 1.." +
             std::to_string(max_value) + " bytes without control characters";
    r.value = std::string{text};
    return r;
  }
  if (verb == "boost") {
    auto what = next_word(text);
    if (what == "label") {
      r.kind = rule_kind::boost_label;
      auto last_space = text.find_last_of(" \t");
      if (last_space == std::string_view::npos)
        return std::string{"boost label takes 'LABEL xFACTOR'"};
      auto label = trim(text.substr(0, last_space));
      if (!valid_value(label))
        return std::string{"boost label: a label of 1.."} + std::to_string(max_value) +
               " bytes without control characters";
      if (!parse_factor(trim(text.substr(last_space)), r.factor))
        return std::string{"boost label: the factor must be a number in (0, 100], e.g. x1.5"};
      r.value = std::string{label};
      return r;
    }
    if (what == "new") {
      r.kind = rule_kind::boost_new;
      auto days = next_word(text);
      auto unit = next_word(text);
      auto factor = next_word(text);
      if (!parse_int(days, r.days) || r.days < 1 || r.days > max_days ||
          (unit != "days" && unit != "day"))
        return std::string{"boost new takes 'DAYS days xFACTOR' with DAYS in 1.."} +
               std::to_string(max_days);
      if (!parse_factor(factor, r.factor) || !text.empty())
        return std::string{"boost new: the factor must be a number in (0, 100], e.g. x2"};
      return r;
    }
    return std::string{"boost takes 'label LABEL xFACTOR' or 'new DAYS days xFACTOR'"};
  }
  if (verb == "diversity") {
    r.kind = rule_kind::diversity;
    auto per = next_word(text);
    bool words = next_word(text) == "per" && next_word(text) == "category" &&
                 next_word(text) == "in" && next_word(text) == "top";
    auto top = next_word(text);
    if (!words || !text.empty() || !parse_int(per, r.per) || !parse_int(top, r.top) ||
        r.per < 1 || r.top < 1 || r.top > max_top || r.per > r.top)
      return std::string{"diversity takes 'K per category in top N' with 1 <= K <= N <= "} +
             std::to_string(max_top);
    return r;
  }
  return std::string{"unknown rule '"} + std::string{verb} +
         "' (hide, boost or diversity)";
}

bool matches(const std::vector<std::string>& tags, const std::string& value) {
  return std::find(tags.begin(), tags.end(), value) != tags.end();
}

} // namespace

std::string_view to_string(rule_kind k) {
  switch (k) {
    case rule_kind::hide_category: return "hide_category";
    case rule_kind::hide_label: return "hide_label";
    case rule_kind::boost_label: return "boost_label";
    case rule_kind::boost_new: return "boost_new";
    case rule_kind::diversity: return "diversity";
  }
  return "hide_label";
}

std::variant<rule_set, parse_error> parse(std::string_view text) {
  if (text.size() > max_file_bytes)
    return parse_error{0, "the rules file has more than " + std::to_string(max_file_bytes) +
                            " bytes"};
  rule_set set;
  std::set<std::string, std::less<>> names;
  std::int32_t line_no = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    ++line_no;
    auto nl = text.find('\n', pos);
    auto line = trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    auto fail = [&](const std::string& what) {
      return parse_error{line_no, "line " + std::to_string(line_no) + ": " + what};
    };
    if (line.empty() || line.front() == '#')
      continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("expected 'NAME: RULE'");
    auto name = trim(line.substr(0, colon));
    if (!valid_name(name))
      return fail("a rule name has 1.." + std::to_string(max_name) +
                  " characters of A-Z a-z 0-9 _ . -");
    if (names.count(name) != 0)
      return fail("the rule name '" + std::string{name} + "' is used twice");
    auto parsed = parse_rule(line.substr(colon + 1));
    if (auto* what = std::get_if<std::string>(&parsed))
      return fail(*what);
    if (set.rules.size() >= max_rules)
      return fail("more than " + std::to_string(max_rules) + " rules");
    auto r = std::get<rule>(std::move(parsed));
    r.name = std::string{name};
    r.line = line_no;
    names.emplace(r.name);
    set.rules.push_back(std::move(r));
  }
  set.tag = set.rules.empty() ? 0 : std::max<std::uint64_t>(1, fnv1a(render(set)));
  return set;
}

std::string render(const rule& r) {
  std::string out = r.name + ": ";
  switch (r.kind) {
    case rule_kind::hide_category: return out + "hide category " + r.value;
    case rule_kind::hide_label: return out + "hide label " + r.value;
    case rule_kind::boost_label: return out + "boost label " + r.value + " x" + format_number(r.factor);
    case rule_kind::boost_new:
      return out + "boost new " + std::to_string(r.days) + " days x" + format_number(r.factor);
    case rule_kind::diversity:
      return out + "diversity " + std::to_string(r.per) + " per category in top " +
             std::to_string(r.top);
  }
  return out;
}

std::string render(const rule_set& set) {
  std::string out;
  for (const auto& r : set.rules)
    out += render(r) + "\n";
  return out;
}

std::vector<placed> apply(const rule_set& set, const filter& f, const std::vector<entry>& in,
                          unix_seconds now) {
  std::vector<placed> out;
  out.reserve(in.size());
  const bool needs_facts = !f.category.empty() || set.needs_facts();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& e = in[i];
    placed p{i, e.score, {}};
    if (!needs_facts) {
      out.push_back(std::move(p));
      continue;
    }
    if (e.facts == nullptr)
      continue;
    const auto& facts = *e.facts;
    if (!f.category.empty() && !matches(facts.categories, f.category))
      continue;
    bool hidden = false;
    for (std::size_t k = 0; k < set.rules.size() && !hidden; ++k) {
      const auto& r = set.rules[k];
      switch (r.kind) {
        case rule_kind::hide_category: hidden = matches(facts.categories, r.value); break;
        case rule_kind::hide_label: hidden = matches(facts.labels, r.value); break;
        case rule_kind::boost_label:
          if (matches(facts.labels, r.value)) {
            p.score *= r.factor;
            p.fired.push_back(static_cast<std::uint16_t>(k));
          }
          break;
        case rule_kind::boost_new:
          if (facts.created > 0 && now - facts.created < unix_seconds{r.days} * 86400 &&
              facts.created <= now) {
            p.score *= r.factor;
            p.fired.push_back(static_cast<std::uint16_t>(k));
          }
          break;
        case rule_kind::diversity: break;
      }
    }
    if (!hidden)
      out.push_back(std::move(p));
  }
  if (!set.needs_facts())
    return out;
  std::stable_sort(out.begin(), out.end(),
                   [](const placed& a, const placed& b) { return a.score > b.score; });
  for (std::size_t k = 0; k < set.rules.size(); ++k) {
    const auto& r = set.rules[k];
    if (r.kind != rule_kind::diversity)
      continue;
    const auto top = static_cast<std::size_t>(r.top);
    std::vector<placed> head, moved, tail;
    std::map<std::string_view, std::int32_t> per_category;
    for (auto& p : out) {
      if (head.size() >= top) {
        tail.push_back(std::move(p));
        continue;
      }
      const auto& categories = in[p.index].facts->categories;
      bool full = false;
      for (const auto& c : categories)
        if (per_category[c] >= r.per)
          full = true;
      if (full) {
        p.fired.push_back(static_cast<std::uint16_t>(k));
        moved.push_back(std::move(p));
        continue;
      }
      std::set<std::string_view> distinct(categories.begin(), categories.end());
      for (auto c : distinct)
        ++per_category[c];
      head.push_back(std::move(p));
    }
    out = std::move(head);
    for (auto* part : {&moved, &tail})
      for (auto& p : *part)
        out.push_back(std::move(p));
  }
  return out;
}

} // namespace recd::rules
