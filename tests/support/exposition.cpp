#include "support/exposition.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

namespace recd::test {

double scrape::value(const std::string& name, const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels)
      return s.value;
  return std::nan("");
}

std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx{suffix};
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      auto base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary"))
        return base;
    }
  }
  return name;
}

scrape parse_exposition(const std::string& text) {
  scrape out;
  static const std::regex name_re{"[a-zA-Z_:][a-zA-Z0-9_:]*"};
  static const std::regex label_name_re{"[a-zA-Z_][a-zA-Z0-9_]*"};
  std::set<std::string> closed; // families whose samples ended
  std::string current;
  std::set<std::string> seen_series;
  std::istringstream in{text};
  std::string line;
  int number = 0;
  auto problem = [&](const std::string& what) {
    out.problems.push_back("line " + std::to_string(number) + ": " + what + ": " + line);
  };
  while (std::getline(in, line)) {
    ++number;
    if (line.empty())
      continue;
    if (line.rfind("# ", 0) == 0) {
      std::istringstream words{line.substr(2)};
      std::string keyword, name, rest;
      words >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE")
        continue; // a comment
      if (!std::regex_match(name, name_re))
        problem("bad metric name");
      if (keyword == "TYPE") {
        words >> rest;
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
            rest != "untyped")
          problem("bad type");
        if (out.types.count(name))
          problem("second TYPE for " + name);
        out.types[name] = rest;
        if (rest == "counter" && (name.size() <= 6 || name.substr(name.size() - 6) != "_total"))
          problem("a counter not named *_total");
      }
      continue;
    }
    series s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, name_re))
      problem("bad sample name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          problem("bad label");
          break;
        }
        auto label = line.substr(i, eq - i);
        if (!std::regex_match(label, label_name_re))
          problem("bad label name");
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            ++j;
            if (j >= line.size() || (line[j] != '\\' && line[j] != '"' && line[j] != 'n'))
              problem("bad escape");
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) {
          problem("unterminated label value");
          break;
        }
        if (s.labels.count(label))
          problem("repeated label");
        s.labels[label] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',')
          ++i;
      }
      if (i >= line.size()) {
        problem("unterminated labels");
        continue;
      }
      ++i; // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      problem("no value");
      continue;
    }
    auto value_text = line.substr(i + 1);
    if (auto sp = value_text.find(' '); sp != std::string::npos)
      value_text = value_text.substr(0, sp); // an optional timestamp follows
    if (value_text == "+Inf")
      s.value = INFINITY;
    else if (value_text == "-Inf")
      s.value = -INFINITY;
    else if (value_text == "NaN")
      s.value = std::nan("");
    else {
      std::size_t used = 0;
      try {
        s.value = std::stod(value_text, &used);
      } catch (...) {
        used = 0;
      }
      if (used != value_text.size())
        problem("bad value");
    }
    auto family = family_of(s.name, out.types);
    if (!out.types.count(family))
      problem("sample before its TYPE");
    if (family != current) {
      if (closed.count(family))
        problem("family " + family + " interleaved with another");
      if (!current.empty())
        closed.insert(current);
      current = family;
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels)
      key += "|" + k + "=" + v;
    if (!seen_series.insert(key).second)
      problem("duplicate series");
    out.samples.push_back(std::move(s));
  }
  // Histograms: per label set (without le), buckets ascending and cumulative,
  // +Inf present and equal to _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram")
      continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;
    std::map<std::string, double> counts;
    for (const auto& s : out.samples) {
      auto labels = s.labels;
      labels.erase("le");
      std::string key;
      for (const auto& [k, v] : labels)
        key += k + "=" + v + ",";
      if (s.name == family + "_bucket") {
        auto le = s.labels.find("le");
        if (le == s.labels.end()) {
          out.problems.push_back(family + ": a bucket without le");
          continue;
        }
        buckets[key].emplace_back(le->second == "+Inf" ? INFINITY : std::stod(le->second), s.value);
      } else if (s.name == family + "_count") {
        counts[key] = s.value;
      }
    }
    for (auto& [key, list] : buckets) {
      std::sort(list.begin(), list.end());
      for (std::size_t k = 1; k < list.size(); ++k)
        if (list[k].second < list[k - 1].second)
          out.problems.push_back(family + "{" + key + "}: buckets not cumulative");
      if (list.empty() || !std::isinf(list.back().first))
        out.problems.push_back(family + "{" + key + "}: no +Inf bucket");
      else if (!counts.count(key) || counts[key] != list.back().second)
        out.problems.push_back(family + "{" + key + "}: +Inf bucket differs from _count");
    }
  }
  return out;
}

} // namespace recd::test
