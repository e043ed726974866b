#pragma once
// A reader of the Prometheus text exposition format 0.0.4 for the tests: it
// parses a scrape and lists every way the text breaks the format's rules, so
// a test can both read values and check the format of a real node's /metrics.

#include <map>
#include <string>
#include <vector>

namespace recd::test {

struct series {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct scrape {
  std::map<std::string, std::string> types; // family -> counter|gauge|histogram|...
  std::vector<series> samples;
  std::vector<std::string> problems;        // every violation of the format found

  // The value of the one sample with that name and labels; NaN if absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  bool has_family(const std::string& family) const { return types.count(family) != 0; }
};

// The family a sample name belongs to: a histogram's or summary's samples
// carry a _bucket, _sum or _count suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types);

// Parses a scrape and notes every line that breaks the format's rules:
// names and label syntax, escapes, values, TYPE before a family's samples,
// families not interleaved, no duplicate series, counters named *_total,
// histogram buckets cumulative with +Inf equal to _count.
scrape parse_exposition(const std::string& text);

} // namespace recd::test
